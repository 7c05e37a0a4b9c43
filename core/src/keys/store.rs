//! The keys repository: every SQL statement about the `keys` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::digest::Digest;
use super::listing::{KeyCursor, KeyFilter};
use super::model::{IpAllowlist, KeyStatus, KeyView, QuotaPeriod, QuotaSpec, QuotaView, RateLimit};
use crate::error::{Error, Result};
use crate::scope::Scope;

/// A key as the service and verification work with it: a row of `keys` minus the
/// digest, its settings parsed once when read (scopes, allowlist, limits), kept parsed all
/// the way to the verification cache, and turned back into columns only by [`save`] and
/// [`insert`]. The service changes it in memory and saves it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub id: Uuid,
    pub keyspace_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    /// `<prefix>_` plus 4 characters.
    pub start: String,
    /// Switched on.
    pub enabled: bool,
    pub scopes: Vec<Scope>,
    pub ip_allowlist: IpAllowlist,
    /// Metadata object.
    pub meta: Value,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    /// Last successful verification.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    /// Predecessor in a rotation.
    pub rotated_from: Option<Uuid>,
    /// Successor in a rotation.
    pub rotated_to: Option<Uuid>,
    pub quota: Option<QuotaSpec>,
    /// Credits spent in the period starting at `quota_period_start`.
    pub quota_used: i64,
    /// Start of the period `quota_used` belongs to.
    pub quota_period_start: Option<DateTime<Utc>>,
    pub rate_limit: Option<RateLimit>,
    /// Bumped by every change.
    pub generation: i64,
    /// For the old key of a rotation: when its grace period ends.
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// For the old key of a rotation: its own expiry, which the grace end does not
    /// overwrite (`expires_at` is the earlier of the two).
    pub own_expires_at: Option<DateTime<Utc>>,
}

/// A row of `keys` as PostgreSQL returns it; read into a [`KeyRow`] at once.
struct StoredKey {
    id: Uuid,
    keyspace_id: Uuid,
    owner_id: Uuid,
    name: String,
    start: String,
    enabled: bool,
    scopes: Vec<String>,
    ip_allowlist: Vec<String>,
    meta: Value,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    created_by: Option<Uuid>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<String>,
    rotated_from: Option<Uuid>,
    rotated_to: Option<Uuid>,
    quota_limit: Option<i64>,
    quota_period: Option<QuotaPeriod>,
    quota_used: i64,
    quota_period_start: Option<DateTime<Utc>>,
    rate_limit: Option<i32>,
    rate_window_secs: Option<i32>,
    generation: i64,
    grace_ends_at: Option<DateTime<Utc>>,
    own_expires_at: Option<DateTime<Utc>>,
}

impl From<StoredKey> for KeyRow {
    /// Stored settings were validated when written; a scope or network that no longer
    /// parses (a rule tightened since) is dropped rather than trusted.
    fn from(r: StoredKey) -> Self {
        Self {
            id: r.id,
            keyspace_id: r.keyspace_id,
            owner_id: r.owner_id,
            name: r.name,
            start: r.start,
            enabled: r.enabled,
            scopes: r
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s).ok())
                .collect(),
            ip_allowlist: IpAllowlist::from_stored(&r.ip_allowlist),
            meta: r.meta,
            expires_at: r.expires_at,
            created_at: r.created_at,
            created_by: r.created_by,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            revoked_reason: r.revoked_reason,
            rotated_from: r.rotated_from,
            rotated_to: r.rotated_to,
            quota: r
                .quota_limit
                .zip(r.quota_period)
                .map(|(limit, period)| QuotaSpec { limit, period }),
            quota_used: r.quota_used,
            quota_period_start: r.quota_period_start,
            rate_limit: r
                .rate_limit
                .zip(r.rate_window_secs)
                .map(|(limit, window_seconds)| RateLimit {
                    limit,
                    window_seconds,
                }),
            generation: r.generation,
            grace_ends_at: r.grace_ends_at,
            own_expires_at: r.own_expires_at,
        }
    }
}

/// The columns of a row's settings, as [`insert`] and [`save`] write them.
struct Columns {
    scopes: Vec<String>,
    ip_allowlist: Vec<String>,
    quota_limit: Option<i64>,
    quota_period: Option<QuotaPeriod>,
    rate_limit: Option<i32>,
    rate_window_secs: Option<i32>,
}

