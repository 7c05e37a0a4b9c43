//! Email notifications through a real SMTP server on localhost (Python's aiosmtpd,
//! installed by scripts/test.sh into a venv named by LOCKSMITH_TEST_SMTPD_PYTHON).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::KeyWorld;

/// aiosmtpd storing what it receives in a Maildir, until dropped.
struct Smtpd {
    port: u16,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl Smtpd {
    async fn start() -> Self {
        let python =
            std::env::var("LOCKSMITH_TEST_SMTPD_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("maildir");
        let child = tokio::process::Command::new(&python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.path().join("mail"))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} -m aiosmtpd (run scripts/test.sh, which installs it): {e}")
            });
        // Ready when it accepts connections.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { port, dir, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("mail").join("new");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(Path::new(f)).ok())
            .collect()
    }

    /// Waits until `n` messages arrived (up to 30 s).
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..600 {
            let found = self.messages();
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} emails did not arrive: {:?}", self.messages());
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The decoded text of a message (headers unfolded, quoted-printable undone enough to
/// search: soft line breaks joined).
fn text(message: &str) -> String {
    message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("\r\n ", " ")
        .replace("\n ", " ")
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn owners_are_emailed_what_happens_to_their_keys_unless_they_opted_out(pool: PgPool) {
    use locksmith_core::lifecycle::{DEFAULT_EXPIRY_REMINDERS, Lifecycle};
    let smtpd = Smtpd::start().await;
    let url = smtpd.url();
    let w = KeyWorld::with_settings(
        pool.clone(),
        &[
            ("LOCKSMITH_SMTP_URL", url.as_str()),
            ("LOCKSMITH_PUBLIC_URL", "https://keys.example.com"),
        ],
    )
    .await;
    // Bob opts out; the preference says emails are available.
    let prefs = w.app.get_json("/v1/me/notifications", &w.bob).await;
    assert_eq!(prefs, json!({ "email": true, "available": true }));
    let (status, prefs) = w
        .app
        .send_json(
            Method::PUT,
            "/v1/me/notifications",
            &w.bob,
            &json!({ "email": false }),
        )
        .await;
    assert_eq!(status, 200, "{prefs}");
    assert_eq!(prefs["email"], false);
    let problem = w
        .app
        .refused(
            Method::PUT,
            "/v1/me/notifications",
            &w.bob,
            Some(&json!({ "email": "no" })),
            400,
        )
        .await;
    assert!(problem["detail"].as_str().is_some());

    // An admin revokes a key of Alice's and one of Bob's; Alice revokes one herself.
    let revoked_by_admin = w.key(&w.alice, json!({ "name": "alice billing" })).await;
    let hers = w.key(&w.alice, json!({ "name": "alice own" })).await;
    let bobs = w.key(&w.bob, json!({ "name": "bob billing" })).await;
    for (key, token) in [
        (&revoked_by_admin, &w.admin),
        (&hers, &w.alice),
        (&bobs, &w.admin),
    ] {
        let id = key["id"].as_str().expect("id");
        let (status, body) = w
            .app
            .post_json(
                &format!("/v1/keys/{id}/revoke"),
                token,
                &json!({ "reason": "rotating vendors" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // And a key of Alice's comes within 7 days of its expiry.
    let now = chrono::Utc::now();
    let expiring = w
        .key(&w.admin, json!({ "name": "alice nightly", "owner_id": w.alice_id, "expires_at": (now + chrono::Duration::days(10)).to_rfc3339() }))
        .await;
    Lifecycle::new(pool.clone(), &DEFAULT_EXPIRY_REMINDERS)
        .check(now + chrono::Duration::days(3) + chrono::Duration::minutes(1))
        .await
        .expect("check");

    let mail = smtpd.wait_for(2).await;
    let texts: Vec<String> = mail.iter().map(|m| text(m)).collect();
    let revoked = texts
        .iter()
        .find(|t| t.contains("was revoked"))
        .expect("the revocation email");
    assert!(revoked.contains("To: alice@keys.test"), "{revoked}");
    assert!(
        revoked.contains("alice billing") && revoked.contains("rotating vendors"),
        "{revoked}"
    );
    assert!(revoked.contains(&format!(
        "https://keys.example.com/keys/{}",
        revoked_by_admin["id"].as_str().expect("id")
    )));
    assert!(
        !revoked.contains(revoked_by_admin["key"].as_str().expect("secret")),
        "no secret in an email"
    );
    let reminder = texts
        .iter()
        .find(|t| t.contains("expires in 7 days"))
        .expect("the reminder");
    assert!(
        reminder.contains("To: alice@keys.test") && reminder.contains("alice nightly"),
        "{reminder}"
    );
    assert!(reminder.contains(expiring["id"].as_str().expect("id")));
    // Nothing else was queued: not Alice's own revocation, nothing for Bob.
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(queued, 2);
    assert_eq!(smtpd.messages().len(), 2);
    let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = 'sent'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(sent, 2);
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn a_leaked_key_is_emailed_to_its_owner_and_every_admin(pool: PgPool) {
    let smtpd = Smtpd::start().await;
    let url = smtpd.url();
    let w = KeyWorld::with_settings(pool.clone(), &[("LOCKSMITH_SMTP_URL", url.as_str())]).await;
    let key = w.key(&w.alice, json!({ "name": "alice checkout" })).await;
    let reporter = w.leak_reporter().await;
    let token = reporter["token"].as_str().expect("token");
    w.report_leak(token, &key, "https://paste.example/raw/9")
        .await;

    let mail = smtpd.wait_for(2).await;
    let texts: Vec<String> = mail.iter().map(|m| text(m)).collect();
    for to in ["To: alice@keys.test", "To: admin@keys.test"] {
        let message = texts
            .iter()
            .find(|t| t.contains(to))
            .unwrap_or_else(|| panic!("no email {to}: {texts:?}"));
        assert!(message.contains("was found published"), "{message}");
        assert!(message.contains("alice checkout"), "{message}");
        assert!(message.contains("https://paste.example/raw/9"), "{message}");
        assert!(message.contains("Rotate it now"), "{message}");
        assert!(
            !message.contains(key["key"].as_str().expect("secret")),
            "no secret in an email"
        );
    }
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(queued, 2, "not the auditor, not Bob");
}
