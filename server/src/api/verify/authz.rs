//! `GET /v1/authz` (any method, any path below it): the verification of `/v1/verify`
//! for a proxy in front of a service, nginx's `auth_request` or Envoy's HTTP
//! `ext_authz`. The service itself then holds no code of Locksmith's.
//!
//! The proxy forwards the original request's headers (never its body):
//! - the verifier token, in `X-Locksmith-Verifier` or as `Authorization: Bearer`;
//! - the key, in the header the keyspace names (`key_header`: `x-api-key` unless an
//!   admin chose another; `authorization` means `Authorization: Bearer <key>`, and then
//!   the verifier token must come in `X-Locksmith-Verifier`);
//! - the required scopes in `X-Locksmith-Scopes` (separated by commas or spaces) and the
//!   cost in `X-Locksmith-Cost` (default 1), which the proxy's configuration sets per
//!   route;
//! - the end user's address in `X-Locksmith-Client-Ip`, else Envoy's
//!   `X-Envoy-External-Address`, else the right-most `X-Forwarded-For` element (the one
//!   the proxy appended). An authenticated verifier is trusted to name the end user, as
//!   it is in `/v1/verify`'s `client_ip`. When the request reached Locksmith through its
//!   own trusted proxies, `X-Forwarded-For` describes that path instead and is not read.
//!
//! The answer is a status and headers: 200 with `X-Locksmith-Key-Id`,
//! `X-Locksmith-Owner-Id`, `X-Locksmith-Scopes` and, for a key with a rate limit or
//! quota, `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (of the limit
//! nearer to running out), which the proxy passes upstream; 401 without a key or for an
//! unknown one; 403 for a refused key; 429 with `retry-after` for a rate limit or quota;
//! 503 when degraded without a cached answer. Refusals are problem details whose `code`
//! is the verification's code in lower case. The decision, the spending and the counters
//! are those of `/v1/verify`.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use locksmith_core::keys::key_header;
use locksmith_core::scope::Scope;
use locksmith_core::verify::{Code, Verdict, VerifyInput};

use super::{VerifyRoute, count, verifier};
use crate::auth::bearer;
use crate::http::client_address::ForwardedOrigin;
use crate::http::problem::Problem;

/// The header a proxy may carry the verifier token in (instead of `Authorization`).
pub const VERIFIER_HEADER: &str = "x-locksmith-verifier";
/// The scopes the route requires.
pub const SCOPES_HEADER: &str = "x-locksmith-scopes";
/// The credits a `VALID` answer spends.
pub const COST_HEADER: &str = "x-locksmith-cost";
/// The end user's address, as the proxy saw it.
pub const CLIENT_IP_HEADER: &str = "x-locksmith-client-ip";
/// The trusted client address Envoy sets.
const ENVOY_EXTERNAL_ADDRESS: &str = "x-envoy-external-address";

