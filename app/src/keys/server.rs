//! The keys server functions' bodies: parse the form, call `KeyService`, shape DTOs.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use leptos::prelude::use_context;
use locksmith_core::audit::AuditService;
use locksmith_core::dashboard::{self, Dashboard};
use locksmith_core::identity::UserService;
use locksmith_core::identity::users::User;
use locksmith_core::key_limits::describe_lifetime;
use locksmith_core::keys::model::{IpAllowlist, QuotaView, RateLimit};
use locksmith_core::keys::{
    Actor, KeyCursor, KeyFilter, KeyPatchInput, KeyService, KeySort, KeyStatus, KeyView,
    KeyspaceService, NewKeyInput, QuotaPeriod, QuotaSpec, SortColumn,
};
use locksmith_core::usage::{Granularity, UsageBucket, UsageRange};
use uuid::Uuid;

use super::{
    BulkResult, Choice, ColumnOrder, KeyDetails, KeyFields, KeyFilters, KeyFormOptions, KeyPage,
    KeyRow, NewSecret, OwnerLimits, QuotaRow, RateRow, Rotation, StatusCounts, UsagePoint,
    VerificationPage, VerificationRow,
};
use crate::auth::server::{origin, require, service as provided, session_user};
use crate::error::AppError;
use crate::form::{id, list as split_list, number, optional, optional_id, time};

/// Keys per page of the list.
const PAGE: i64 = 25;
/// Audit entries on a key's page.
const KEY_AUDIT: i64 = 20;

fn service() -> Result<KeyService, AppError> {
    provided()
}

fn period_name(period: QuotaPeriod) -> &'static str {
    match period {
        QuotaPeriod::Day => "day",
        QuotaPeriod::Month => "month",
        QuotaPeriod::Total => "total",
    }
}

/// Names shown for ids: keyspaces and owners, looked up once per answer.
struct Names {
    keyspaces: HashMap<Uuid, String>,
    owners: HashMap<Uuid, String>,
}

impl Names {
    async fn load(actor: Actor, views: &[&KeyView]) -> Result<Self, AppError> {
        let keyspaces = provided::<KeyspaceService>()?
            .list(actor, None, 1000)
            .await?
            .into_iter()
            .map(|k| (k.id, k.name))
            .collect();
        let mut owners: Vec<Uuid> = views.iter().map(|v| v.owner_id).collect();
        owners.sort_unstable();
        owners.dedup();
        let owners = provided::<UserService>()?
            .emails(actor, &owners)
            .await?
            .into_iter()
            .collect();
        Ok(Self { keyspaces, owners })
    }

    fn row(&self, v: KeyView) -> KeyRow {
        let name = |map: &HashMap<Uuid, String>, id: Uuid| {
            map.get(&id).cloned().unwrap_or_else(|| id.to_string())
        };
        KeyRow {
            id: v.id.to_string(),
            keyspace_id: v.keyspace_id.to_string(),
            keyspace: name(&self.keyspaces, v.keyspace_id),
            owner_id: v.owner_id.to_string(),
            owner: name(&self.owners, v.owner_id),
            name: v.name,
            start: v.start,
            status: v.status.as_str().to_owned(),
            enabled: v.enabled,
            scopes: v.scopes,
            sample_ip: IpAllowlist::parse(&v.ip_allowlist)
                .ok()
                .and_then(|l| l.sample())
                .map(|ip| ip.to_string()),
            ip_allowlist: v.ip_allowlist,
            meta: serde_json::to_string_pretty(&v.meta).unwrap_or_default(),
            expires_at: v.expires_at,
            own_expires_at: v.own_expires_at,
            grace_ends_at: v.grace_ends_at,
            outside_policy: v.outside_policy,
            created_at: v.created_at,
            last_used_at: v.last_used_at,
            revoked_at: v.revoked_at,
            revoked_reason: v.revoked_reason,
            rotated_from: v.rotated_from.map(|id| id.to_string()),
            rotated_to: v.rotated_to.map(|id| id.to_string()),
            quota: v.quota.as_ref().map(quota_row),
            rate_limit: v.rate_limit.map(|r| RateRow {
                limit: r.limit,
                window_seconds: r.window_seconds,
            }),
            verifications_24h: 0,
        }
    }
}

