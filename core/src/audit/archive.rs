//! Archiving the oldest part of the trail: a segment is written out as JSON lines (a
//! header, then every row with its chain hashes), checked link by link as it is written,
//! and only then removed from the database, in a transaction that moves the anchor to
//! its last row. The chain of what remains starts from the anchor's hash, so `audit
//! verify` passes over it, and the file verifies on its own ([`verify_file`]) and joins
//! the next archive or the live trail at its last hash.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::Entry;
use super::chain::{self, GENESIS};
use super::store::{self, StoredEntry};
use crate::error::{Error, Result};

/// The first line of an archive file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentHeader {
    /// `locksmith-audit-archive/1`.
    pub format: String,
    /// The hash the segment's first row links to (hex; zeros for the trail's start).
    pub prev_hash: String,
    /// Rows recorded before this instant are in it.
    pub before: DateTime<Utc>,
}

/// The last line of an archive file: what the segment holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEnd {
    /// The first row's id.
    pub first_id: i64,
    /// The last row's id.
    pub last_id: i64,
    /// The last row's hash: where the next segment, or the live trail, continues.
    pub last_hash: String,
    /// Rows in the segment.
    pub rows: u64,
}

#[derive(Serialize, Deserialize)]
struct EndLine {
    end: SegmentEnd,
}

const FORMAT: &str = "locksmith-audit-archive/1";

/// Rows read from the database at a time.
const PAGE: i64 = 1000;