impl Columns {
    fn of(row: &KeyRow) -> Self {
        Self {
            scopes: row.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            ip_allowlist: row.ip_allowlist.to_strings(),
            quota_limit: row.quota.map(|q| q.limit),
            quota_period: row.quota.map(|q| q.period),
            rate_limit: row.rate_limit.map(|r| r.limit),
            rate_window_secs: row.rate_limit.map(|r| r.window_seconds),
        }
    }
}

impl KeyRow {
    /// The status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::derive(self.revoked_at, self.enabled, self.expires_at, now)
    }

    /// Whether the key counts against its owner's `max_keys` at `now`: neither revoked nor
    /// expired, switched on or off (the rule of [`count_live`]).
    pub fn counts_as_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }

    /// The key's own expiry (a rotation's grace end aside).
    pub fn own_expiry(&self) -> Option<DateTime<Utc>> {
        if self.grace_ends_at.is_some() {
            self.own_expires_at
        } else {
            self.expires_at
        }
    }

    /// Sets the key's own expiry; a key in a rotation's grace still stops at the grace
    /// end if that comes first.
    pub fn set_own_expiry(&mut self, at: Option<DateTime<Utc>>) {
        match self.grace_ends_at {
            Some(end) => {
                self.own_expires_at = at;
                self.expires_at = Some(at.map_or(end, |at| at.min(end)));
            }
            None => self.expires_at = at,
        }
    }

    /// Sets (or moves) the end of a rotation's grace period, keeping the own expiry.
    pub fn set_grace_end(&mut self, end: DateTime<Utc>) {
        let own = self.own_expiry();
        self.grace_ends_at = Some(end);
        self.set_own_expiry(own);
    }

    /// Credits spent in the period containing `now` (0 once a new period has begun).
    pub fn quota_used_at(&self, now: DateTime<Utc>) -> i64 {
        match (self.quota, self.quota_period_start) {
            (Some(quota), Some(start)) if start == quota.period.start(now) => self.quota_used,
            _ => 0,
        }
    }

    /// The view at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> KeyView {
        let quota = self.quota.map(|QuotaSpec { limit, period }| {
            let used = self.quota_used_at(now);
            QuotaView {
                limit,
                period,
                used,
                remaining: (limit - used).max(0),
                resets_at: period.resets_at(now),
            }
        });
        KeyView {
            id: self.id,
            keyspace_id: self.keyspace_id,
            owner_id: self.owner_id,
            name: self.name.clone(),
            start: self.start.clone(),
            status: self.status(now),
            enabled: self.enabled,
            scopes: self.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            ip_allowlist: self.ip_allowlist.to_strings(),
            meta: self.meta.clone(),
            expires_at: self.expires_at,
            own_expires_at: self.own_expiry(),
            grace_ends_at: self.grace_ends_at,
            outside_policy: Vec::new(),
            created_at: self.created_at,
            created_by: self.created_by,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
            revoked_reason: self.revoked_reason.clone(),
            rotated_from: self.rotated_from,
            rotated_to: self.rotated_to,
            quota,
            rate_limit: self.rate_limit,
        }
    }
}

/// A key to insert (the digest travels separately, so a `KeyRow` never holds it).
#[derive(Debug)]
pub struct NewKeyRow<'a> {
    /// The fields; `id`, `created_at` and `generation` are ignored (the database sets them).
    pub row: &'a KeyRow,
    /// HMAC of the secret.
    pub digest: Digest,
}

/// Inserts a key in the caller's transaction.
pub(crate) async fn insert(conn: &mut PgConnection, new: NewKeyRow<'_>) -> Result<KeyRow> {
    let r = new.row;
    let c = Columns::of(r);
    let row = sqlx::query_as!(
        StoredKey,
        r#"INSERT INTO keys (keyspace_id, owner_id, name, start, digest, enabled, scopes,
                             ip_allowlist, meta, expires_at, created_by, rotated_from,
                             quota_limit, quota_period, quota_used, quota_period_start,
                             rate_limit, rate_window_secs, grace_ends_at, own_expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                   $19, $20)
           RETURNING id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
                     expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
                     rotated_from, rotated_to, quota_limit,
                     quota_period AS "quota_period: QuotaPeriod", quota_used, quota_period_start,
                     rate_limit, rate_window_secs, generation, grace_ends_at, own_expires_at"#,
        r.keyspace_id,
        r.owner_id,
        r.name,
        r.start,
        &new.digest[..],
        r.enabled,
        &c.scopes,
        &c.ip_allowlist,
        r.meta,
        r.expires_at,
        r.created_by,
        r.rotated_from,
        c.quota_limit,
        c.quota_period as Option<QuotaPeriod>,
        r.quota_used,
        r.quota_period_start,
        c.rate_limit,
        c.rate_window_secs,
        r.grace_ends_at,
        r.own_expires_at,
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// One key by id, or `None`.
pub(crate) async fn find(pool: &PgPool, id: Uuid) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as!(
        StoredKey,
        r#"SELECT id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
                  expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
                  rotated_from, rotated_to, quota_limit,
                  quota_period AS "quota_period: QuotaPeriod", quota_used, quota_period_start,
                  rate_limit, rate_window_secs, generation, grace_ends_at, own_expires_at
           FROM keys WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .map(KeyRow::from))
}

