//! Loading settings: defaults, names in errors, secrets, files and the environment.

use super::*;

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_env_pairs(pairs.iter().copied())
}

fn err(pairs: &[(&str, &str)]) -> String {
    match load(pairs) {
        Ok(_) => panic!("expected an error for {pairs:?}"),
        Err(e) => e.to_string(),
    }
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn defaults_are_development_on_localhost_3000_with_embedded_database() {
    let s = load(&[]).expect("defaults load");
    assert_eq!(s.profile, Profile::Development);
    assert_eq!(s.listen, "127.0.0.1:3000".parse().expect("addr"));
    assert!(s.uses_embedded_database());
    assert!(matches!(s.secrets.jwt_secret, SecretSource::Generate));
    assert!(!s.http.cookie_secure);
    assert_eq!(s.log_format, LogFormat::Text);
}

#[test]
fn a_bad_port_names_the_setting() {
    let msg = err(&[("LOCKSMITH_PORT", "70000")]);
    assert!(msg.contains("LOCKSMITH_PORT"), "{msg}");
    let msg = err(&[("LOCKSMITH_PORT", "http")]);
    assert!(msg.contains("LOCKSMITH_PORT"), "{msg}");
}

#[test]
fn a_bad_host_names_the_setting() {
    assert!(err(&[("LOCKSMITH_HOST", "not an ip")]).contains("LOCKSMITH_HOST"));
}

#[test]
fn a_malformed_database_url_is_named_but_not_echoed() {
    let msg = err(&[("DATABASE_URL", "mysql://user:hunter2@db/x")]);
    assert!(msg.contains("DATABASE_URL"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let msg = err(&[("DATABASE_URL", "not a url hunter2")]);
    assert!(
        msg.contains("DATABASE_URL") && !msg.contains("hunter2"),
        "{msg}"
    );
}

#[test]
fn a_valid_database_url_turns_off_the_embedded_database() {
    let s = load(&[("DATABASE_URL", "postgres://u:p@localhost:5432/db")]).expect("loads");
    assert!(!s.uses_embedded_database());
    assert!(s.database.connect_options().is_some());
}

#[test]
fn a_malformed_public_url_names_the_setting() {
    assert!(err(&[("LOCKSMITH_PUBLIC_URL", "ftp://x")]).contains("LOCKSMITH_PUBLIC_URL"));
    assert!(err(&[("LOCKSMITH_PUBLIC_URL", "::")]).contains("LOCKSMITH_PUBLIC_URL"));
}

#[test]
fn an_unknown_profile_lists_the_allowed_ones() {
    let msg = err(&[("LOCKSMITH_PROFILE", "staging")]);
    assert!(
        msg.contains("LOCKSMITH_PROFILE") && msg.contains("production"),
        "{msg}"
    );
}

#[test]
fn production_requires_every_secret() {
    let msg = err(&[
        ("LOCKSMITH_PROFILE", "production"),
        ("LOCKSMITH_COOKIE_SECURE", "true"),
    ]);
    assert!(msg.contains("LOCKSMITH_JWT_SECRET"), "{msg}");
    let msg = err(&[
        ("LOCKSMITH_PROFILE", "production"),
        ("LOCKSMITH_JWT_SECRET", SECRET),
        ("LOCKSMITH_SESSION_SECRET", SECRET),
    ]);
    assert!(msg.contains("LOCKSMITH_KEY_PEPPER"), "{msg}");
}

#[test]
fn production_refuses_plain_http_cookies_unless_allowed() {
    let base = [
        ("LOCKSMITH_PROFILE", "production"),
        ("LOCKSMITH_JWT_SECRET", SECRET),
        ("LOCKSMITH_SESSION_SECRET", SECRET),
        ("LOCKSMITH_KEY_PEPPER", SECRET),
    ];
    let s = load(&base).expect("production with secrets loads");
    assert!(
        s.http.cookie_secure,
        "secure cookies are the production default"
    );
    let mut insecure = base.to_vec();
    insecure.push(("LOCKSMITH_COOKIE_SECURE", "false"));
    assert!(err(&insecure).contains("LOCKSMITH_COOKIE_SECURE"));
    insecure.push(("LOCKSMITH_ALLOW_INSECURE_COOKIES", "true"));
    assert!(
        !load(&insecure)
            .expect("explicitly allowed")
            .http
            .cookie_secure
    );
}

#[test]
fn secrets_that_look_like_numbers_stay_strings() {
    let digits = "12345678901234567890123456789012";
    let s = load(&[
        ("LOCKSMITH_JWT_SECRET", digits),
        (
            "LOCKSMITH_SESSION_SECRET",
            "1234e5678901234567890123456789012",
        ),
    ])
    .expect("numeric-looking secrets load");
    match s.secrets.jwt_secret {
        SecretSource::Provided(v) => assert_eq!(v.expose_secret(), digits),
        SecretSource::Generate => panic!("expected the given secret"),
    }
}

#[test]
fn short_secrets_are_refused() {
    assert!(err(&[("LOCKSMITH_JWT_SECRET", "short")]).contains("LOCKSMITH_JWT_SECRET"));
}

#[test]
fn secrets_are_read_from_files_without_the_trailing_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pepper");
    std::fs::write(&path, format!("{SECRET}\n")).expect("write");
    let s = load(&[("LOCKSMITH_KEY_PEPPER_FILE", path.to_str().expect("utf8"))]).expect("loads");
    match s.secrets.key_pepper {
        SecretSource::Provided(v) => assert_eq!(v.expose_secret(), SECRET),
        SecretSource::Generate => panic!("expected the file's secret"),
    }
}

#[test]
fn a_secret_and_its_file_together_are_refused() {
    let msg = err(&[
        ("LOCKSMITH_JWT_SECRET", SECRET),
        ("LOCKSMITH_JWT_SECRET_FILE", "/x"),
    ]);
    assert!(msg.contains("LOCKSMITH_JWT_SECRET_FILE"), "{msg}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let s = load(&[("LOCKSMITH_JWT_SECRET", SECRET)]).expect("loads");
    assert!(!format!("{s:?}").contains(SECRET));
}

#[test]
fn cors_origins_are_validated() {
    let s = load(&[(
        "LOCKSMITH_CORS_ALLOWED_ORIGINS",
        "https://a.example, http://localhost:8080",
    )])
    .expect("loads");
    assert_eq!(
        s.http.cors_allowed_origins,
        ["https://a.example", "http://localhost:8080"]
    );
    assert!(
        err(&[("LOCKSMITH_CORS_ALLOWED_ORIGINS", "https://a.example/path")])
            .contains("LOCKSMITH_CORS_ALLOWED_ORIGINS")
    );
}

#[test]
fn a_config_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locksmith.toml");
    std::fs::write(&path, "port = 4000\nrequest_timeout_secs = 7\n").expect("write");
    let fig = figment(Some(&path)).expect("file exists");
    let s = Settings::from_figment(&fig).expect("loads");
    assert_eq!(s.listen.port(), 4000);
    assert_eq!(s.http.request_timeout, Duration::from_secs(7));
    let s = Settings::from_figment(&fig.merge(("port", 4001))).expect("loads");
    assert_eq!(s.listen.port(), 4001);
}

#[test]
fn a_missing_config_file_is_an_error() {
    let msg = figment(Some(Path::new("/nonexistent/locksmith.toml")))
        .expect_err("missing file")
        .to_string();
    assert!(msg.contains("LOCKSMITH_CONFIG"), "{msg}");
}

#[test]
fn a_bad_log_filter_names_the_setting() {
    assert!(err(&[("LOCKSMITH_LOG", "info,[[[")]).contains("LOCKSMITH_LOG"));
}

#[test]
fn trusted_proxies_are_networks_or_addresses() {
    let s = load(&[("LOCKSMITH_TRUSTED_PROXIES", "10.1.2.3/8, 192.168.1.10, ::1")]).expect("loads");
    let nets: Vec<String> = s
        .http
        .trusted_proxies
        .networks()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.10/32", "::1/128"]);
    assert!(
        load(&[])
            .expect("loads")
            .http
            .trusted_proxies
            .networks()
            .is_empty()
    );
    use crate::http::client_address::ForwardedHeader;
    assert_eq!(
        s.http.trusted_proxies.header(),
        ForwardedHeader::XForwardedFor
    );
    let forwarded = load(&[("LOCKSMITH_FORWARDED_HEADER", "forwarded")]).expect("loads");
    assert_eq!(
        forwarded.http.trusted_proxies.header(),
        ForwardedHeader::Forwarded
    );
    let msg = err(&[("LOCKSMITH_FORWARDED_HEADER", "x-real-ip")]);
    assert!(
        msg.contains("LOCKSMITH_FORWARDED_HEADER") && msg.contains("x-forwarded-for"),
        "{msg}"
    );
    let msg = err(&[("LOCKSMITH_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local")]);
    assert!(
        msg.contains("LOCKSMITH_TRUSTED_PROXIES") && msg.contains("proxy.local"),
        "{msg}"
    );
}

#[test]
fn a_misspelt_variable_stops_start_up_naming_the_closest_setting() {
    let msg = err(&[("LOCKSMITH_TRUSTED_PROXY", "10.0.0.0/8")]);
    assert_eq!(
        msg,
        "invalid configuration: LOCKSMITH_TRUSTED_PROXY is not a setting; did you mean \
         LOCKSMITH_TRUSTED_PROXIES?"
    );
    let msg = err(&[("LOCKSMITH_FLUX_CAPACITOR", "1")]);
    assert!(
        msg.contains("LOCKSMITH_FLUX_CAPACITOR is not a setting"),
        "{msg}"
    );
    assert!(!msg.contains("did you mean"), "{msg}");
    // The scripts' and the portal examples' own variables are not settings to check.
    load(&[
        ("LOCKSMITH_API_KEY", "pay_x"),
        ("LOCKSMITH_E2E_PORT", "3000"),
        ("LOCKSMITH_CONFIG", "/etc/locksmith.toml"),
    ])
    .expect("loads");
}

#[test]
fn a_misspelt_file_key_stops_start_up_naming_the_closest_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locksmith.toml");
    std::fs::write(&path, "port = 4000\nrequest_timeout_sec = 7\n").expect("write");
    let msg = figment(Some(&path)).expect_err("unknown key").to_string();
    assert!(
        msg.contains(
            "`request_timeout_sec` is not a setting; did you mean `request_timeout_secs`?"
        ),
        "{msg}"
    );
}

#[test]
fn every_variable_the_example_file_names_is_a_setting() {
    let example = include_str!("../../../.env.example");
    let names: Vec<&str> = example
        .lines()
        .map(|l| l.trim_start_matches(['#', ' ']))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .filter(|name| name.starts_with("LOCKSMITH_") || name.starts_with("DATABASE_URL"))
        .collect();
    assert!(names.len() > 30, "{names:?}");
    super::sources::refuse_unknown_env(names.iter().copied()).expect("all known");
}