/// One bucket of usage as the charts take it.
pub(crate) fn usage_point(b: &UsageBucket) -> UsagePoint {
    UsagePoint {
        at: b.bucket,
        valid: b.valid,
        rate_limited: b.rate_limited,
        quota_exceeded: b.quota_exceeded,
        forbidden: b.forbidden,
        other: b.other,
    }
}

/// Key counts by status as the pages take them.
pub(crate) fn status_counts(c: dashboard::StatusCounts) -> StatusCounts {
    StatusCounts {
        active: c.active,
        disabled: c.disabled,
        expired: c.expired,
        revoked: c.revoked,
    }
}

fn quota_row(q: &QuotaView) -> QuotaRow {
    QuotaRow {
        limit: q.limit,
        period: period_name(q.period).to_owned(),
        used: q.used,
        remaining: q.remaining,
        resets_at: q.resets_at,
    }
}

async fn rows(actor: Actor, views: Vec<KeyView>) -> Result<Vec<KeyRow>, AppError> {
    let names = Names::load(actor, &views.iter().collect::<Vec<_>>()).await?;
    Ok(views.into_iter().map(|v| names.row(v)).collect())
}

async fn one_row(actor: Actor, view: KeyView) -> Result<KeyRow, AppError> {
    let names = Names::load(actor, &[&view]).await?;
    Ok(names.row(view))
}

fn status(raw: &str) -> Result<Option<KeyStatus>, AppError> {
    optional(raw)
        .map(|s| match s.as_str() {
            "active" => Ok(KeyStatus::Active),
            "disabled" => Ok(KeyStatus::Disabled),
            "expired" => Ok(KeyStatus::Expired),
            "revoked" => Ok(KeyStatus::Revoked),
            _ => Err(AppError::Invalid(
                "status: must be active, disabled, expired or revoked".into(),
            )),
        })
        .transpose()
}

/// The order in words, as the list shows it.
fn order_words(sort: KeySort) -> &'static str {
    match (sort.column, sort.descending) {
        (SortColumn::Created, true) => "newest first",
        (SortColumn::Created, false) => "oldest first",
        (SortColumn::Name, false) => "name, A to Z",
        (SortColumn::Name, true) => "name, Z to A",
        (SortColumn::LastUsed, true) => "most recently used first",
        (SortColumn::LastUsed, false) => "least recently used first (never used at the top)",
        (SortColumn::Expires, false) => "soonest to expire first",
        (SortColumn::Expires, true) => "latest to expire first (never expiring at the top)",
    }
}

/// What each sortable header shows and asks for, given the current order.
fn column_orders(sort: KeySort) -> Vec<ColumnOrder> {
    SortColumn::ALL
        .into_iter()
        .map(|column| {
            let current = sort.column == column;
            let next = if current {
                sort.reversed()
            } else {
                KeySort::natural(column)
            };
            ColumnOrder {
                column: column.as_str().to_owned(),
                current: current.then(|| {
                    if sort.descending {
                        "descending"
                    } else {
                        "ascending"
                    }
                    .to_owned()
                }),
                next: next.to_string(),
            }
        })
        .collect()
}

