//! Leaked keys: reports from GitHub secret scanning (`POST /v1/leaks/github`, signed,
//! see [`github`]) and from any other scanner or person holding a leak-reporter token
//! (`POST /v1/leaks`, see [`reporters`]).
//!
//! A reported string that is a live key of this installation becomes a `leaked` finding
//! on it: audited, announced as `key.leaked`, and met by its keyspace's leak policy
//! (notify, disable or revoke). Every reported string gets a label: `true_positive` for
//! a key this installation issued, `false_positive` for anything else (a look-alike whose
//! checksum fails, an unknown key). The answer says nothing more; reported strings are
//! never stored, only the SHA-256 the answer names them by.

pub mod github;
pub mod reporters;

use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Action, NewEntry, Origin};
use crate::error::Result;
use crate::events::Event;
use crate::findings::record::{self, Recording};
use crate::findings::{FindingKind, LeakAction, NewFinding, Severity};
use crate::keys::digest::KeyHasher;
use crate::keys::format;
use crate::keys::model::KeyStatus;
use crate::keys::policy::Actor;
use crate::keys::service::contain::Containment;
use crate::keys::{keyspace_store, store};
pub use github::{GithubKeys, KeySource, SignatureError};
pub use reporters::{CreatedLeakReporter, LeakReporter, REPORTER_PREFIX};

/// Most items in one report through `POST /v1/leaks`.
pub const MAX_ITEMS: usize = 100;
/// Longest URL or source kept of a report, in characters (`POST /v1/leaks` refuses
/// longer ones; GitHub's are cut).
pub const MAX_NOTE: usize = 2000;

/// One reported string.
#[derive(Debug, Clone)]
pub struct ReportedLeak {
    /// The string found.
    pub token: secrecy::SecretString,
    /// Where it was found.
    pub url: Option<String>,
    /// The kind of place (`content`, `commit`, …).
    pub source: Option<String>,
}

/// Who reported.
#[derive(Debug, Clone)]
pub enum Reporter {
    /// GitHub secret scanning (a signed alert).
    Github,
    /// A leak-reporter token.
    Token(LeakReporter),
}

impl Reporter {
    /// As recorded: `github`, or `reporter:<name>`.
    pub fn name(&self) -> String {
        match self {
            Reporter::Github => "github".to_owned(),
            Reporter::Token(r) => format!("reporter:{}", r.name),
        }
    }
}

/// Whether a reported string is a key of this installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A key this installation issued.
    TruePositive,
    /// Anything else.
    FalsePositive,
}

/// The answer about one reported string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeakVerdict {
    /// Hex SHA-256 of the reported string: how the reporter recognises it.
    pub token_hash: String,
    pub label: Label,
}

/// Hex SHA-256 of `token`.
pub fn token_hash(token: &str) -> String {
    crate::audit::chain::hex(&Sha256::digest(token.as_bytes()))
}

/// A reported note (URL, source): control characters dropped, cut at [`MAX_NOTE`].
fn note(text: Option<&str>) -> Option<String> {
    let kept: String = text?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NOTE)
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Leak intake and the leak-reporter tokens.
#[derive(Debug, Clone)]
pub struct LeakService {
    pool: PgPool,
    hasher: KeyHasher,
    github: Option<std::sync::Arc<GithubKeys>>,
}

impl LeakService {
    /// Reports checked against keys in `pool` hashed by `hasher`; GitHub's alerts are
    /// accepted only with `github` keys configured.
    pub fn new(pool: PgPool, hasher: KeyHasher, github: Option<GithubKeys>) -> Self {
        Self {
            pool,
            hasher,
            github: github.map(std::sync::Arc::new),
        }
    }

    /// GitHub's signing keys, when GitHub secret scanning is configured.
    pub fn github(&self) -> Option<&GithubKeys> {
        self.github.as_deref()
    }

    /// The live leak reporter whose token is `token`.
    pub async fn authenticate(&self, token: &str) -> Result<Option<LeakReporter>> {
        match format::parse(token) {
            Some(w) if w.prefix == REPORTER_PREFIX => {
                reporters::authenticate(&self.pool, &self.hasher.digest(token), Utc::now()).await
            }
            _ => Ok(None),
        }
    }