/// Locks the given keys for the rest of the caller's transaction (in id order, so
/// concurrent batches cannot deadlock) and returns those that exist and, when `owner` is
/// given, belong to that owner (others are neither returned nor locked).
pub(crate) async fn lock(
    conn: &mut PgConnection,
    ids: &[Uuid],
    owner: Option<Uuid>,
) -> Result<Vec<KeyRow>> {
    Ok(sqlx::query_as!(
        StoredKey,
        r#"SELECT id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
                  expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
                  rotated_from, rotated_to, quota_limit,
                  quota_period AS "quota_period: QuotaPeriod", quota_used, quota_period_start,
                  rate_limit, rate_window_secs, generation, grace_ends_at, own_expires_at
           FROM keys WHERE id = ANY($1) AND ($2::uuid IS NULL OR owner_id = $2)
           ORDER BY id FOR UPDATE"#,
        ids,
        owner
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(KeyRow::from)
    .collect())
}

/// Writes every mutable field of `row` back and bumps its generation.
pub(crate) async fn save(conn: &mut PgConnection, row: &KeyRow) -> Result<KeyRow> {
    let c = Columns::of(row);
    sqlx::query_as!(
        StoredKey,
        r#"UPDATE keys
           SET name = $2, enabled = $3, scopes = $4, ip_allowlist = $5, meta = $6,
               expires_at = $7, revoked_at = $8, revoked_reason = $9, rotated_to = $10,
               quota_limit = $11, quota_period = $12, quota_used = $13,
               quota_period_start = $14, rate_limit = $15, rate_window_secs = $16,
               grace_ends_at = $17, own_expires_at = $18, generation = generation + 1, updated_at = now()
           WHERE id = $1
           RETURNING id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
                     expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
                     rotated_from, rotated_to, quota_limit,
                     quota_period AS "quota_period: QuotaPeriod", quota_used, quota_period_start,
                     rate_limit, rate_window_secs, generation, grace_ends_at, own_expires_at"#,
        row.id,
        row.name,
        row.enabled,
        &c.scopes,
        &c.ip_allowlist,
        row.meta,
        row.expires_at,
        row.revoked_at,
        row.revoked_reason,
        row.rotated_to,
        c.quota_limit,
        c.quota_period as Option<QuotaPeriod>,
        row.quota_used,
        row.quota_period_start,
        c.rate_limit,
        c.rate_window_secs,
        row.grace_ends_at,
        row.own_expires_at,
    )
    .fetch_optional(conn)
    .await?
    .map(KeyRow::from)
    .ok_or(Error::NotFound)
}

/// The key whose secret has `digest` (verification).
pub(crate) async fn find_by_digest(pool: &PgPool, digest: &Digest) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as!(
        StoredKey,
        r#"SELECT id, keyspace_id, owner_id, name, start, enabled, scopes, ip_allowlist, meta,
                  expires_at, created_at, created_by, last_used_at, revoked_at, revoked_reason,
                  rotated_from, rotated_to, quota_limit,
                  quota_period AS "quota_period: QuotaPeriod", quota_used, quota_period_start,
                  rate_limit, rate_window_secs, generation, grace_ends_at, own_expires_at
           FROM keys WHERE digest = $1"#,
        &digest[..]
    )
    .fetch_optional(pool)
    .await?
    .map(KeyRow::from))
}

/// Which of `ids` are keys of `keyspace_id` (usage a service's client reports).
pub(crate) async fn ids_in_keyspace(
    pool: &PgPool,
    keyspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM keys WHERE keyspace_id = $1 AND id = ANY($2)",
        keyspace_id,
        ids
    )
    .fetch_all(pool)
    .await?)
}