/// Answers a proxy's authorization subrequest.
#[utoipa::path(get, path = "/v1/authz", tag = "verify", operation_id = "authorizeRequest",
    params(
        ("x-locksmith-verifier" = Option<String>, Header, description = "The verifier token, when `Authorization` carries the key"),
        ("x-api-key" = Option<String>, Header, description = "The key, in the header the keyspace names (`key_header`)"),
        ("x-locksmith-scopes" = Option<crate::api::schema::ScopeList>, Header, description = "Scopes the key must grant, separated by commas or spaces"),
        ("x-locksmith-cost" = Option<crate::api::schema::Cost>, Header, description = "Quota credits a VALID answer spends, 0 to 1000 (default 1)"),
        ("x-locksmith-client-ip" = Option<crate::api::schema::IpAddress>, Header, description = "The end user's address (else `X-Envoy-External-Address`, else the right-most `X-Forwarded-For`)"),
    ),
    responses(
        (status = 200, description = "The key may be used; `X-Locksmith-Key-Id`, `X-Locksmith-Owner-Id`, `X-Locksmith-Scopes` and the `RateLimit-*` headers describe it",
            headers(
                ("x-locksmith-key-id" = String, description = "The key's id"),
                ("x-locksmith-owner-id" = String, description = "Its owner's id"),
                ("x-locksmith-scopes" = String, description = "The scopes it grants, comma-separated"),
                ("ratelimit-limit" = i64, description = "The rate limit or quota nearer to running out"),
                ("ratelimit-remaining" = i64, description = "What is left of it"),
                ("ratelimit-reset" = i64, description = "Seconds until it starts again"),
            )),
        (status = 400, description = "A malformed scope, cost or client address header (a proxy configuration error)", body = crate::http::problem::ProblemBody),
        (status = 401, description = "No key, an unknown key, or a missing or invalid verifier token", body = crate::http::problem::ProblemBody),
        (status = 403, description = "The key is revoked, disabled, expired, refused for this address or lacks a scope; `code` says which", body = crate::http::problem::ProblemBody),
        (status = 429, description = "Rate limited or out of quota (`retry-after` when it will pass), or the verifier is throttled for unknown keys", body = crate::http::problem::ProblemBody),
        (status = 503, description = "The database is unreachable and this instance cannot decide", body = crate::http::problem::ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn authorize(
    State(route): State<VerifyRoute>,
    request: Request,
) -> Result<Response, Problem> {
    let (parts, _body) = request.into_parts();
    let headers = &parts.headers;
    let token = match headers.get(VERIFIER_HEADER) {
        Some(value) => value.to_str().ok().map(str::trim),
        None => bearer(headers.get(header::AUTHORIZATION)),
    };
    let verifier = verifier(&route.verify, token).await?;
    let key = if verifier.key_header == key_header::AUTHORIZATION {
        // The key can be there only when the token is not.
        headers
            .get(VERIFIER_HEADER)
            .and_then(|_| bearer(headers.get(header::AUTHORIZATION)))
    } else {
        headers
            .get(verifier.key_header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "missing_key",
            format!(
                "The request carries no key (expected in `{}`).",
                verifier.key_header
            ),
        ));
    };
    let input = VerifyInput {
        key: key.to_owned(),
        scopes: scopes(headers)?,
        cost: cost(headers)?,
        client_ip: client_ip(headers, parts.extensions.get::<ForwardedOrigin>().is_some())?,
    };
    let verdict = route.verify.verify(&verifier, &input).await?;
    count(verdict.code);
    answer(&verdict, Utc::now())
}

/// `X-Locksmith-Scopes`: scope names separated by commas or spaces.
fn scopes(headers: &HeaderMap) -> Result<Vec<Scope>, Problem> {
    let names: Vec<String> = headers
        .get_all(SCOPES_HEADER)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| Problem::invalid(SCOPES_HEADER, "is not text"))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flat_map(|v| v.split([',', ' ']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // A proxy's configuration that names a scope twice asks for it once.
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    Ok(Scope::parse_list(SCOPES_HEADER, &unique)?)
}

/// `X-Locksmith-Cost`, 1 when absent.
fn cost(headers: &HeaderMap) -> Result<u32, Problem> {
    match headers.get(COST_HEADER).filter(|v| !v.is_empty()) {
        None => Ok(1),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or_else(|| Problem::invalid(COST_HEADER, "must be a whole number from 0 to 1000")),
    }
}

/// The end user's address (see the module's documentation). `behind_own_proxy`: the
/// request came through Locksmith's trusted proxies, whose hops `X-Forwarded-For` holds.
fn client_ip(headers: &HeaderMap, behind_own_proxy: bool) -> Result<Option<IpAddr>, Problem> {
    for name in [CLIENT_IP_HEADER, ENVOY_EXTERNAL_ADDRESS] {
        if let Some(value) = headers.get(name).filter(|v| !v.is_empty()) {
            return value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
                .map(Some)
                .ok_or_else(|| Problem::invalid(name, "is not an IPv4 or IPv6 address"));
        }
    }
    if behind_own_proxy {
        return Ok(None);
    }
    // The right-most element: the address the proxy itself appended.
    Ok(headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|e| !e.is_empty())
        .and_then(|e| e.parse::<IpAddr>().ok()))
}

/// The verdict as a status and headers.
fn answer(verdict: &Verdict, now: DateTime<Utc>) -> Result<Response, Problem> {
    let seconds_until = |at: DateTime<Utc>| ((at - now).num_milliseconds().max(0) + 999) / 1000;
    let refused = |status, code, detail: &str| Err(Problem::new(status, code, detail.to_owned()));
    let key = match (verdict.code, verdict.key.as_ref()) {
        (Code::Valid, Some(key)) => &key.row,
        (Code::NotFound, _) | (Code::Valid, None) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "not_found",
                "The key is not valid.",
            );
        }
        (Code::Revoked, _) => {
            return refused(StatusCode::FORBIDDEN, "revoked", "The key is revoked.");
        }
        (Code::Disabled, _) => {
            return refused(StatusCode::FORBIDDEN, "disabled", "The key is disabled.");
        }
        (Code::Expired, _) => {
            return refused(StatusCode::FORBIDDEN, "expired", "The key has expired.");
        }
        (Code::ForbiddenIp, _) => {
            return refused(
                StatusCode::FORBIDDEN,
                "forbidden_ip",
                "The key may not be used from this address.",
            );
        }
        (Code::InsufficientScopes, _) => {
            return refused(
                StatusCode::FORBIDDEN,
                "insufficient_scopes",
                "The key does not grant what this request needs.",
            );
        }
        (code @ (Code::RateLimited | Code::QuotaExceeded), _) => {
            let (code, detail) = if code == Code::RateLimited {
                ("rate_limited", "The key's rate limit is reached.")
            } else {
                ("quota_exceeded", "The key's quota is spent.")
            };
            let mut problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, code, detail);
            if let Some(at) = verdict.retry_at {
                problem = problem.with_retry_after(seconds_until(at).unsigned_abs());
            }
            return Err(problem);
        }
    };
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-locksmith-key-id", key.id.to_string());
    set("x-locksmith-owner-id", key.owner_id.to_string());
    let granted: Vec<&str> = key.scopes.iter().map(Scope::as_str).collect();
    set("x-locksmith-scopes", granted.join(","));
    // The limit nearer to running out: a rate limit's window, or the quota's period.
    let rate = verdict.rate.map(|(limit, check)| {
        (
            i64::from(limit.limit),
            i64::from(check.remaining),
            Some(check.reset_at),
        )
    });
    let quota = verdict.quota.map(|q| (q.limit, q.remaining, q.resets_at));
    let nearest = match (rate, quota) {
        (Some(r), Some(q)) => Some(if q.1 < r.1 { q } else { r }),
        (r, q) => r.or(q),
    };
    if let Some((limit, remaining, reset)) = nearest {
        set("ratelimit-limit", limit.to_string());
        set("ratelimit-remaining", remaining.max(0).to_string());
        if let Some(reset) = reset {
            set("ratelimit-reset", seconds_until(reset).to_string());
        }
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn the_client_address_comes_from_the_most_explicit_header() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        let all = headers(&[
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
            ("x-envoy-external-address", "192.0.2.7"),
            ("x-locksmith-client-ip", "192.0.2.1"),
        ]);
        assert_eq!(client_ip(&all, false).expect("ok"), ip("192.0.2.1"));
        let envoy = headers(&[("x-envoy-external-address", "192.0.2.7")]);
        assert_eq!(client_ip(&envoy, true).expect("ok"), ip("192.0.2.7"));
        // A client prepends what it likes; the proxy appends the truth.
        let forwarded = headers(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_ip(&forwarded, false).expect("ok"), ip("203.0.113.9"));
        assert_eq!(
            client_ip(&forwarded, true).expect("ok"),
            None,
            "our own proxies' hops"
        );
        assert_eq!(client_ip(&HeaderMap::new(), false).expect("ok"), None);
        assert!(client_ip(&headers(&[("x-locksmith-client-ip", "nope")]), false).is_err());
    }

    #[test]
    fn scopes_and_cost_read_as_the_proxy_writes_them() {
        let h = headers(&[
            ("x-locksmith-scopes", "orders:read, orders:write"),
            ("x-locksmith-cost", "5"),
        ]);
        let names: Vec<String> = scopes(&h)
            .expect("scopes")
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        assert_eq!(names, ["orders:read", "orders:write"]);
        let twice = headers(&[("x-locksmith-scopes", "orders:read orders:read")]);
        assert_eq!(scopes(&twice).expect("once").len(), 1);
        assert_eq!(cost(&h).expect("cost"), 5);
        assert_eq!(cost(&HeaderMap::new()).expect("default"), 1);
        assert!(cost(&headers(&[("x-locksmith-cost", "-1")])).is_err());
        assert!(scopes(&headers(&[("x-locksmith-scopes", "BAD SCOPE!")])).is_err());
    }
}
