//! What a verification asks besides the key: [`VerifyRequest`], and its wire form.

use std::net::IpAddr;

use serde::Serialize;

/// What a verification asks for besides the key itself: the scopes the key must grant,
/// the quota it spends, and the end user's address.
///
/// ```
/// use locksmith_client::VerifyRequest;
///
/// let request = VerifyRequest::new()
///     .scope("orders:write")
///     .cost(5)
///     .client_ip("203.0.113.7".parse()?);
/// assert_eq!(request.scopes, ["orders:write"]);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifyRequest {
    /// Scopes the key must grant (a granted `orders:*` covers `orders:read`). Empty: any
    /// key of the keyspace will do.
    pub scopes: Vec<String>,
    /// Quota credits a `VALID` answer spends, 0 to 1000 (default 1). Keys without a
    /// quota ignore it.
    pub cost: u32,
    /// The end user's address as the calling service saw it; checked against the key's
    /// IP allowlist. A key with an allowlist is `FORBIDDEN_IP` without it.
    pub client_ip: Option<IpAddr>,
}

impl Default for VerifyRequest {
    fn default() -> Self {
        Self {
            scopes: Vec::new(),
            cost: 1,
            client_ip: None,
        }
    }
}

impl VerifyRequest {
    /// No scopes, a cost of 1, no client address.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scope the key must grant.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds scopes the key must grant.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Sets the quota credits a `VALID` answer spends (0 to 1000; the server refuses
    /// more with a 400).
    #[must_use]
    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }

    /// Sets the end user's address.
    #[must_use]
    pub fn client_ip(mut self, client_ip: IpAddr) -> Self {
        self.client_ip = Some(client_ip);
        self
    }
}

/// The JSON body of `POST /v1/verify`, and of each item of a batch.
#[derive(Debug, Serialize)]
pub(crate) struct WireRequest<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes: &'a [String],
    cost: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<IpAddr>,
}

impl<'a> WireRequest<'a> {
    pub(crate) fn new(key: &'a str, request: &'a VerifyRequest) -> Self {
        Self {
            key,
            scopes: &request.scopes,
            cost: request.cost,
            client_ip: request.client_ip,
        }
    }
}

/// The JSON body of `POST /v1/verify/batch`.
#[derive(Debug, Serialize)]
pub(crate) struct WireBatch<'a> {
    pub(crate) items: Vec<WireRequest<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_leaves_out_what_is_not_asked() {
        let bare = VerifyRequest::new();
        assert_eq!(
            serde_json::to_value(WireRequest::new("lsk_x", &bare)).expect("json"),
            serde_json::json!({"key": "lsk_x", "cost": 1})
        );
        let full = VerifyRequest::new()
            .scopes(["orders:read", "orders:write"])
            .cost(0)
            .client_ip("2001:db8::1".parse().expect("ip"));
        assert_eq!(
            serde_json::to_value(WireRequest::new("lsk_x", &full)).expect("json"),
            serde_json::json!({
                "key": "lsk_x",
                "scopes": ["orders:read", "orders:write"],
                "cost": 0,
                "client_ip": "2001:db8::1"
            })
        );
    }
}