pub(super) async fn list(filters: KeyFilters) -> Result<Option<KeyPage>, AppError> {
    let Some(user) = session_user().await? else {
        return Ok(None);
    };
    let sort = optional(&filters.sort)
        .map(|s| s.parse::<KeySort>())
        .transpose()?
        .unwrap_or_default();
    let cursor = optional(&filters.cursor)
        .map(|c| {
            c.parse::<KeyCursor>()
                .map_err(|()| AppError::Invalid("cursor: not a cursor from a previous page".into()))
        })
        .transpose()?;
    // A whole key typed into the search before the page could intercept it (no WASM yet):
    // it is looked up as a secret, never matched as a name, and the page then drops it
    // from the address bar.
    if super::looks_like_a_secret(&filters.q) {
        let found = service()?
            .lookup(Actor::from(&user), filters.q.trim(), &origin().await)
            .await;
        let now = Utc::now();
        let counts = use_context::<Dashboard>()
            .ok_or(AppError::Internal)?
            .status_counts(Actor::from(&user), now)
            .await?;
        let views = match found {
            Ok(view) => vec![view],
            Err(locksmith_core::Error::NotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        return Ok(Some(KeyPage {
            items: rows(Actor::from(&user), views).await?,
            now,
            order: order_words(sort).to_owned(),
            columns: column_orders(sort),
            next_cursor: None,
            counts: status_counts(counts),
        }));
    }
    let filter = KeyFilter {
        keyspace_id: optional_id("keyspace_id", &filters.keyspace_id)?,
        owner_id: optional_id("owner_id", &filters.owner_id)?,
        status: status(&filters.status)?,
        q: optional(&filters.q),
        sort,
        // Revoked and expired keys are hidden unless asked for (a status, or "show all").
        live_only: filters.status.trim().is_empty() && !filters.all,
    };
    let now = Utc::now();
    // One more than a page: a next page exists only if it is not empty.
    let mut views = service()?
        .list(Actor::from(&user), filter, cursor, PAGE + 1)
        .await?;
    let counts = use_context::<Dashboard>()
        .ok_or(AppError::Internal)?
        .status_counts(Actor::from(&user), now)
        .await?;
    let next_cursor = if views.len() as i64 > PAGE {
        views.truncate(PAGE as usize);
        views.last().map(|v| KeyCursor::after(v, sort).to_string())
    } else {
        None
    };
    let ids: Vec<Uuid> = views.iter().map(|v| v.id).collect();
    let traffic = service()?
        .verifications_24h(Actor::from(&user), &ids, now)
        .await?;
    let mut items = rows(Actor::from(&user), views).await?;
    for item in &mut items {
        item.verifications_24h = traffic
            .iter()
            .find(|(id, _)| id.to_string() == item.id)
            .map_or(0, |(_, n)| *n);
    }
    Ok(Some(KeyPage {
        items,
        now,
        order: order_words(sort).to_owned(),
        columns: column_orders(sort),
        next_cursor,
        counts: status_counts(counts),
    }))
}

pub(super) async fn options() -> Result<KeyFormOptions, AppError> {
    let user = require(&[]).await?;
    let actor = Actor::from(&user);
    let keyspaces = provided::<KeyspaceService>()?
        .list(actor, None, 1000)
        .await?
        .into_iter()
        .map(|k| Choice {
            id: k.id.to_string(),
            label: format!("{} ({}_)", k.name, k.prefix),
        })
        .collect();
    // Those who may list users choose an owner; the others create keys of their own.
    let owners = match provided::<UserService>()?.list(actor, None, 1000).await {
        Ok(users) => users
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| Choice {
                id: u.id.to_string(),
                label: u.email,
            })
            .collect(),
        Err(locksmith_core::Error::Forbidden(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };

    let limits = if actor.bound_by_policy() {
        let live_keys = service()?.live_keys(actor).await?;
        Some(OwnerLimits {
            max_keys: user.max_keys,
            live_keys,
            allowed_scopes: user.allowed_scopes.clone(),
            may_change_limits: user.may_change_limits,
            max_quota: user.max_quota.map(QuotaSpec::describe),
            max_rate_limit: user.max_rate_limit.map(RateLimit::describe),
            max_lifetime: user.max_key_lifetime_seconds.map(describe_lifetime),
        })
    } else {
        None
    };
    Ok(KeyFormOptions {
        keyspaces,
        owners,
        limits,
        may_change: !matches!(user.role, locksmith_core::identity::Role::Auditor),
        is_admin: user.role.is_admin(),
    })
}

pub(super) async fn detail(key_id: String) -> Result<Option<KeyDetails>, AppError> {
    let Some(user) = session_user().await? else {
        return Ok(None);
    };
    let key_id = id("id", &key_id)?;
    let service = service()?;
    let actor = Actor::from(&user);
    let now = Utc::now();
    let view = service.get(Actor::from(&user), key_id).await?;
    let range = UsageRange::new(None, None, Some(Granularity::Hour), now)?;
    let usage = service
        .usage(Actor::from(&user), key_id, &range)
        .await?
        .iter()
        .map(usage_point)
        .collect();
    // The key's own trail: every change of it, whoever made it (it is their key).
    let trail: AuditService = provided()?;
    let entries = trail.of_key(actor, key_id, KEY_AUDIT).await?;
    let audit = crate::audit::server::rows(&trail, entries).await?;
    let predecessor = match view.rotated_from {
        Some(from) => match service.get(Actor::from(&user), from).await {
            Ok(old)
                if old.grace_ends_at.is_some_and(|end| end > now)
                    && old.status == KeyStatus::Active =>
            {
                Some(one_row(actor, old).await?)
            }
            _ => None,
        },
        None => None,
    };
    let findings = crate::findings::server::rows(
        actor,
        &locksmith_core::findings::FindingFilter {
            key_id: Some(key_id),
            ..Default::default()
        },
        20,
    )
    .await?;
    Ok(Some(KeyDetails {
        predecessor,
        findings,
        key: one_row(actor, view).await?,
        usage,
        audit,
        may_change: Actor::from(&user).check_may_change_keys().is_ok(),
        limits_fixed: limits_fixed(&user),
        base_url: crate::auth::server::base_url(),
        viewer_is_owner: user.role == locksmith_core::identity::Role::Owner,
        now,
    }))
}

fn quota(fields: &KeyFields) -> Result<Option<QuotaSpec>, AppError> {
    let Some(limit) = number::<i64>("quota.limit", &fields.quota_limit)? else {
        return Ok(None);
    };
    let period = match fields.quota_period.trim() {
        "day" => QuotaPeriod::Day,
        "" | "month" => QuotaPeriod::Month,
        "total" => QuotaPeriod::Total,
        _ => {
            return Err(AppError::Invalid(
                "quota.period: must be day, month or total".into(),
            ));
        }
    };
    Ok(Some(QuotaSpec { limit, period }))
}

fn rate(fields: &KeyFields) -> Result<Option<RateLimit>, AppError> {
    let Some(limit) = number::<i32>("rate_limit.limit", &fields.rate_limit)? else {
        return Ok(None);
    };
    let window_seconds =
        number::<i32>("rate_limit.window_seconds", &fields.rate_window)?.unwrap_or(60);
    Ok(Some(RateLimit {
        limit,
        window_seconds,
    }))
}

pub(super) async fn verifications(
    key_id: String,
    code: String,
    before: Option<i64>,
) -> Result<VerificationPage, AppError> {
    use locksmith_core::usage::recent::LogFilter;
    let user = require(&[]).await?;
    let verify =
        use_context::<locksmith_core::verify::VerifyService>().ok_or(AppError::Internal)?;
    let log = service()?
        .verifications(
            Actor::from(&user),
            id("id", &key_id)?,
            LogFilter::parse(optional(&code).as_deref())?,
            before,
            50,
            verify.log_per_key(),
        )
        .await?;
    let mut counts: Vec<(String, i64)> = log.counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(VerificationPage {
        items: log
            .items
            .into_iter()
            .map(|v| VerificationRow {
                id: v.id,
                at: v.at,
                code: v.code.as_str().to_owned(),
                client_ip: v.client_ip,
                verifier: v.verifier_name.unwrap_or_else(|| v.verifier_id.to_string()),
            })
            .collect(),
        counts,
        kept_per_key: log.kept_per_key,
        next_before: log.next_before,
        now: Utc::now(),
    })
}

pub(super) async fn lookup(key: String) -> Result<Option<String>, AppError> {
    Ok(check(key).await?.map(|found| found.key.id))
}

pub(super) async fn check(key: String) -> Result<Option<super::KeyMatch>, AppError> {
    let user = require(&[]).await?;
    let actor = Actor::from(&user);
    match service()?.lookup(actor, key.trim(), &origin().await).await {
        Ok(view) => Ok(Some(super::KeyMatch {
            key: one_row(actor, view).await?,
            may_revoke: actor.check_may_change_keys().is_ok(),
        })),
        Err(locksmith_core::Error::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every field of a key form checked at once, so the form shows every error in one go:
/// one `field: problem` line per field in error (the core checks them again, one by one).
fn check_every_field(fields: &KeyFields, asks_limits: bool) -> Result<(), AppError> {
    use locksmith_core::keys::model::{KeyName, Meta};
    use locksmith_core::scope::Scope;
    let mut errors: Vec<String> = Vec::new();
    let mut note = |result: Result<(), String>| {
        if let Err(line) = result {
            errors.push(line);
        }
    };
    let text = |e: locksmith_core::Error| e.to_string();
    note(
        KeyName::parse("name", fields.name.trim())
            .map(drop)
            .map_err(text),
    );
    note(
        Scope::parse_list("scopes", &split_list(&fields.scopes).unwrap_or_default())
            .map(drop)
            .map_err(text),
    );
    note(
        IpAllowlist::parse(&split_list(&fields.ip_allowlist).unwrap_or_default())
            .map(drop)
            .map_err(text),
    );
    if asks_limits {
        note(
            time("expires_at", &fields.expires_at)
                .map(drop)
                .map_err(|e| e.to_string()),
        );
        note(match quota(fields) {
            Ok(q) => q
                .map(QuotaSpec::validate)
                .transpose()
                .map(drop)
                .map_err(text),
            Err(e) => Err(e.to_string()),
        });
        note(match rate(fields) {
            Ok(r) => r
                .map(RateLimit::validate)
                .transpose()
                .map(drop)
                .map_err(text),
            Err(e) => Err(e.to_string()),
        });
    }
    note(match meta(&fields.meta) {
        Ok(m) => m.map(Meta::parse).transpose().map(drop).map_err(text),
        Err(e) => Err(e.to_string()),
    });
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors.join("\n")))
    }
}

/// Whether `user` is an owner whose keys' limits an admin sets (their forms show them
/// read-only and do not send them).
fn limits_fixed(user: &User) -> bool {
    Actor::from(user).bound_by_policy() && !user.may_change_limits
}

fn meta(raw: &str) -> Result<Option<serde_json::Value>, AppError> {
    optional(raw)
        .map(|text| {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| AppError::Invalid(format!("meta: not valid JSON ({e})")))
        })
        .transpose()
}

pub(super) async fn create(
    keyspace_id: String,
    owner_id: Option<String>,
    fields: KeyFields,
) -> Result<NewSecret, AppError> {
    let user = require(&[]).await?;
    let keyspace_id = id("keyspace_id", &keyspace_id)?;
    // An owner whose limits an admin sets is shown them, not asked: the key gets them.
    let asks_limits = !limits_fixed(&user);
    check_every_field(&fields, asks_limits)?;
    let input = NewKeyInput {
        name: fields.name.trim().to_owned(),
        owner_id: optional_id("owner_id", owner_id.as_deref().unwrap_or_default())?,
        scopes: split_list(&fields.scopes),
        expires_at: time("expires_at", &fields.expires_at)?.filter(|_| asks_limits),
        ip_allowlist: split_list(&fields.ip_allowlist),
        quota: quota(&fields)?.filter(|_| asks_limits),
        rate_limit: rate(&fields)?.filter(|_| asks_limits),
        meta: meta(&fields.meta)?,
    };
    let created = service()?
        .create(Actor::from(&user), keyspace_id, input, &origin().await)
        .await?;
    let secret = created.key.expose().to_owned();
    Ok(NewSecret {
        secret,
        key: one_row(Actor::from(&user), created.view).await?,
        base_url: crate::auth::server::base_url(),
    })
}

pub(super) async fn edit(key_id: String, fields: KeyFields) -> Result<KeyRow, AppError> {
    let user = require(&[]).await?;
    let key_id = id("id", &key_id)?;
    let service = service()?;
    let current = service.get(Actor::from(&user), key_id).await?;
    // The form shows the key's own expiry to the minute: an unchanged minute keeps the
    // exact time.
    let typed = time("expires_at", &fields.expires_at)?;
    let same_minute = |at: DateTime<Utc>| at.duration_trunc(Duration::minutes(1)).ok();
    let asks_limits = !limits_fixed(&user);
    check_every_field(&fields, asks_limits)?;
    let expires_at = if !asks_limits || typed == current.own_expires_at.and_then(same_minute) {
        None
    } else {
        Some(typed)
    };
    let patch = KeyPatchInput {
        name: Some(fields.name.trim().to_owned()),
        scopes: Some(split_list(&fields.scopes).unwrap_or_default()),
        expires_at,
        enabled: None,
        ip_allowlist: Some(split_list(&fields.ip_allowlist).unwrap_or_default()),
        quota: asks_limits.then(|| quota(&fields)).transpose()?,
        rate_limit: asks_limits.then(|| rate(&fields)).transpose()?,
        meta: Some(meta(&fields.meta)?.unwrap_or_else(|| serde_json::json!({}))),
    };
    let view = service
        .update(Actor::from(&user), key_id, patch, &origin().await)
        .await?;
    one_row(Actor::from(&user), view).await
}

pub(super) async fn set_enabled(key_id: String, enabled: bool) -> Result<KeyRow, AppError> {
    let user = require(&[]).await?;
    let patch = KeyPatchInput {
        enabled: Some(enabled),
        ..KeyPatchInput::default()
    };
    let view = service()?
        .update(
            Actor::from(&user),
            id("id", &key_id)?,
            patch,
            &origin().await,
        )
        .await?;
    one_row(Actor::from(&user), view).await
}

pub(super) async fn revoke(key_id: String, reason: String) -> Result<KeyRow, AppError> {
    let user = require(&[]).await?;
    let view = service()?
        .revoke(
            Actor::from(&user),
            id("id", &key_id)?,
            optional(&reason),
            &origin().await,
        )
        .await?;
    one_row(Actor::from(&user), view).await
}

pub(super) async fn change_many(
    ids: Vec<String>,
    action: String,
    days: Option<i64>,
) -> Result<usize, AppError> {
    use locksmith_core::keys::BulkChange;
    let user = require(&[]).await?;
    if ids.is_empty() {
        return Err(AppError::Invalid("ids: select at least one key".into()));
    }
    let change = match (action.as_str(), days) {
        ("enable", _) => BulkChange::Enable,
        ("disable", _) => BulkChange::Disable,
        ("extend", Some(days)) => BulkChange::ExtendExpiry { days },
        ("extend", None) => return Err(AppError::Invalid("days: say how many".into())),
        _ => {
            return Err(AppError::Invalid(
                "action: must be enable, disable or extend".into(),
            ));
        }
    };
    let ids = ids
        .iter()
        .map(|raw| id("ids", raw))
        .collect::<Result<Vec<_>, _>>()?;
    let views = service()?
        .change_batch(Actor::from(&user), ids, change, &origin().await)
        .await?;
    Ok(views.len())
}

pub(super) async fn revoke_many(ids: Vec<String>, reason: String) -> Result<BulkResult, AppError> {
    let user = require(&[]).await?;
    if ids.is_empty() {
        return Err(AppError::Invalid("ids: select at least one key".into()));
    }
    let ids = ids
        .iter()
        .map(|raw| id("ids", raw))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Utc::now();
    let views = service()?
        .revoke_batch(Actor::from(&user), ids, optional(&reason), &origin().await)
        .await?;
    let revoked = views
        .iter()
        .filter(|v| v.revoked_at.is_some_and(|at| at >= started))
        .count();
    Ok(BulkResult {
        revoked,
        already_revoked: views.len() - revoked,
    })
}

pub(super) async fn rotate(key_id: String, grace_seconds: String) -> Result<Rotation, AppError> {
    let user = require(&[]).await?;
    let grace = number::<i64>("grace_seconds", &grace_seconds)?;
    let rotated = service()?
        .rotate(
            Actor::from(&user),
            id("id", &key_id)?,
            grace,
            &origin().await,
        )
        .await?;
    let actor = Actor::from(&user);
    let secret = rotated.new.key.expose().to_owned();
    Ok(Rotation {
        new: NewSecret {
            secret,
            key: one_row(actor, rotated.new.view).await?,
            base_url: crate::auth::server::base_url(),
        },
        previous: one_row(actor, rotated.previous).await?,
    })
}

pub(super) async fn change_grace(
    key_id: String,
    extend_seconds: String,
) -> Result<KeyRow, AppError> {
    let user = require(&[]).await?;
    let key_id = id("id", &key_id)?;
    let service = service()?;
    let origin = origin().await;
    let view = match number::<i64>("extend_seconds", &extend_seconds)? {
        None => {
            service
                .end_grace(Actor::from(&user), key_id, &origin)
                .await?
        }
        Some(seconds) => {
            service
                .extend_grace(Actor::from(&user), key_id, seconds, &origin)
                .await
                // The form's field is `extend_seconds`.
                .map_err(|e| e.renamed("seconds", "extend_seconds"))?
        }
    };
    one_row(Actor::from(&user), view).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_reverse_the_current_order_and_start_others_at_their_natural_end() {
        let by = |columns: &[ColumnOrder], c: &str| {
            let o = columns.iter().find(|o| o.column == c).expect(c).clone();
            (o.current, o.next)
        };
        let newest = column_orders(KeySort::default());
        assert_eq!(
            by(&newest, "created"),
            (Some("descending".into()), "created".into())
        );
        assert_eq!(by(&newest, "name"), (None, "name".into()));
        assert_eq!(by(&newest, "last_used"), (None, "-last_used".into()));
        assert_eq!(by(&newest, "expires"), (None, "expires".into()));
        let z_to_a = column_orders("-name".parse().expect("sort"));
        assert_eq!(
            by(&z_to_a, "name"),
            (Some("descending".into()), "name".into())
        );
        assert_eq!(by(&z_to_a, "created"), (None, "-created".into()));
        assert_eq!(order_words(KeySort::default()), "newest first");
    }
}
