//! The tracing section: where spans are exported (OpenTelemetry, OTLP over HTTP).

use url::Url;

use super::raw::Raw;
use super::{ConfigError, TelemetrySettings};

impl Raw {
    pub(super) fn telemetry(&self) -> Result<TelemetrySettings, ConfigError> {
        let otel_endpoint = self
            .otel_endpoint
            .as_deref()
            .map(|raw| {
                let url = Url::parse(raw).map_err(|e| {
                    ConfigError::setting("otel_endpoint", format!("not a URL ({e})"))
                })?;
                match url.scheme() {
                    "http" if url.host().is_some() => Ok(url),
                    "https" => Err(ConfigError::setting(
                        "otel_endpoint",
                        "only http:// is supported: export to an OpenTelemetry Collector \
                         beside Locksmith (e.g. http://127.0.0.1:4318), which forwards \
                         over TLS",
                    )),
                    _ => Err(ConfigError::setting(
                        "otel_endpoint",
                        "must be the http:// base URL of an OTLP receiver, e.g. \
                         http://127.0.0.1:4318",
                    )),
                }
            })
            .transpose()?;
        if self.otel_service_name.trim().is_empty() {
            return Err(ConfigError::setting(
                "otel_service_name",
                "must not be empty",
            ));
        }
        Ok(TelemetrySettings {
            otel_endpoint,
            service_name: self.otel_service_name.clone(),
        })
    }
}
