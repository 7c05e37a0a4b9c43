//! Schemas the OpenAPI document names that are not a Rust type of the API's own: what the
//! handlers' bodies point at with `value_type`.

/// A scope, as the document describes it (the server parses `core::scope::Scope`): 1 to
/// 64 characters of `a-z 0-9 : . _ / * -`, starting with a letter or digit.
#[derive(utoipa::ToSchema)]
#[schema(example = "read:orders", pattern = "^[a-z0-9][a-z0-9:._/*-]{0,63}$")]
pub struct ScopeName(pub String);

/// An event type, as a subscription names it; the OpenAPI `webhooks` section describes
/// each one's deliveries.
pub struct EventType;

impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An event type, as a subscription names it; the OpenAPI `webhooks` section \
                 describes each one's deliveries.",
            ))
            .enum_values(Some(locksmith_core::events::TYPES.iter().copied()))
            .into()
    }
}

impl utoipa::ToSchema for EventType {}