/// Writes the rows recorded before `before` that are still in the database to `out`, a
/// page at a time, checking every link; returns what was written, or `None` when there
/// is nothing to archive. Nothing is removed: see [`remove`].
pub async fn export(
    pool: &PgPool,
    before: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<Option<SegmentEnd>> {
    let anchor = store::anchor(pool).await?;
    let (mut prev, mut after_id) = anchor.map_or((GENESIS.to_vec(), 0), |a| (a.0, a.1));
    let Some(last_id) = store::last_id_before(pool, before, after_id).await? else {
        return Ok(None);
    };
    write_line(
        out,
        &SegmentHeader {
            format: FORMAT.into(),
            prev_hash: chain::hex(&prev),
            before,
        },
    )?;
    let mut end = SegmentEnd {
        first_id: 0,
        last_id,
        last_hash: String::new(),
        rows: 0,
    };
    while after_id < last_id {
        let rows = store::range(pool, after_id, last_id, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after_id = last.id;
        for row in rows {
            prev = check_link(&prev, &row)?;
            if end.rows == 0 {
                end.first_id = row.id;
            }
            end.rows += 1;
            write_line(out, &row.into_entry())?;
        }
    }
    end.last_hash = chain::hex(&prev);
    write_line(out, &EndLine { end: end.clone() })?;
    out.flush().map_err(io)?;
    Ok(Some(end))
}

/// Removes the segment `end` describes, once its file is safely stored: moves the anchor
/// to its last row and deletes the rows up to it, in one transaction, after checking that
/// the trail still holds exactly that segment. Returns the rows removed.
pub async fn remove(pool: &PgPool, end: &SegmentEnd) -> Result<u64> {
    let hash = chain::unhex(&end.last_hash).ok_or_else(|| broken("a hash is not hex"))?;
    store::remove_segment(pool, end.last_id, &hash, end.rows).await
}

/// Checks an archive file on its own: every row links to the one before and its hash
/// covers its content, and the last line describes exactly those rows.
pub fn verify_file(input: impl BufRead) -> Result<(SegmentHeader, SegmentEnd)> {
    let mut lines = input.lines();
    let header: SegmentHeader = match lines.next() {
        Some(line) => parse(&line.map_err(io)?)?,
        None => return Err(broken("the file is empty")),
    };
    if header.format != FORMAT {
        return Err(broken(format!("not a {FORMAT} file")));
    }
    let mut prev = chain::unhex(&header.prev_hash).ok_or_else(|| broken("a hash is not hex"))?;
    let mut ids = None;
    for (rows, line) in (0_u64..).zip(lines) {
        let line = line.map_err(io)?;
        if let Ok(EndLine { end }) = serde_json::from_str::<EndLine>(&line) {
            let (first, last) = ids.unwrap_or((0, 0));
            if end.rows != rows
                || end.first_id != first
                || end.last_id != last
                || end.last_hash != chain::hex(&prev)
            {
                return Err(broken(format!(
                    "its last line promises {} rows #{}..#{} ending in {}; it holds {rows} \
                     rows #{first}..#{last} ending in {}",
                    end.rows,
                    end.first_id,
                    end.last_id,
                    end.last_hash,
                    chain::hex(&prev)
                )));
            }
            return Ok((header, end));
        }
        let row = StoredEntry::from_entry(parse::<Entry>(&line)?)
            .ok_or_else(|| broken("a hash is not hex"))?;
        prev = check_link(&prev, &row)?;
        ids = Some((ids.map_or(row.id, |(first, _)| first), row.id));
    }
    Err(broken(
        "the file ends without its last line: it was cut short",
    ))
}

/// The hash of `row` given the one before, refusing a row that does not link or whose
/// hash does not cover its content.
fn check_link(prev: &[u8], row: &StoredEntry) -> Result<Vec<u8>> {
    row.check(prev)
        .map(|hash| hash.to_vec())
        .ok_or_else(|| broken(format!("row #{} does not match its chain", row.id)))
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|e| io(e.into()))?;
    out.write_all(b"\n").map_err(io)
}

fn parse<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T> {
    serde_json::from_str(line).map_err(|e| broken(format!("unreadable line ({e})")))
}

#[expect(clippy::needless_pass_by_value, reason = "used as a map_err function")]
fn io(err: std::io::Error) -> Error {
    Error::Unavailable(format!("archive file: {err}"))
}

fn broken(why: impl std::fmt::Display) -> Error {
    Error::invalid("archive", why)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use sqlx::PgPool;

    use super::*;
    use crate::audit::AuditService;
    use crate::identity::{Actor, Role};
    use crate::test_support::user;

    async fn latest_at(pool: &PgPool) -> DateTime<Utc> {
        sqlx::query_scalar::<_, DateTime<Utc>>("SELECT max(at) FROM audit_log")
            .fetch_one(pool)
            .await
            .expect("a row")
            + TimeDelta::microseconds(1)
    }

    async fn rows(pool: &PgPool) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(pool)
            .await
            .expect("count")
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn segments_are_archived_verifiable_and_the_rest_still_verifies(pool: PgPool) {
        let audit = AuditService::new(pool.clone());
        for i in 0..3 {
            user(&pool, &format!("early{i}@example.com"), Role::Owner).await;
        }
        let first_cut = latest_at(&pool).await;
        for i in 0..2 {
            user(&pool, &format!("middle{i}@example.com"), Role::Owner).await;
        }
        let second_cut = latest_at(&pool).await;
        user(&pool, "late@example.com", Role::Owner).await;
        let total = rows(&pool).await;

        let mut first = Vec::new();
        let end = export(&pool, first_cut, &mut first)
            .await
            .expect("exports")
            .expect("something to archive");
        assert_eq!(end.rows, 3);
        assert_eq!(rows(&pool).await, total, "exporting removes nothing");
        let (header, checked) = verify_file(first.as_slice()).expect("the file verifies");
        assert_eq!(header.prev_hash, "0".repeat(64));
        assert_eq!(checked, end);
        assert_eq!(remove(&pool, &end).await.expect("removed"), 3);
        assert_eq!(rows(&pool).await, total - 3);
        let report = audit.verify(Actor::SYSTEM).await.expect("verifies");
        assert_eq!(
            (report.checked, report.first_broken),
            (total as u64 - 3, None)
        );
        assert!(
            export(&pool, first_cut, &mut Vec::new())
                .await
                .expect("exports")
                .is_none(),
            "nothing left before the first cut"
        );
        assert!(
            remove(&pool, &end).await.is_err(),
            "a segment is removed once"
        );

        // The next segment continues where the first ended.
        let mut second = Vec::new();
        let end2 = export(&pool, second_cut, &mut second)
            .await
            .expect("exports")
            .expect("something to archive");
        let (header2, _) = verify_file(second.as_slice()).expect("verifies");
        assert_eq!(header2.prev_hash, end.last_hash);
        assert_eq!(end2.rows, 2);
        remove(&pool, &end2).await.expect("removed");
        assert_eq!(
            audit
                .verify(Actor::SYSTEM)
                .await
                .expect("verifies")
                .first_broken,
            None
        );

        // A changed row, or a file cut short, does not verify.
        let text = String::from_utf8(first).expect("utf-8");
        let forged = text.replacen(
            "\"action\":\"user.create\"",
            "\"action\":\"user.update\"",
            1,
        );
        assert_ne!(forged, text);
        assert!(verify_file(forged.as_bytes()).is_err());
        let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(verify_file(cut.as_bytes()).is_err());
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_newest_rows_cannot_be_deleted_past_the_anchor(pool: PgPool) {
        user(&pool, "admin@example.com", Role::Admin).await;
        let deleted = sqlx::query("DELETE FROM audit_log").execute(&pool).await;
        assert!(deleted.is_err(), "the trail is append-only");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_head_is_published_when_it_moved(pool: PgPool) {
        let audit = AuditService::new(pool.clone());
        assert_eq!(audit.publish_head(Actor::SYSTEM).await.expect("runs"), None);
        user(&pool, "a@example.com", Role::Owner).await;
        let head = audit
            .publish_head(Actor::SYSTEM)
            .await
            .expect("runs")
            .expect("a head");
        audit.publish_head(Actor::SYSTEM).await.expect("runs");
        let published = || async {
            sqlx::query_scalar::<_, serde_json::Value>(
                "SELECT data FROM events WHERE type = 'audit.head' ORDER BY position",
            )
            .fetch_all(&pool)
            .await
            .expect("events")
        };
        let events = published().await;
        assert_eq!(events.len(), 1, "published once while it did not move");
        assert_eq!(events[0]["hash"], head.hash);
        assert_eq!(events[0]["last_id"], head.last_id);
        user(&pool, "b@example.com", Role::Owner).await;
        audit.publish_head(Actor::SYSTEM).await.expect("runs");
        assert_eq!(published().await.len(), 2);
    }
}
