//! Query plans of the keys list (`queries/keys_list.sql`) for every filter shape and order: a
//! regular test that each shape is served in index order (no sort over the whole table),
//! and an ignored benchmark that seeds a million keys and reports each shape's time
//! (`scripts/bench-key-list.sh`).

use std::time::Duration;

use sqlx::PgPool;

use super::listing::{KeyCursor, KeyFilter, KeySort, SortColumn};
use super::store::LIST_SQL;

/// Seeds `n` keys over 10 keyspaces and 200 owners, with a realistic mix of states:
/// 2% disabled, 5% expired, 3% revoked, a third used in the last three hours.
async fn seed(pool: &PgPool, n: i64) {
    let statements = [
        "INSERT INTO users (email, password_hash, role)
         SELECT 'owner' || g || '@bench.test', 'not-a-hash', 'owner' FROM generate_series(1, 200) g"
            .to_owned(),
        "INSERT INTO keyspaces (name, prefix)
         SELECT 'Bench ' || g, 'bench' || g FROM generate_series(1, 10) g"
            .to_owned(),
        format!(
            "INSERT INTO keys (keyspace_id, owner_id, name, start, digest, enabled, expires_at,
                               revoked_at, created_at, last_used_at)
             SELECT ks.ids[1 + g % 10], us.ids[1 + g % 200],
                    'key ' || g || ' ' || md5(g::text),
                    'pay_' || lpad(to_hex(g % 65536), 4, '0'),
                    sha256(int8send(g)),
                    g % 50 <> 0,
                    CASE WHEN g % 20 = 0 THEN now() - interval '1 day'
                         WHEN g % 7 = 0 THEN now() + make_interval(days => 1 + g % 60) END,
                    CASE WHEN g % 33 = 0 THEN now() END,
                    now() - make_interval(secs => g),
                    CASE WHEN g % 3 = 0 THEN now() - make_interval(secs => g % 10800) END
             FROM generate_series(1, {n}) g,
                  (SELECT array_agg(id) AS ids FROM keyspaces) ks,
                  (SELECT array_agg(id) AS ids FROM users) us"
        ),
        "ANALYZE keys".to_owned(),
    ];
    for sql in statements {
        sqlx::raw_sql(&sql).execute(pool).await.expect("seed");
    }
}

/// A shape of the list: its name, whether it must be read in index order (no sort), and
/// the arguments of `list_keys` (now, keyspace, owner, status, name pattern, start
/// pattern, sort column, descending, cursor name, cursor time, cursor id, limit).
struct Shape {
    name: String,
    in_index_order: bool,
    args: String,
}

/// SQL literals of the cursor after the 500th key in `sort` order: name, time and id.
async fn cursor_500(pool: &PgPool, sort: KeySort) -> [String; 3] {
    let filter = KeyFilter {
        sort,
        ..KeyFilter::default()
    };
    let now = chrono::Utc::now();
    let rows = super::store::list(pool, &filter, None, 500, now)
        .await
        .expect("list");
    let last = rows.last().expect("500 keys").view(now);
    let c = KeyCursor::after(&last, sort);
    let lit = |v: Option<String>| v.map_or_else(|| "NULL".to_owned(), |v| format!("'{v}'"));
    [
        lit(c.text().map(str::to_owned)),
        lit(c.time().map(|t| t.to_rfc3339())),
        lit(Some(c.id().to_string())),
    ]
}

