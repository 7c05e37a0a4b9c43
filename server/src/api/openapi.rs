//! The OpenAPI 3.1 document of `/v1`, generated from the handlers and types themselves
//! (utoipa) and served at `/v1/openapi.json`. `docs/openapi.json` is a committed snapshot;
//! a test fails when the two drift apart, so every API change shows up in review.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{audit, auth, findings, keys, keyspaces, leaks, users, verify, webhooks};
use crate::http::ops;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Locksmith API",
        description = "Self-hosted API key management: keyspaces, keys, verification, users \
                       and the audit trail. Errors are RFC 9457 problem details \
                       (`application/problem+json`) with a stable `code` and the `request_id`.",
        license(name = "Apache-2.0"),
    ),
    paths(
        auth::token, auth::refresh, auth::logout,
        users::create, users::list, users::get, users::update, users::me,
        users::my_notifications, users::set_my_notifications,
        keyspaces::create, keyspaces::list, keyspaces::get, keyspaces::update,
        keyspaces::create_verifier, keyspaces::list_verifiers, keyspaces::revoke_verifier,
        keys::create, keys::list, keys::get, keys::update, keys::revoke, keys::rotate, keys::end_grace, keys::extend_grace, keys::lookup, keys::verifications, keys::bulk,
        keys::usage,
        verify::verify_key, verify::batch::verify_batch, verify::authz::authorize,
        verify::invalidations::stream, verify::usage::report,
        audit::list,
        findings::list, findings::summary, findings::get, findings::acknowledge,
        leaks::report, leaks::github, leaks::create_reporter, leaks::list_reporters, leaks::revoke_reporter,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::replay, webhooks::deliveries,
        webhooks::retry,
        ops::healthz, ops::readyz,
    ),
    components(schemas(
        locksmith_core::usage::Granularity,
        super::schema::ScopeName,
        super::schema::EventType,
        super::schema::ScopeList,
        super::schema::IpAddress,
        super::schema::Cost,
        super::schema::KeyHeader,
        locksmith_core::audit::Action,
        locksmith_core::findings::FindingKind,
        findings::FindingStatus,
        locksmith_core::events::Event,
        verify::invalidations::Ready,
        verify::invalidations::KeyChanged
    )),
    modifiers(&BearerAuth, &OptionalBodies, &HeadersAreNeverNull, &CommonResponses, &Links, &ClosedBulkVariants),
    tags(
        (name = "auth", description = "Access and refresh tokens"),
        (name = "users", description = "Users and roles (admin)"),
        (name = "keyspaces", description = "Keyspaces and their verifier tokens"),
        (name = "keys", description = "API keys"),
        (name = "verify", description = "Key verification, for services (verifier tokens)"),
        (name = "audit", description = "The audit trail"),
        (name = "findings", description = "Leaks and unusual use found on keys"),
        (name = "leaks", description = "Leak reports (GitHub secret scanning, other scanners) and leak-reporter tokens"),
        (name = "webhooks", description = "Subscriptions to events, signed deliveries and their log"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The bulk body's variants refuse unknown fields (`deny_unknown_fields`), which utoipa
/// does not carry into an internally tagged enum's variants.
struct ClosedBulkVariants;

impl Modify for ClosedBulkVariants {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(RefOr::T(Schema::OneOf(variants))) = doc
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("BulkRequest"))
        else {
            return;
        };
        for variant in &mut variants.items {
            if let RefOr::T(Schema::Object(object)) = variant {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
}

/// A header is present or absent, never `null`: an optional header's schema (utoipa
/// writes `Option<T>` as "T or null") is T.
struct HeadersAreNeverNull;

impl Modify for HeadersAreNeverNull {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for param in op.parameters.iter_mut().flatten() {
                    if !matches!(param.parameter_in, ParameterIn::Header) {
                        continue;
                    }
                    let Some(schema) = param.schema.as_mut() else {
                        continue;
                    };
                    let replacement = match &*schema {
                        RefOr::T(Schema::OneOf(one_of)) => one_of
                            .items
                            .iter()
                            .find(|s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null)))
                            .cloned(),
                        RefOr::T(Schema::Object(object)) => match &object.schema_type {
                            SchemaType::Array(types) => {
                                let kept: Vec<Type> = types.iter().filter(|t| **t != Type::Null).cloned().collect();
                                let mut object = object.clone();
                                object.schema_type = match kept.as_slice() {
                                    [only] => SchemaType::Type(only.clone()),
                                    _ => SchemaType::Array(kept),
                                };
                                Some(RefOr::T(Schema::Object(object)))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some(replacement) = replacement {
                        *schema = replacement;
                    }
                }
            }
        }
    }
}

/// Bodies that may be left out entirely (an empty body means `{}`).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for path in [
            "/v1/keys/{id}/revoke",
            "/v1/keys/{id}/rotate",
            "/v1/webhooks/{id}/rotate-secret",
        ] {
            if let Some(body) = doc
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.request_body.as_mut())
            {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// The answers every operation can give besides its own: problem details under their
/// real media type, 401 and 429 wherever a token is needed, 400, 413 and 415 wherever a
/// body is read.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in &mut doc.paths.paths {
            // Management calls are rate limited per caller; verification is not.
            let limited = path != "/v1/verify";
            for op in operations_mut(item) {
                for response in op.responses.responses.values_mut() {
                    if let utoipa::openapi::RefOr::T(response) = response
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        let is_problem = content
                            .schema
                            .as_ref()
                            .is_some_and(|s| matches!(s, utoipa::openapi::RefOr::Ref(r) if r.ref_location.ends_with("/Problem")));
                        let media = if is_problem {
                            PROBLEM_JSON
                        } else {
                            "application/json"
                        };
                        response.content.insert(media.to_owned(), content);
                    }
                }
                let mut add = |code: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                if op.security.is_some() {
                    add("401", "Missing, invalid or expired token");
                    if limited {
                        add("429", "Over the caller's rate limit; see retry-after");
                    }
                }
                let has_query =
                    op.parameters.iter().flatten().any(|p| {
                        matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                    });
                if has_query {
                    add(
                        "400",
                        "Malformed, unknown or out-of-range query parameter (named in `detail`)",
                    );
                }
                if op.request_body.is_some() {
                    add("400", "Malformed or invalid body; `detail` names the field");
                    add("413", "Body over 64 KiB");
                    add("415", "Body not sent as application/json");
                }
            }
        }
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