    /// Judges each reported string and records the leaks of live keys; the verdicts in
    /// the order of `items`.
    #[tracing::instrument(name = "leaks.report", skip_all, fields(db.system = "postgresql", items = items.len()))]
    pub async fn report(
        &self,
        reporter: &Reporter,
        items: &[ReportedLeak],
        origin: &Origin,
    ) -> Result<Vec<LeakVerdict>> {
        let mut verdicts = Vec::with_capacity(items.len());
        for item in items {
            use secrecy::ExposeSecret as _;
            let token = item.token.expose_secret();
            let label = self.judge(reporter, token, item, origin).await?;
            metrics::counter!("leak_reports_total", "label" => match label {
                Label::TruePositive => "true_positive",
                Label::FalsePositive => "false_positive",
            })
            .increment(1);
            verdicts.push(LeakVerdict {
                token_hash: token_hash(token),
                label,
            });
        }
        Ok(verdicts)
    }

    async fn judge(
        &self,
        reporter: &Reporter,
        token: &str,
        item: &ReportedLeak,
        origin: &Origin,
    ) -> Result<Label> {
        if format::parse(token).is_none() {
            return Ok(Label::FalsePositive);
        }
        let Some(row) = store::find_by_digest(&self.pool, &self.hasher.digest(token)).await? else {
            return Ok(Label::FalsePositive);
        };
        let now = Utc::now();
        if !matches!(row.status(now), KeyStatus::Active | KeyStatus::Disabled) {
            // A dead key is harmless: recognised, nothing to contain.
            return Ok(Label::TruePositive);
        }
        let url = note(item.url.as_deref());
        let source = note(item.source.as_deref());
        let reported_by = reporter.name();
        let mut tx = self.pool.begin().await?;
        let policy = keyspace_store::find(&mut *tx, row.keyspace_id)
            .await?
            .map_or(LeakAction::Notify, |k| k.leak_action);
        let containment = match policy {
            LeakAction::Notify => Containment::Nothing,
            LeakAction::Disable => Containment::Disable,
            LeakAction::Revoke => Containment::Revoke,
        };
        let reason: String = format!(
            "leaked: reported by {reported_by}{}",
            url.as_deref()
                .map_or_else(String::new, |u| format!(" at {u}"))
        )
        .chars()
        .take(500)
        .collect();
        let evidence = json!({ "url": url, "source": source, "reported_by": reported_by });
        let finding = NewFinding {
            key_id: row.id,
            kind: FindingKind::Leaked,
            severity: Severity::High,
            window_start: now,
            window_end: now,
            evidence,
            dedupe: url.clone().unwrap_or_else(|| "no url".to_owned()),
        };
        record::record(
            &mut tx,
            Recording {
                finding,
                containment,
                reason: &reason,
                action: Action::KeyLeakReport,
                details: json!({ "reported_by": reported_by }),
            },
            origin,
            now,
            |key, finding_id, action| Event::KeyLeaked {
                key,
                finding_id,
                url,
                source,
                reported_by: reported_by.clone(),
                action,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Label::TruePositive)
    }

    /// Issues a leak-reporter token (admin).
    pub async fn create_reporter(
        &self,
        actor: Actor,
        name: &str,
        origin: &Origin,
    ) -> Result<CreatedLeakReporter> {
        actor.check_admin()?;
        let name = crate::keys::parse_name(name)?;
        let token = format::generate(REPORTER_PREFIX);
        let digest = self.hasher.digest(token.expose());
        let mut tx = self.pool.begin().await?;
        let reporter =
            reporters::insert(&mut tx, &name, &token.start(), &digest, actor.recorded_id()).await?;
        let entry = NewEntry::of(actor, Action::LeakReporterCreate, reporter.id, origin)
            .after(json!(reporter))
            .events([Event::LeakReporterIssued {
                reporter_id: reporter.id,
                name: reporter.name.clone(),
                start: reporter.start.clone(),
            }]);
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(CreatedLeakReporter { token, reporter })
    }

    /// Every leak reporter (admin, auditor).
    pub async fn list_reporters(&self, actor: Actor) -> Result<Vec<LeakReporter>> {
        actor.check_reader()?;
        reporters::list(&self.pool).await
    }

    /// Revokes a leak reporter (admin); revoking it again records nothing.
    pub async fn revoke_reporter(
        &self,
        actor: Actor,
        id: Uuid,
        origin: &Origin,
    ) -> Result<LeakReporter> {
        actor.check_admin()?;
        let mut tx = self.pool.begin().await?;
        let (before, after) = reporters::revoke(&mut tx, id).await?;
        if before.revoked_at.is_none() {
            let entry = NewEntry::of(actor, Action::LeakReporterRevoke, id, origin)
                .before(json!(before))
                .after(json!(after))
                .events([Event::LeakReporterRevoked {
                    reporter_id: after.id,
                    name: after.name.clone(),
                    start: after.start.clone(),
                }]);
            audit::append(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(after)
    }
}