async fn shapes(pool: &PgPool) -> Vec<Shape> {
    let keyspace: String =
        sqlx::query_scalar("SELECT id::text FROM keyspaces ORDER BY name LIMIT 1")
            .fetch_one(pool)
            .await
            .expect("keyspace");
    let owner: String = sqlx::query_scalar("SELECT owner_id::text FROM keys LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("owner");
    let k = format!("'{keyspace}'");
    let o = format!("'{owner}'");
    let null = "NULL".to_owned();
    let first_page = [null.clone(), null.clone(), null.clone()];
    let newest = KeySort::default();
    let deep = cursor_500(pool, newest).await;
    let shape = |name: &str,
                 in_index_order: bool,
                 [k, o, s, n, st]: [&str; 5],
                 sort: KeySort,
                 [ct, ca, ci]: &[String; 3]| Shape {
        name: format!("{name}, {sort}"),
        in_index_order,
        args: format!(
            "now(), {k}, {o}, {s}, {n}, {st}, '{}', {}, {ct}, {ca}, {ci}, 51, false",
            sort.column.as_str(),
            sort.descending
        ),
    };
    let any = ["NULL"; 5];
    let mut shapes = vec![
        shape("everything, first page", true, any, newest, &first_page),
        shape("everything, page 11", true, any, newest, &deep),
        shape(
            "one keyspace",
            true,
            [&k, "NULL", "NULL", "NULL", "NULL"],
            newest,
            &first_page,
        ),
        shape(
            "one owner",
            true,
            ["NULL", &o, "NULL", "NULL", "NULL"],
            newest,
            &first_page,
        ),
        shape(
            "one owner, active, next page",
            true,
            ["NULL", &o, "'active'", "NULL", "NULL"],
            newest,
            &deep,
        ),
        shape(
            "search a name",
            false,
            ["NULL", "NULL", "NULL", "'%key 4242 %'", "'key 4242 %'"],
            newest,
            &first_page,
        ),
        // As `store::like_literal` escapes them: `_` is literal.
        shape(
            "search a start",
            false,
            ["NULL", "NULL", "NULL", r"'%pay\_00a1%'", r"'pay\_00a1%'"],
            newest,
            &first_page,
        ),
        shape(
            "one owner, sorted",
            false,
            ["NULL", &o, "NULL", "NULL", "NULL"],
            KeySort::natural(SortColumn::Name),
            &first_page,
        ),
    ];
    for status in ["active", "disabled", "expired", "revoked"] {
        let s = format!("'{status}'");
        shapes.push(shape(
            &format!("status {status}"),
            true,
            ["NULL", "NULL", &s, "NULL", "NULL"],
            newest,
            &first_page,
        ));
    }
    // The portal's default: live keys only (the partial index of migration 14), newest
    // first, on its first page and deep in the list.
    for (name, cursor) in [
        ("live keys, first page", &first_page),
        ("live keys, page 11", &deep),
    ] {
        let mut live = shape(name, true, any, newest, cursor);
        live.args = live.args.replacen(", 51, false", ", 51, true", 1);
        shapes.push(live);
    }
    // Every other order over every key, on its first page and deep in the list.
    for column in SortColumn::ALL {
        for sort in [
            KeySort::natural(column),
            KeySort::natural(column).reversed(),
        ] {
            if sort == newest {
                continue;
            }
            let deep = cursor_500(pool, sort).await;
            shapes.push(shape(
                "everything, first page",
                true,
                any,
                sort,
                &first_page,
            ));
            shapes.push(shape("everything, page 11", true, any, sort, &deep));
        }
    }
    shapes
}

async fn prepare(pool: &PgPool) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::raw_sql(&format!(
        "SET plan_cache_mode = force_custom_plan; \
         PREPARE list_keys(timestamptz, uuid, uuid, text, text, text, text, bool, text, timestamptz, uuid, bigint, bool) AS {LIST_SQL}"
    ))
    .execute(&mut *conn)
    .await
    .expect("prepare");
    conn
}

async fn plan(conn: &mut sqlx::PgConnection, args: &str, analyze: bool) -> Vec<String> {
    let options = if analyze { "ANALYZE, BUFFERS, " } else { "" };
    sqlx::query_scalar(&format!(
        "EXPLAIN ({options}COSTS OFF) EXECUTE list_keys({args})"
    ))
    .fetch_all(conn)
    .await
    .expect("explain")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_filter_shape_is_read_in_index_order(pool: PgPool) {
    seed(&pool, 20_000).await;
    let mut conn = prepare(&pool).await;
    for Shape {
        name,
        in_index_order,
        args,
    } in shapes(&pool).await
    {
        let lines = plan(&mut conn, &args, false).await;
        let text = lines.join("\n");
        assert!(
            !text.contains("Seq Scan on keys"),
            "{name}: a full scan\n{text}"
        );
        if in_index_order {
            assert!(
                !text.contains("Sort"),
                "{name}: sorts instead of reading in order\n{text}"
            );
        }
    }
}

/// `scripts/bench-key-list.sh`: seeds a million keys and prints each shape's time.
#[sqlx::test(migrator = "crate::db::MIGRATOR")]
#[ignore = "a benchmark: seeds 1,000,000 keys (run scripts/bench-key-list.sh)"]
async fn bench_list_at_one_million_keys(pool: PgPool) {
    let started = std::time::Instant::now();
    seed(&pool, 1_000_000).await;
    let seeded = started.elapsed();
    let mut conn = prepare(&pool).await;
    let mut report = format!(
        "keys list at 1,000,000 keys (seeded in {:.0} s); median of 7 runs, server-side execution time\n",
        seeded.as_secs_f64()
    );
    for Shape { name, args, .. } in shapes(&pool).await {
        let mut times = Vec::new();
        let mut top = String::new();
        for _ in 0..7 {
            let lines = plan(&mut conn, &args, true).await;
            let ms: f64 = lines
                .iter()
                .find_map(|l| l.strip_prefix("Execution Time: "))
                .and_then(|t| t.trim_end_matches(" ms").parse().ok())
                .unwrap_or(f64::NAN);
            times.push(Duration::from_secs_f64(ms / 1000.0));
            top = lines
                .iter()
                .map(|l| l.trim())
                .filter(|l| l.contains("Scan") && l.contains("keys"))
                .collect::<Vec<_>>()
                .join(" + ");
        }
        times.sort();
        report.push_str(&format!(
            "| {name:<30} | {:>8.3} ms | {top}\n",
            times[times.len() / 2].as_secs_f64() * 1000.0
        ));
    }
    tracing::info!("{report}");
    #[expect(clippy::print_stdout, reason = "the benchmark's report")]
    {
        println!("{report}");
    }
}
