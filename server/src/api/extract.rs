//! Extractors whose rejections are problem details: JSON bodies, query strings, the
//! request's origin, pagination.

use std::net::SocketAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use locksmith_core::audit::{Origin, RequestIds};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::http::problem::Problem;

/// A JSON body; malformed JSON, a body that is not an object, or a wrong field is a 400
/// naming the field (its path, as `items[2].quota.limit`), a missing
/// `content-type: application/json` a 415, an oversized body a 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers().get(axum::http::header::CONTENT_TYPE)) {
            return Err(not_json());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE))?;
        json_object(&bytes).map(Self)
    }
}

/// The 415 for a body not sent as JSON.
pub(crate) fn not_json() -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "The body must be JSON, sent with content-type: application/json.",
    )
}

/// `application/json`, or any `application/…+json`, parameters allowed (as axum's
/// `Json` accepts).
pub(crate) fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .rsplit_once('+')
                .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json")))
}

/// A request body as `T`. Every body of the API is a JSON object: serde's derived
/// structs would also take an array as a positional object (`["a", 3]`), so anything
/// that does not start with `{` is refused before `T` sees it. A wrong value is named by
/// its path; JSON that does not parse is said to be so.
pub(crate) fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let invalid = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_request", detail);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(invalid("body: is empty; send a JSON object".into())),
        Some(_) => {
            return Err(invalid(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Ok(_) => "body: must be a JSON object".into(),
                    Err(e) => format!("The body is not valid JSON: {e}"),
                },
            ));
        }
    }
    // Read once without tracking paths (the verification hot path comes through here);
    // only a body that fails is read again, to name the failing field.
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(e) if e.is_syntax() || e.is_eof() => {
            Err(invalid(format!("The body is not valid JSON: {e}")))
        }
        Err(e) => {
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            Err(
                match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
                    Err(tracked) if tracked.path().to_string() != "." => {
                        Problem::invalid(tracked.path().to_string(), tracked.inner())
                    }
                    Err(tracked) => invalid(tracked.inner().to_string()),
                    Ok(_) => invalid(e.to_string()),
                },
            )
        }
    }
}

/// `value` as `T`, an error naming the failing field's path: for bodies read in two
/// steps (an internally tagged enum's variant, whose path serde cannot follow).
pub(crate) fn from_value_at_path<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        at_path(&path, e.inner())
    })
}

/// `path: message`; a message about the whole body (path `.`) names its field itself
/// (serde's "missing field `name`") or needs no path.
fn at_path(path: &str, message: &impl std::fmt::Display) -> String {
    if path == "." {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

/// Like [`ApiJson`], but an empty body (with or without a content type) is `T::default()`:
/// for actions whose body is all optional, such as `POST /v1/keys/{id}/revoke`.
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, crate::http::body::BODY_LIMIT)
            .await
            .map_err(|_| Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(value)| Self(value))
    }
}

/// An id in the path; anything that is not a UUID cannot name an object, so it is a 404.
pub fn path_id(raw: &str) -> Result<uuid::Uuid, Problem> {
    uuid::Uuid::parse_str(raw).map_err(|_| Problem::from(locksmith_core::Error::NotFound))
}

/// A query string; a malformed one is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        // No parameter of the API holds control characters (a NUL cannot even reach
        // PostgreSQL): refused here, whatever the parameter, naming it.
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(_, value)| value.chars().any(char::is_control))
        {
            return Err(Problem::invalid(
                name,
                "must not contain control characters",
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_problem(&rejection)),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        rejection
            .body_text()
            .replace("Failed to deserialize query string: ", "query: "),
    )
}

/// Where the request came from, for audit rows.
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ids = parts.extensions.get::<RequestIds>();
        Ok(Self(Origin {
            source_ip,
            request_id: ids.map(|ids| ids.server.clone()),
            client_request_id: ids.and_then(|ids| ids.client.clone()),
        }))
    }
}

/// `?limit=&cursor=`: 1 to 200 items, 50 by default.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The validated limit.
    pub fn limit(&self) -> Result<i64, Problem> {
        page_limit(self.limit)
    }

    /// The cursor parsed as `T`; a malformed cursor is a 400.
    pub fn cursor<T: std::str::FromStr>(&self) -> Result<Option<T>, Problem> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse()
                    .map_err(|_| Problem::invalid("cursor", "not a cursor from a previous page"))
            })
            .transpose()
    }
}

