//! Leak intake: `POST /v1/leaks/github` (GitHub secret scanning's partner format, signed)
//! and `POST /v1/leaks` (a leak-reporter token); and the leak-reporter tokens themselves
//! (`/v1/leak-reporters`, admins).
//!
//! Neither intake endpoint says more about a reported string than its label; the strings
//! are never logged or stored (the answers name them by their SHA-256).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use locksmith_core::leaks::{
    CreatedLeakReporter, Label, LeakReporter, LeakVerdict, MAX_NOTE, ReportedLeak, Reporter,
    SignatureError,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use super::extract::{ApiJson, RequestOrigin, is_json, json_object, not_json, path_id};
use super::no_store::NoStore;
use crate::auth::{AuthUser, bearer};
use crate::http::problem::{Problem, ProblemBody};
use crate::state::AppState;

/// The longest reported string looked at (keys are far shorter).
const MAX_REPORTED: usize = 1000;
/// Most matches in one GitHub alert.
const MAX_GITHUB_ITEMS: usize = 1000;

/// `POST /v1/leaks` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// 1 to 100 strings found published.
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<LeakedItem>,
}

/// One string found published.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakedItem {
    /// The string: perhaps a key of this installation.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 1000)]
    key: SecretString,
    /// Where it was found.
    #[schema(max_length = 2000)]
    url: Option<String>,
    /// The kind of place (`content`, `commit`, `issue`, `paste`, …).
    #[schema(max_length = 2000)]
    source: Option<String>,
}

/// The verdicts, in the order of the items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeakAnswer {
    items: Vec<LeakVerdict>,
}

/// One match in a GitHub secret-scanning alert.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GithubMatch {
    /// The matched string.
    #[schema(value_type = String, format = Password)]
    token: SecretString,
    /// The token type registered with GitHub.
    #[serde(rename = "type")]
    token_type: String,
    /// Where GitHub found it.
    url: Option<String>,
    /// The kind of place (`content`, `commit`, …).
    source: Option<String>,
}

/// The answer about one match, in GitHub's format.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GithubVerdict {
    /// Hex SHA-256 of the token.
    token_hash: String,
    /// The `type` of the match.
    token_type: String,
    label: Label,
}

fn unauthorized(code: &'static str, detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, code, detail.to_owned())
}

/// Checks each item's length before anything is looked up.
fn check_lengths<'a>(
    keys: impl Iterator<Item = &'a SecretString>,
    field: &str,
) -> Result<(), Problem> {
    for (i, key) in keys.enumerate() {
        let len = key.expose_secret().len();
        if len == 0 || len > MAX_REPORTED {
            return Err(Problem::invalid(
                format!("items[{i}].{field}"),
                format!("must be 1 to {MAX_REPORTED} characters"),
            ));
        }
    }
    Ok(())
}

/// Reports strings found published (a leak-reporter token). Each that is a key of this
/// installation is labelled `true_positive`; a live one becomes a `leaked` finding on
/// the key (audited, `key.leaked`), and its keyspace's leak policy is applied.
#[utoipa::path(post, path = "/v1/leaks", tag = "leaks", operation_id = "reportLeaks",
    request_body = LeakReport,
    responses(
        (status = 200, description = "A verdict per item, in order", body = LeakAnswer),
        (status = 400, description = "Malformed body (`detail` names the field)", body = ProblemBody),
        (status = 401, description = "Missing, invalid or revoked leak-reporter token", body = ProblemBody),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody),
        (status = 415, description = "Not JSON", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    body: Bytes,
) -> Result<NoStore<LeakAnswer>, Problem> {
    // The token first: nothing of the body is parsed for an unknown caller.
    let refused = || unauthorized("unauthorized", "Missing or invalid leak-reporter token.");
    let token = bearer(headers.get(header::AUTHORIZATION)).ok_or_else(refused)?;
    let reporter = state.leaks.authenticate(token).await?.ok_or_else(refused)?;
    if !is_json(headers.get(header::CONTENT_TYPE)) {
        return Err(not_json());
    }
    let body: LeakReport = json_object(&body)?;
    if !(1..=locksmith_core::leaks::MAX_ITEMS).contains(&body.items.len()) {
        return Err(Problem::invalid("items", "must hold 1 to 100 items"));
    }
    check_lengths(body.items.iter().map(|i| &i.key), "key")?;
    for (i, item) in body.items.iter().enumerate() {
        for (field, text) in [("url", &item.url), ("source", &item.source)] {
            if text.as_ref().is_some_and(|t| t.chars().count() > MAX_NOTE) {
                return Err(Problem::invalid(
                    format!("items[{i}].{field}"),
                    format!("must be at most {MAX_NOTE} characters"),
                ));
            }
        }
    }
    let items: Vec<ReportedLeak> = body
        .items
        .into_iter()
        .map(|i| ReportedLeak {
            token: i.key,
            url: i.url,
            source: i.source,
        })
        .collect();
    let items = state
        .leaks
        .report(&Reporter::Token(reporter), &items, &origin)
        .await?;
    Ok(NoStore(StatusCode::OK, LeakAnswer { items }))
}