/// The operations of a path item, whatever their method.
fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// `(operation, status, link name, target operation, [(target parameter, expression)])`.
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// OpenAPI links from each operation that creates something to the operations that take
/// its id, so that clients (and Schemathesis' stateful phase) can follow a created
/// object through its life.
const LINKS: &[LinkSpec] = &[
    (
        "createKey",
        "201",
        "GetKey",
        "getKey",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKey",
        "201",
        "UpdateKey",
        "updateKey",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKey",
        "201",
        "RotateKey",
        "rotateKey",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKey",
        "201",
        "RevokeKey",
        "revokeKey",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKey",
        "201",
        "GetKeyVerifications",
        "getKeyVerifications",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKey",
        "201",
        "GetKeyUsage",
        "getKeyUsage",
        &[("id", "$response.body#/id")],
    ),
    (
        "rotateKey",
        "201",
        "GetNewKey",
        "getKey",
        &[("id", "$response.body#/id")],
    ),
    (
        "rotateKey",
        "201",
        "EndOldKeyGrace",
        "endKeyGrace",
        &[("id", "$response.body#/previous/id")],
    ),
    (
        "rotateKey",
        "201",
        "ExtendOldKeyGrace",
        "extendKeyGrace",
        &[("id", "$response.body#/previous/id")],
    ),
    (
        "rotateKey",
        "201",
        "RevokeNewKey",
        "revokeKey",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKeyspace",
        "201",
        "GetKeyspace",
        "getKeyspace",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKeyspace",
        "201",
        "CreateVerifier",
        "createVerifier",
        &[("id", "$response.body#/id")],
    ),
    (
        "createKeyspace",
        "201",
        "ListVerifiers",
        "listVerifiers",
        &[("id", "$response.body#/id")],
    ),
    (
        "createVerifier",
        "201",
        "RevokeVerifier",
        "revokeVerifier",
        &[
            ("id", "$request.path.id"),
            ("verifier_id", "$response.body#/id"),
        ],
    ),
    (
        "createUser",
        "201",
        "GetUser",
        "getUser",
        &[("id", "$response.body#/id")],
    ),
    (
        "createUser",
        "201",
        "UpdateUser",
        "updateUser",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "GetWebhook",
        "getWebhook",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "UpdateWebhook",
        "updateWebhook",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "TestWebhook",
        "testWebhook",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "ListWebhookDeliveries",
        "listWebhookDeliveries",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "ReplayWebhook",
        "replayWebhook",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "RotateWebhookSecret",
        "rotateWebhookSecret",
        &[("id", "$response.body#/id")],
    ),
    (
        "createWebhook",
        "201",
        "DeleteWebhook",
        "deleteWebhook",
        &[("id", "$response.body#/id")],
    ),
];

