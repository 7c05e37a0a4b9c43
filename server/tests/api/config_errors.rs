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
