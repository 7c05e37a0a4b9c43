//! The binary refuses bad configuration with a message naming the setting.

use std::process::Command;

fn run(env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("locksmith runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_port_stops_start_up_naming_the_setting() {
    let (code, stderr) = run(&[("LOCKSMITH_PORT", "99999")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("LOCKSMITH_PORT"), "{stderr}");
}

#[test]
fn a_malformed_database_url_stops_start_up_without_echoing_it() {
    let (code, stderr) = run(&[("DATABASE_URL", "postgres://user:s3cr3t@host:notaport/db")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn a_redis_url_that_is_not_redis_stops_start_up_without_echoing_it() {
    let (code, stderr) = run(&[("LOCKSMITH_REDIS_URL", "http://user:s3cr3t@cache:6379")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("LOCKSMITH_REDIS_URL"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn production_without_secrets_stops_start_up() {
    let (code, stderr) = run(&[("LOCKSMITH_PROFILE", "production")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("LOCKSMITH_JWT_SECRET"), "{stderr}");
}

#[test]
fn an_unreachable_database_fails_after_the_retry_budget() {
    let (code, stderr) = run(&[
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing"),
        ("LOCKSMITH_DB_STARTUP_TIMEOUT_SECS", "1"),
        ("LOCKSMITH_LOG", "off"),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("database unreachable after"), "{stderr}");
}

#[test]
fn a_misspelt_setting_stops_start_up_naming_the_closest_one() {
    let (code, stderr) = run(&[("LOCKSMITH_LOCKOUT_FAILURE", "3")]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "LOCKSMITH_LOCKOUT_FAILURE is not a setting; did you mean LOCKSMITH_LOCKOUT_FAILURES?"
        ),
        "{stderr}"
    );
}

/// SIGHUP re-reads the config file: what can change changes at once (here the trusted
/// proxies, seen in the audit trail's addresses), what cannot is named, and an invalid
/// file changes nothing.
#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn sighup_reloads_what_it_can_and_names_the_rest(pool: sqlx::PgPool) {
    use std::time::Duration;

    use locksmith_core::identity::Role;

    use crate::helpers::{PASSWORD, create_user};
    use crate::process::Server;

    create_user(&pool, "ada@example.com", Role::Owner).await;
    let url = crate::helpers::database_url(&pool).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("locksmith.toml");
    std::fs::write(&file, "request_timeout_secs = 30\n").expect("written");
    let file_arg = file.display().to_string();
    let server = Server::start(
        &[
            &[
                ("DATABASE_URL", url.as_str()),
                ("LOCKSMITH_CONFIG", file_arg.as_str()),
            ][..],
            &crate::helpers::TEST_SECRETS,
        ]
        .concat(),
        &[],
    );
    let sign_in = || async {
        let res = reqwest::Client::new()
            .post(server.url("/v1/auth/token"))
            .header("x-forwarded-for", "203.0.113.9")
            .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT source_ip FROM audit_log WHERE action = 'user.login' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .expect("a login row")
    };
    assert_eq!(
        sign_in().await.as_deref(),
        Some("127.0.0.1"),
        "not trusted yet"
    );

    std::fs::write(
        &file,
        "request_timeout_secs = 31\ntrusted_proxies = \"127.0.0.1/32\"\n",
    )
    .expect("written");
    server.hangup();
    let reloaded = server.wait_for_log("settings reloaded", Duration::from_secs(10));
    assert!(
        reloaded["changed"]
            .as_str()
            .is_some_and(|c| c.contains("LOCKSMITH_TRUSTED_PROXIES")),
        "{reloaded}"
    );
    let restart = server.wait_for_log("only after a restart", Duration::from_secs(10));
    assert!(
        restart["settings"]
            .as_str()
            .is_some_and(|c| c.contains("LOCKSMITH_REQUEST_TIMEOUT_SECS")),
        "{restart}"
    );
    assert_eq!(
        sign_in().await.as_deref(),
        Some("203.0.113.9"),
        "the proxy is trusted from now on"
    );

    std::fs::write(&file, "trusted_proxy = \"127.0.0.1/32\"\n").expect("written");
    server.hangup();
    let refused = server.wait_for_log("nothing was changed", Duration::from_secs(10));
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("did you mean `trusted_proxies`")),
        "{refused}"
    );
    assert_eq!(
        sign_in().await.as_deref(),
        Some("203.0.113.9"),
        "still trusted"
    );
    server.terminate();
}
