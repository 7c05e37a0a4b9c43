//! Authentication for the REST API: JWT access tokens and the `AuthUser` extractor.

pub mod extractor;
pub mod jwt;

pub use extractor::{AuthUser, bearer, bearer_token};
pub use jwt::{Claims, JwtKeys};