/// Credit leased by [`lease_quota`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaGrant {
    /// The key that pays: the key itself, or the newest key of its rotation chain.
    pub account: Uuid,
    /// The paying key's limit.
    pub limit: i64,
    /// Its period.
    pub period: QuotaPeriod,
    /// The start of the period the credit belongs to.
    pub period_start: DateTime<Utc>,
    /// Spent or leased in that period, this grant included.
    pub used: i64,
    /// Credits granted: between `need` and `want`, or 0 when fewer than `need` are left.
    pub granted: i64,
}

/// Leases up to `want` credits (at least `need`, else none) of the quota that pays for
/// verifications of `key` at `at`; `None` when that quota does not exist. One atomic call:
/// the paying row is locked, so concurrent leases never exceed the limit.
pub(crate) async fn lease_quota(
    pool: &PgPool,
    key: Uuid,
    want: i64,
    need: i64,
    at: DateTime<Utc>,
) -> Result<Option<QuotaGrant>> {
    Ok(sqlx::query_as!(
        QuotaGrant,
        r#"SELECT account AS "account!", quota_limit AS "limit!",
                  quota_period AS "period!: QuotaPeriod", period_start AS "period_start!",
                  used AS "used!", granted AS "granted!"
           FROM locksmith_lease_quota($1, $2, $3, $4)"#,
        key,
        want,
        need,
        at
    )
    .fetch_optional(pool)
    .await?)
}

/// Gives back unused leased credit: `(paying key, period start, credits)`. Credit of a
/// period that has ended is void and left alone.
pub(crate) async fn return_quota(
    pool: &PgPool,
    returns: &[(Uuid, DateTime<Utc>, i64)],
) -> Result<()> {
    let (mut ids, mut starts, mut credits) = (Vec::new(), Vec::new(), Vec::new());
    for &(id, start, n) in returns {
        ids.push(id);
        starts.push(start);
        credits.push(n);
    }
    sqlx::query!(
        r#"WITH locked AS (
               SELECT k.id FROM keys k WHERE k.id = ANY($1::uuid[]) ORDER BY k.id FOR NO KEY UPDATE
           )
           UPDATE keys k SET quota_used = greatest(k.quota_used - r.n, 0)
           FROM (SELECT id, sum(n)::int8 AS n, start
                 FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[]) AS r(id, start, n)
                 GROUP BY id, start) r, locked
           WHERE k.id = r.id AND locked.id = r.id AND k.quota_period_start = r.start"#,
        &ids,
        &starts,
        &credits
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The keys among `ids` that belong to `owner`.
pub(crate) async fn owned_among(pool: &PgPool, ids: &[Uuid], owner: Uuid) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM keys WHERE id = ANY($1) AND owner_id = $2",
        ids,
        owner
    )
    .fetch_all(pool)
    .await?)
}

/// The names of the keys among `ids`, as `name (start…)` (for showing audit targets).
pub(crate) async fn names(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!("SELECT id, name, start FROM keys WHERE id = ANY($1)", ids)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, format!("{} ({}…)", r.name, r.start)))
        .collect())
}

/// Keys of `owner` that still count against `max_keys`: neither revoked nor expired.
pub(crate) async fn count_live(
    conn: &mut PgConnection,
    owner: Uuid,
    now: DateTime<Utc>,
) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM keys
           WHERE owner_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"#,
        owner,
        now
    )
    .fetch_one(conn)
    .await?)
}

/// Escapes `%`, `_` and `\` so user input matches literally in a LIKE pattern.
fn like_literal(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A page of keys in `filter.sort` order, after `cursor` (which must be of that order).
pub(crate) async fn list(
    pool: &PgPool,
    filter: &KeyFilter,
    cursor: Option<&KeyCursor>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<KeyRow>> {
    let name_pattern = filter
        .q
        .as_deref()
        .map(|q| format!("%{}%", like_literal(q)));
    let start_pattern = filter.q.as_deref().map(|q| format!("{}%", like_literal(q)));
    Ok(sqlx::query_file_as!(
        StoredKey,
        "queries/keys_list.sql",
        now,
        filter.keyspace_id,
        filter.owner_id,
        filter.status.map(KeyStatus::as_str),
        name_pattern,
        start_pattern,
        filter.sort.column.as_str(),
        filter.sort.descending,
        cursor.and_then(KeyCursor::text),
        cursor.and_then(KeyCursor::time),
        cursor.map(KeyCursor::id),
        limit,
        filter.live_only,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(KeyRow::from)
    .collect())
}

/// The text of the list query, for `EXPLAIN` checks.
#[cfg(test)]
pub(crate) const LIST_SQL: &str = include_str!("../../queries/keys_list.sql");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_literal("50%_off\\"), "50\\%\\_off\\\\");
    }
}
