//! Query plans of the keys list (`queries/keys_list.sql`) for every filter shape: a
//! regular test that each shape is served in index order (no sort over the whole table),
//! and an ignored benchmark that seeds a million keys and reports each shape's time
//! (`scripts/bench-key-list.sh`).

use std::time::Duration;

use sqlx::PgPool;

use super::store::LIST_SQL;

/// Seeds `n` keys over 10 keyspaces and 200 owners, with a realistic mix of states:
/// 2% disabled, 5% expired, 3% revoked.
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
                               revoked_at, created_at)
             SELECT ks.ids[1 + g % 10], us.ids[1 + g % 200],
                    'key ' || g || ' ' || md5(g::text),
                    'pay_' || lpad(to_hex(g % 65536), 4, '0'),
                    sha256(int8send(g)),
                    g % 50 <> 0,
                    CASE WHEN g % 20 = 0 THEN now() - interval '1 day'
                         WHEN g % 7 = 0 THEN now() + interval '30 days' END,
                    CASE WHEN g % 33 = 0 THEN now() END,
                    now() - make_interval(secs => g)
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

/// Each shape: a name and the arguments of `list_keys`
/// (now, keyspace, owner, status, name pattern, start pattern, cursor at, cursor id, limit).
async fn shapes(pool: &PgPool) -> Vec<(&'static str, String)> {
    let keyspace: String =
        sqlx::query_scalar("SELECT id::text FROM keyspaces ORDER BY name LIMIT 1")
            .fetch_one(pool)
            .await
            .expect("keyspace");
    let owner: String = sqlx::query_scalar("SELECT owner_id::text FROM keys LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("owner");
    let (at, id): (String, String) = sqlx::query_as(
        "SELECT created_at::text, id::text FROM keys ORDER BY created_at DESC, id DESC OFFSET 500 LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .expect("cursor");
    let q = |k: &str, o: &str, s: &str, name: &str, start: &str, c: (&str, &str)| {
        format!(
            "now(), {k}, {o}, {s}, {name}, {start}, {}, {}, 51",
            c.0, c.1
        )
    };
    let k = format!("'{keyspace}'");
    let o = format!("'{owner}'");
    let c = (format!("'{at}'"), format!("'{id}'"));
    let none = ("NULL", "NULL");
    vec![
        (
            "everything, first page",
            q("NULL", "NULL", "NULL", "NULL", "NULL", none),
        ),
        (
            "everything, page 11",
            q("NULL", "NULL", "NULL", "NULL", "NULL", (&c.0, &c.1)),
        ),
        ("one keyspace", q(&k, "NULL", "NULL", "NULL", "NULL", none)),
        ("one owner", q("NULL", &o, "NULL", "NULL", "NULL", none)),
        (
            "one owner, active, next page",
            q("NULL", &o, "'active'", "NULL", "NULL", (&c.0, &c.1)),
        ),
        (
            "status active",
            q("NULL", "NULL", "'active'", "NULL", "NULL", none),
        ),
        (
            "status disabled",
            q("NULL", "NULL", "'disabled'", "NULL", "NULL", none),
        ),
        (
            "status revoked",
            q("NULL", "NULL", "'revoked'", "NULL", "NULL", none),
        ),
        (
            "status expired",
            q("NULL", "NULL", "'expired'", "NULL", "NULL", none),
        ),
        (
            "search a name",
            q(
                "NULL",
                "NULL",
                "NULL",
                "'%key 4242 %'",
                "'key 4242 %'",
                none,
            ),
        ),
        // As `store::list` escapes them: `_` is literal.
        (
            "search a start",
            q(
                "NULL",
                "NULL",
                "NULL",
                r"'%pay\_00a1%'",
                r"'pay\_00a1%'",
                none,
            ),
        ),
    ]
}

async fn prepare(pool: &PgPool) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::raw_sql(&format!(
        "SET plan_cache_mode = force_custom_plan; \
         PREPARE list_keys(timestamptz, uuid, uuid, text, text, text, timestamptz, uuid, bigint) AS {LIST_SQL}"
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
    for (name, args) in shapes(&pool).await {
        let lines = plan(&mut conn, &args, false).await;
        let text = lines.join("\n");
        assert!(
            !text.contains("Seq Scan on keys"),
            "{name}: a full scan\n{text}"
        );
        if !name.starts_with("search") {
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
    for (name, args) in shapes(&pool).await {
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
