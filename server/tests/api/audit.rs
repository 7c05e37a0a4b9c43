//! The audit trail: a row per mutation carrying the response's request id, no secrets,
//! filters, append-only in the database, and a chain that exposes tampering.

use locksmith_core::identity::Role;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, create_user, database_url};

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn every_user_mutation_is_audited_with_the_responses_request_id(pool: PgPool) {
    let admin_id = create_user(&pool, "admin@example.com", Role::Admin).await;
    let app = TestApp::spawn(pool).await;
    let admin = app.bearer("admin@example.com").await;

    let res = app
        .with(Method::POST, "/v1/users", &admin)
        .json(&json!({ "email": "grace@example.com", "password": PASSWORD, "role": "owner" }))
        .send()
        .await
        .expect("sent");
    let create_rid = res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let user: serde_json::Value = res.json().await.expect("json");
    let id = user["id"].as_str().expect("id");
    let res = app
        .with(Method::PATCH, &format!("/v1/users/{id}"), &admin)
        .json(&json!({ "role": "auditor" }))
        .send()
        .await
        .expect("sent");
    let update_rid = res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();

    let page: serde_json::Value = app
        .get_json(&format!("/v1/audit?target_id={id}"), &admin)
        .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{page}");
    let (update, create) = (&items[0], &items[1]);
    assert_eq!(create["action"], "user.create");
    assert_eq!(create["request_id"], create_rid.as_str());
    assert_eq!(create["actor_id"], admin_id.to_string());
    assert_eq!(create["source_ip"], "127.0.0.1");
    assert_eq!(create["after"]["email"], "grace@example.com");
    assert_eq!(update["action"], "user.update");
    assert_eq!(update["request_id"], update_rid.as_str());
    assert_eq!(
        (
            update["before"]["role"].as_str(),
            update["after"]["role"].as_str()
        ),
        (Some("owner"), Some("auditor"))
    );
    for field in [
        "id",
        "at",
        "actor_id",
        "action",
        "target_type",
        "target_id",
        "source_ip",
        "request_id",
        "before",
        "after",
        "hash",
    ] {
        assert!(create.get(field).is_some(), "entry lacks {field}");
    }
    let text = page.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2"),
        "no secret or hash in audit rows"
    );

    let filtered: serde_json::Value = app.get_json("/v1/audit?action=user.update", &admin).await;
    assert!(
        filtered["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["action"] == "user.update")
    );
    let bad = app
        .with(Method::GET, "/v1/audit?from=yesterday", &admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_database_refuses_to_change_history(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    for statement in [
        "UPDATE audit_log SET action = 'user.delete'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(statement)
            .execute(&pool)
            .await
            .expect_err(statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn verification_finds_the_first_row_edited_behind_the_applications_back(pool: PgPool) {
    for i in 0..5 {
        create_user(&pool, &format!("user{i}@example.com"), Role::Owner).await;
    }
    let report = locksmith_core::audit::AuditService::new(pool.clone())
        .verify(locksmith_core::identity::Actor::SYSTEM)
        .await
        .expect("verify");
    assert_eq!((report.checked, report.first_broken), (5, None));

    let third: i64 = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id OFFSET 2 LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("id");
    // A database superuser can switch the guard off; the chain still gives it away.
    sqlx::raw_sql(&format!(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
         UPDATE audit_log SET after = jsonb_set(after, '{{role}}', '\"admin\"') WHERE id = {third};
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;"
    ))
    .execute(&pool)
    .await
    .expect("tamper");
    let report = locksmith_core::audit::AuditService::new(pool.clone())
        .verify(locksmith_core::identity::Actor::SYSTEM)
        .await
        .expect("verify");
    assert_eq!((report.checked, report.first_broken), (2, Some(third)));
}

fn locksmith(url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    crate::process::run(args, &[("DATABASE_URL", url)], &[], stdin)
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_command_line_creates_the_first_admin_and_verifies_the_chain(pool: PgPool) {
    let url = database_url(&pool).await;
    let out = locksmith(
        &url,
        &[
            "user",
            "create",
            "--email",
            "first@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "prints the id: {id}");

    let app = TestApp::spawn(pool.clone()).await;
    let me: serde_json::Value = app
        .get_json("/v1/me", &app.bearer("first@example.com").await)
        .await;
    assert_eq!(
        (me["id"].as_str(), me["role"].as_str()),
        (Some(id.as_str()), Some("admin"))
    );

    let weak = locksmith(
        &url,
        &[
            "user",
            "create",
            "--email",
            "second@example.com",
            "--role",
            "owner",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password:"));

    let ok = locksmith(&url, &["audit", "verify"], "");
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));

    sqlx::raw_sql(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
         UPDATE audit_log SET request_id = 'forged';
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;",
    )
    .execute(&pool)
    .await
    .expect("tamper");
    let broken = locksmith(&url, &["audit", "verify"], "");
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("audit chain broken at row"));
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn sign_ins_can_be_hidden_and_each_entry_names_its_predecessor(pool: PgPool) {
    create_user(&pool, "admin@audit.test", Role::Admin).await;
    let app = TestApp::spawn(pool).await;
    let admin = app.bearer("admin@audit.test").await;
    assert_eq!(
        app.send_status(
            Method::POST,
            "/v1/users",
            &admin,
            &json!({ "email": "o@audit.test", "password": PASSWORD, "role": "owner" })
        )
        .await,
        201
    );
    let actions = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["action"].as_str().expect("action").to_owned())
            .collect()
    };
    let all = app.get_json("/v1/audit", &admin).await;
    assert!(actions(&all).iter().any(|a| a == "user.login"), "{all}");
    let items = all["items"].as_array().expect("items");
    for pair in items.windows(2) {
        // Newest first, no filter: each entry covers the hash of the one below it.
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "{all}");
    }
    let hidden = app.get_json("/v1/audit?hide_sign_ins=true", &admin).await;
    assert!(
        !actions(&hidden)
            .iter()
            .any(|a| a == "user.login" || a == "user.logout")
    );
    assert!(
        actions(&hidden).iter().any(|a| a == "user.create"),
        "{hidden}"
    );
}
