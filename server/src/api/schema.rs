//! Schemas the OpenAPI document names that are not a Rust type of the API's own: what the
//! handlers' bodies point at with `value_type`.

/// A scope, as the document describes it (the server parses `core::scope::Scope`): 1 to
/// 64 characters of `a-z 0-9 : . _ / * -`, starting with a letter or digit.
#[derive(utoipa::ToSchema)]
#[schema(example = "read:orders", pattern = "^[a-z0-9][a-z0-9:._/*-]{0,63}$")]
pub struct ScopeName(pub String);
