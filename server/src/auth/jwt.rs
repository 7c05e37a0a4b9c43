//! HS256 access tokens with `sub`, `role`, `jti`, `iat`, `exp` (and `fam`, the refresh
//! family, so that logout can revoke it). The algorithm is pinned on verification:
//! tokens claiming `none` or any other algorithm are refused.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use locksmith_core::identity::Role;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Access-token lifetime (the contract allows at most 15 minutes).
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

/// The claims Locksmith signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The role when the token was issued (authorisation reads the current one).
    pub role: Role,
    /// Token id, for revocation.
    pub jti: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The refresh-token family this token was issued with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<Uuid>,
}

/// Signing and verification keys derived from `LOCKSMITH_JWT_SECRET`.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys for `secret`, issuing tokens that live `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
        }
    }

    /// Signs a fresh token; returns it with its claims.
    pub fn issue(&self, user_id: Uuid, role: Role, family: Option<Uuid>) -> (String, Claims) {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            role,
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(900),
            fam: family,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default();
        (token, claims)
    }

    /// Verifies signature, algorithm and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// Seconds a new token lives.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::from(secret.to_owned()), ACCESS_TTL)
    }

    const A: &str = "a-test-secret-that-is-long-enough-0001";
    const B: &str = "a-test-secret-that-is-long-enough-0002";

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let (token, claims) = keys(A).issue(Uuid::new_v4(), Role::Owner, None);
        assert_eq!(keys(A).verify(&token), Some(claims));
        assert_eq!(keys(B).verify(&token), None);
    }

    #[test]
    fn lifetime_is_at_most_15_minutes() {
        let (_, claims) = keys(A).issue(Uuid::new_v4(), Role::Admin, None);
        assert!(claims.exp - claims.iat <= 15 * 60);
    }

    #[test]
    fn alg_none_is_refused() {
        let (token, _) = keys(A).issue(Uuid::new_v4(), Role::Admin, None);
        let payload = token.split('.').nth(1).expect("payload");
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(keys(A).verify(&format!("{header}.{payload}.")), None);
    }

    #[test]
    fn another_algorithm_is_refused() {
        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::Admin,
            jti: Uuid::new_v4(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 60,
            fam: None,
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(A.as_bytes()),
        )
        .expect("encode");
        assert_eq!(keys(A).verify(&hs512), None);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::Admin,
            jti: Uuid::new_v4(),
            iat: now - 120,
            exp: now - 60,
            fam: None,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(A.as_bytes()),
        )
        .expect("encode");
        assert_eq!(keys(A).verify(&token), None);
    }

    proptest::proptest! {
        /// Any string presented as a token is refused, never a panic.
        #[test]
        fn any_string_is_refused(raw in "\\PC{0,300}") {
            proptest::prop_assert_eq!(keys(A).verify(&raw), None);
        }

        /// Any three base64url segments (a token's shape, a forger's guess) are refused.
        #[test]
        fn any_token_shaped_string_is_refused(
            header in "[A-Za-z0-9_-]{0,60}",
            payload in "[A-Za-z0-9_-]{0,200}",
            signature in "[A-Za-z0-9_-]{0,86}",
        ) {
            proptest::prop_assert_eq!(keys(A).verify(&format!("{header}.{payload}.{signature}")), None);
        }

        /// Changing any one character of a real token makes it worthless.
        #[test]
        fn one_changed_character_is_refused(position in 0_usize..1000, replacement in "[A-Za-z0-9_-]") {
            let (token, _) = keys(A).issue(Uuid::new_v4(), Role::Admin, None);
            let position = position % token.len();
            proptest::prop_assume!(&token[position..=position] != "." && token[position..=position] != replacement);
            let forged = format!("{}{}{}", &token[..position], replacement, &token[position + 1..]);
            // A changed last character of a base64url segment can decode to the same bytes
            // (its low bits are padding): such a token is the same token.
            let same_bytes = |a: &str, b: &str| {
                a.split('.').zip(b.split('.')).all(|(x, y)| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x).ok()
                        == base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(y).ok()
                })
            };
            proptest::prop_assume!(!same_bytes(&token, &forged));
            proptest::prop_assert_eq!(keys(A).verify(&forged), None);
        }
    }
}