struct Links;

impl Modify for Links {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::link::LinkBuilder;
        for item in doc.paths.paths.values_mut() {
            for op in operations_mut(item) {
                let Some(id) = op.operation_id.clone() else {
                    continue;
                };
                for (_, status, name, target, parameters) in
                    LINKS.iter().filter(|(source, ..)| *source == id)
                {
                    let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
                        continue;
                    };
                    let link = parameters
                        .iter()
                        .fold(LinkBuilder::new().operation_id(*target), |link, (p, e)| {
                            link.parameter(*p, *e)
                        })
                        .description(format!("The created object's id, for `{target}`"))
                        .build();
                    response.links.insert((*name).to_owned(), RefOr::T(link));
                }
            }
        }
    }
}

/// The document as served (and as snapshotted in `docs/openapi.json`).
pub fn pretty_json() -> String {
    let mut doc = ApiDoc::openapi();
    // The crate's version would churn the snapshot on every release; the API is v1.
    doc.info.version = "1".into();
    // utoipa 5 writes a link's `operationId` in snake case, which OpenAPI tools do not
    // read. No schema has a property of that name, so the key is mended in the text
    // (keeping the document's order); the tools test fails if that ever changes.
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    add_webhooks(&mut value);
    serde_json::to_string_pretty(&value)
        .unwrap_or_default()
        .replace("\"operation_id\": \"", "\"operationId\": \"")
}

/// The OpenAPI 3.1 `webhooks` section (utoipa 5 has no model of it): one entry per
/// event type, the POST Locksmith makes with its headers and body, the body's `data`
/// taken from the `Event` schema's variant of that type.
fn add_webhooks(doc: &mut serde_json::Value) {
    use serde_json::json;
    let variants = doc["components"]["schemas"]["Event"]["oneOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let header = |name: &str, description: &str| {
        json!({"name": name, "in": "header", "required": true, "description": description,
               "schema": {"type": "string"}})
    };
    let mut hooks = serde_json::Map::new();
    for variant in variants {
        let Some(kind) = variant["properties"]["type"]["enum"][0].as_str() else {
            continue;
        };
        let description = variant["description"].clone();
        let data = variant["properties"]["data"].clone();
        hooks.insert(
            kind.to_owned(),
            json!({"post": {
                "operationId": format!("event:{kind}"),
                "tags": ["webhooks"],
                "summary": kind,
                "description": description,
                "parameters": [
                    header("webhook-id", "The event's id: the same on every attempt (deduplicate on it)."),
                    header("webhook-timestamp", "Unix seconds of this attempt; refuse old ones (e.g. > 5 minutes)."),
                    header("webhook-signature", "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">` under the endpoint's secret (the bytes after `whsec_`, base64-decoded); two, space-separated, while a rotated secret overlaps."),
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["id", "type", "occurred_at", "position", "data"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "type": {"type": "string", "const": kind},
                        "occurred_at": {"type": "string", "format": "date-time"},
                        "position": {"type": "integer", "format": "int64", "description": "The event's position in the log: increasing, in commit order."},
                        "data": data,
                    },
                }}}},
                "responses": {
                    "2XX": {"description": "Received. Any other answer (or none within 10 s) is retried on the schedule; 410 switches the endpoint off."},
                },
            }}),
        );
    }
    if let Some(root) = doc.as_object_mut() {
        root.insert("webhooks".into(), serde_json::Value::Object(hooks));
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(pretty_json);

/// `GET /v1/openapi.json`.
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
