//! Schemas the OpenAPI document names that are not a Rust type of the API's own: what the
//! handlers' bodies point at with `value_type`.

/// A scope, as the document describes it (the server parses `core::scope::Scope`): 1 to
/// 64 characters of `a-z 0-9 : . _ / * -`, starting with a letter or digit.
#[derive(utoipa::ToSchema)]
#[schema(example = "read:orders", pattern = "^[a-z0-9][a-z0-9:._/*-]{0,63}$")]
pub struct ScopeName(pub String);

/// A request header that carries keys, as `core::keys::key_header` accepts it: a header
/// name of 1 to 64 characters (any case), not one that means something to every proxy
/// (`host`, `cookie`, `content-length`...) nor one of Locksmith's own (`x-locksmith-*`).
#[derive(utoipa::ToSchema)]
#[schema(
    example = "x-api-key",
    pattern = r#"^(?!(?:[Hh][Oo][Ss][Tt]|[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]|[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee]|[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]|[Tt][Ee]|[Uu][Pp][Gg][Rr][Aa][Dd][Ee]|[Kk][Ee][Ee][Pp]-[Aa][Ll][Ii][Vv][Ee]|[Pp][Rr][Oo][Xx][Yy]-[Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Aa][Tt][Ii][Oo][Nn]|[Cc][Oo][Oo][Kk][Ii][Ee])$)(?![Xx]-[Ll][Oo][Cc][Kk][Ss][Mm][Ii][Tt][Hh]-)[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"#
)]
pub struct KeyHeader(pub String);

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

/// An IPv4 or IPv6 address (`203.0.113.7`, `2001:db8::1`), as the server parses
/// `std::net::IpAddr`.
pub struct IpAddress;

impl utoipa::PartialSchema for IpAddress {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        let family = |format: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom(format.to_owned())))
        };
        OneOfBuilder::new()
            .item(family("ipv4"))
            .item(family("ipv6"))
            .description(Some("An IPv4 or IPv6 address."))
            .into()
    }
}

impl utoipa::ToSchema for IpAddress {}

/// Scopes as a proxy lists them in a header: scope names separated by commas or spaces.
#[derive(utoipa::ToSchema)]
#[schema(
    example = "orders:read, orders:write",
    pattern = "^[a-z0-9][a-z0-9:._/*-]{0,63}(?:[ ,]+[a-z0-9][a-z0-9:._/*-]{0,63}){0,99}$"
)]
pub struct ScopeList(pub String);

/// Quota credits a `VALID` answer spends: 0 to 1000.
pub struct Cost;

impl utoipa::PartialSchema for Cost {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(1000))
            .description(Some("Quota credits a `VALID` answer spends: 0 to 1000."))
            .into()
    }
}

impl utoipa::ToSchema for Cost {}