/// GitHub secret scanning's partner endpoint: a JSON array of matches, signed by GitHub
/// (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: ECDSA P-256 SHA-256
/// over the raw body). The signature is checked before the body is read as JSON.
#[utoipa::path(post, path = "/v1/leaks/github", tag = "leaks", operation_id = "reportGithubLeaks",
    request_body(content = Vec<GithubMatch>, description = "GitHub's alert: an array of matches"),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The signing key among GitHub's published keys"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the ASN.1 DER ECDSA signature of the raw body"),
    ),
    responses(
        (status = 200, description = "A verdict per match, in order", body = Vec<GithubVerdict>),
        (status = 400, description = "A signed body that is not GitHub's format", body = ProblemBody),
        (status = 401, description = "Missing or malformed signature headers, an unknown key identifier, or a signature that does not match the body", body = ProblemBody),
        (status = 404, description = "GitHub secret scanning is not configured here", body = ProblemBody),
        (status = 413, description = "Body over 64 KiB", body = ProblemBody),
        (status = 415, description = "Not JSON", body = ProblemBody),
        (status = 503, description = "GitHub's signing keys cannot be read now; GitHub retries", body = ProblemBody),
    ))]
pub async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    body: Bytes,
) -> Result<NoStore<Vec<GithubVerdict>>, Problem> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let (identifier, signature) = (
        text("github-public-key-identifier"),
        text("github-public-key-signature"),
    );
    if identifier.is_empty() || signature.is_empty() {
        return Err(unauthorized(
            "invalid_signature",
            "Github-Public-Key-Identifier and Github-Public-Key-Signature are required.",
        ));
    }
    let Some(keys) = state.leaks.github() else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "GitHub secret scanning is not configured on this installation (LOCKSMITH_GITHUB_SECRET_SCANNING_KEYS).",
        ));
    };
    if !is_json(headers.get(header::CONTENT_TYPE)) {
        return Err(not_json());
    }
    let checked = keys.check(identifier, signature, &body).await;
    match checked {
        Ok(()) => {}
        Err(SignatureError::KeysUnavailable(_)) => {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "signing_keys_unavailable",
                "GitHub's signing keys cannot be read now; try again later.",
            ));
        }
        Err(err) => {
            metrics::counter!("leak_signatures_refused_total").increment(1);
            return Err(unauthorized("invalid_signature", &err.to_string()));
        }
    }
    let matches: Vec<GithubMatch> = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("The body is not an array of matches: {e}"),
        )
    })?;
    if matches.len() > MAX_GITHUB_ITEMS {
        return Err(Problem::invalid(
            "body",
            format!("at most {MAX_GITHUB_ITEMS} matches"),
        ));
    }
    check_lengths(matches.iter().map(|m| &m.token), "token")?;
    let mut types = Vec::with_capacity(matches.len());
    let items: Vec<ReportedLeak> = matches
        .into_iter()
        .map(|m| {
            types.push(m.token_type);
            ReportedLeak {
                token: m.token,
                url: m.url,
                source: m.source,
            }
        })
        .collect();
    let verdicts = state
        .leaks
        .report(&Reporter::Github, &items, &origin)
        .await?;
    Ok(NoStore(
        StatusCode::OK,
        verdicts
            .into_iter()
            .zip(types)
            .map(|(v, token_type)| GithubVerdict {
                token_hash: v.token_hash,
                token_type,
                label: v.label,
            })
            .collect(),
    ))
}

/// `POST /v1/leak-reporters` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLeakReporter {
    /// A name for people, e.g. the scanner: 1 to 100 characters, not blank, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    )]
    name: String,
}

/// Issues a leak-reporter token (admin), for `POST /v1/leaks`. The token is in this
/// answer only.
#[utoipa::path(post, path = "/v1/leak-reporters", tag = "leaks", operation_id = "createLeakReporter",
    request_body = CreateLeakReporter,
    responses(
        (status = 201, description = "Issued; `token` is shown this once", body = CreatedLeakReporter),
        (status = 400, description = "Invalid field", body = ProblemBody),
        (status = 403, description = "Not an admin", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn create_reporter(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    ApiJson(body): ApiJson<CreateLeakReporter>,
) -> Result<NoStore<CreatedLeakReporter>, Problem> {
    let created = state
        .leaks
        .create_reporter(caller.actor(), &body.name, &origin)
        .await?;
    Ok(NoStore(StatusCode::CREATED, created))
}

/// The leak-reporter tokens (admins, auditors), oldest first.
#[utoipa::path(get, path = "/v1/leak-reporters", tag = "leaks", operation_id = "listLeakReporters",
    responses(
        (status = 200, description = "Every leak reporter", body = Vec<LeakReporter>),
        (status = 403, description = "Not an admin or auditor", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn list_reporters(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<Vec<LeakReporter>>, Problem> {
    Ok(Json(state.leaks.list_reporters(caller.actor()).await?))
}

/// Revokes a leak-reporter token (admin); idempotent.
#[utoipa::path(delete, path = "/v1/leak-reporters/{id}", tag = "leaks", operation_id = "revokeLeakReporter",
    params(("id" = Uuid, Path, description = "Leak reporter id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 403, description = "Not an admin", body = ProblemBody),
        (status = 404, description = "No such leak reporter", body = ProblemBody),
    ),
    security(("bearer" = [])))]
pub async fn revoke_reporter(
    State(state): State<AppState>,
    caller: AuthUser,
    RequestOrigin(origin): RequestOrigin,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    state
        .leaks
        .revoke_reporter(caller.actor(), path_id(&id)?, &origin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
