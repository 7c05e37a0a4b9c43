//! The HTTP section: where to listen, the public URL, CORS, cookies and timeouts.

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use super::raw::Raw;
use super::{ConfigError, HttpSettings, Profile};
use crate::http::client_address::TrustedProxies;

impl Raw {
    pub(super) fn host(&self) -> Result<IpAddr, ConfigError> {
        self.host.parse().map_err(|_| {
            ConfigError::setting("host", "must be an IP address such as 127.0.0.1 or 0.0.0.0")
        })
    }

    pub(super) fn public_url(&self) -> Result<Option<Url>, ConfigError> {
        self.public_url
            .as_deref()
            .map(|raw| {
                let url = Url::parse(raw)
                    .map_err(|e| ConfigError::setting("public_url", format!("not a URL ({e})")))?;
                match url.scheme() {
                    "http" | "https" if url.host().is_some() => Ok(url),
                    _ => Err(ConfigError::setting(
                        "public_url",
                        "must be an http:// or https:// URL with a host",
                    )),
                }
            })
            .transpose()
    }

    /// Cookies are `Secure` in production unless told otherwise, and plain-HTTP cookies
    /// there need an explicit acceptance of the risk.
    pub(super) fn http(&self) -> Result<HttpSettings, ConfigError> {
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::setting(
                "request_timeout_secs",
                "must be at least 1",
            ));
        }
        let cors_allowed_origins = self
            .cors_allowed_origins
            .as_deref()
            .map(parse_origins)
            .transpose()?
            .unwrap_or_default();
        let production = self.profile == Profile::Production;
        let cookie_secure = self.cookie_secure.unwrap_or(production);
        if production && !cookie_secure && !self.allow_insecure_cookies {
            return Err(ConfigError::setting(
                "cookie_secure",
                "plain-HTTP cookies are refused in production; serve over HTTPS, \
                 or set LOCKSMITH_ALLOW_INSECURE_COOKIES=true to accept the risk",
            ));
        }
        let trusted_proxies = TrustedProxies::new(
            self.trusted_proxies
                .as_deref()
                .map(parse_networks)
                .transpose()?
                .unwrap_or_default(),
            self.forwarded_header,
        );
        Ok(HttpSettings {
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            cors_allowed_origins,
            cookie_secure,
            trusted_proxies,
        })
    }
}

fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let url = Url::parse(origin).map_err(|_| {
                ConfigError::setting(
                    "cors_allowed_origins",
                    format!("`{origin}` is not an origin"),
                )
            })?;
            let is_origin = matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && !origin.ends_with('/');
            if !is_origin {
                return Err(ConfigError::setting(
                    "cors_allowed_origins",
                    format!("`{origin}` is not an origin like https://app.example.com"),
                ));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

/// `10.0.0.0/8, 192.168.1.10, ::1`: networks, a bare address being a network of one.
fn parse_networks(raw: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|net| {
            net.parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    ConfigError::setting(
                        "trusted_proxies",
                        format!("`{net}` is not an address or a network like 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}