/// A list's `?limit=`: 1 to 200, 50 when absent.
pub fn page_limit(limit: Option<i64>) -> Result<i64, Problem> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=200) => Ok(n),
        Some(_) => Err(Problem::invalid("limit", "must be between 1 and 200")),
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page whose next cursor is taken from the last item when the page is full.
    pub fn new(items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let full = usize::try_from(limit).is_ok_and(|l| items.len() == l);
        let next_cursor = if full {
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

/// For PATCH bodies: distinguishes an absent field (`None`) from an explicit `null`
/// (`Some(None)`).
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Item {
        name: String,
        limit: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Body {
        ids: Vec<uuid::Uuid>,
        items: Option<Vec<Item>>,
    }

    fn detail(bytes: &str) -> String {
        let problem = json_object::<Body>(bytes.as_bytes()).expect_err("refused");
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        problem.detail
    }

    #[test]
    fn json_content_types_as_axum_accepts_them() {
        let json = |v: &'static str| is_json(Some(&axum::http::HeaderValue::from_static(v)));
        assert!(json("application/json"));
        assert!(json("application/json; charset=utf-8"));
        assert!(json("application/json;charset=utf-8"));
        assert!(json("Application/JSON"));
        assert!(json("application/cloudevents+json"));
        assert!(!json("text/json"));
        assert!(!json("application/jsonx"));
        assert!(!json("application/x-www-form-urlencoded"));
        assert!(!json("json"));
        assert!(!is_json(None));
    }

    #[test]
    fn only_an_object_is_a_body() {
        // A derived struct would take this array as a positional `Body`.
        assert_eq!(
            detail(r#"[["00000000-0000-0000-0000-000000000000"], null]"#),
            "body: must be a JSON object"
        );
        assert_eq!(detail(" 3"), "body: must be a JSON object");
        assert_eq!(detail("null"), "body: must be a JSON object");
        assert_eq!(detail(r#""ids""#), "body: must be a JSON object");
        assert_eq!(detail("  "), "body: is empty; send a JSON object");
        assert!(detail("[1,").starts_with("The body is not valid JSON"));
        assert!(json_object::<Body>(br#" {"ids": []} "#).is_ok());
    }

    #[test]
    fn a_wrong_value_is_named_by_its_path() {
        assert!(detail(r#"{"ids": "x"}"#).starts_with("ids: invalid type: string"));
        assert!(detail(r#"{"ids": null}"#).starts_with("ids: invalid type: null"));
        assert!(detail(r#"{"ids": ["nope"]}"#).starts_with("ids[0]: "));
        assert!(
            detail(r#"{"ids": [], "items": [{"name": "a"}, {"name": 3}]}"#)
                .starts_with("items[1].name: invalid type: integer")
        );
        assert!(detail(r#"{"ids": [], "extra": 1}"#).contains("unknown field `extra`"));
        assert!(detail(r#"{}"#).contains("missing field `ids`"));
        assert!(detail(r#"{"ids": []} x"#).starts_with("The body is not valid JSON"));
        assert!(detail(r#"{"ids": [}"#).starts_with("The body is not valid JSON"));
    }

    proptest! {
        /// Whatever the bytes, the reader answers (a value or a 400), never panics.
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Err(problem) = json_object::<Body>(&bytes) {
                prop_assert_eq!(problem.status, StatusCode::BAD_REQUEST);
                prop_assert!(!problem.detail.is_empty());
            }
        }

        /// Any JSON that is not an object is refused as such, whatever `T` would take.
        #[test]
        fn no_json_but_an_object_is_a_body(value in json_value()) {
            prop_assume!(!value.is_object());
            let text = value.to_string();
            let problem = json_object::<serde_json::Value>(text.as_bytes()).expect_err("refused");
            prop_assert_eq!(problem.detail.as_str(), "body: must be a JSON object");
        }

        /// A path in a detail is one the body really has: a string where an id goes is
        /// named by its index.
        #[test]
        fn the_failing_index_is_named(good in 0usize..20, text in "[a-z]{1,8}") {
            let mut ids: Vec<serde_json::Value> = (0..good)
                .map(|_| serde_json::Value::from(uuid::Uuid::nil().to_string()))
                .collect();
            ids.push(serde_json::Value::from(text));
            let body = serde_json::json!({ "ids": ids }).to_string();
            let detail = detail(&body);
            let expected = format!("ids[{good}]: ");
            prop_assert!(detail.starts_with(&expected), "{}", detail);
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[ -~]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
