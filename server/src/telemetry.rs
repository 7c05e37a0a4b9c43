//! Logging and tracing: human-readable lines by default, JSON lines on request, and, when
//! `LOCKSMITH_OTEL_ENDPOINT` is set, the spans exported over OTLP (HTTP/protobuf) to an
//! OpenTelemetry collector (`http::trace_context` carries W3C `traceparent` across
//! requests and webhook deliveries). The log filter can be replaced while running
//! (`SIGHUP` with a new `log` setting).

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::{LogFormat, TelemetrySettings};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Flushes and stops the span exporter when dropped (at the end of `main`).
#[derive(Debug, Default)]
pub struct TelemetryGuard(Option<SdkTracerProvider>);

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The OTLP exporter and its provider, when an endpoint is configured.
fn otel_provider(settings: &TelemetrySettings) -> Option<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    let endpoint = settings.otel_endpoint.as_ref()?;
    let traces = endpoint
        .join("v1/traces")
        .map_or_else(|_| endpoint.to_string(), |u| u.to_string());
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces)
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("locksmith: cannot set up the OTLP exporter ({err}); spans are not exported");
            return None;
        }
    };
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(settings.service_name.clone())
                    .build(),
            )
            .build(),
    )
}

/// Installs the global subscriber (and, when configured, the span exporter). Safe to call
/// more than once (later calls are ignored), so that tests can build several applications
/// in one process.
pub fn init(format: LogFormat, filter: &str, telemetry: &TelemetrySettings) -> TelemetryGuard {
    let provider = otel_provider(telemetry);
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("locksmith"))
            .with_tracked_inactivity(false)
    });
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let installed = match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(true))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    // Every enclosing span: a line inside a service call still carries the
                    // request span's `request_id`.
                    .with_span_list(true),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
    TelemetryGuard(provider)
}

/// Replaces the filter of the subscriber [`init`] installed (validated at load time).
pub fn set_filter(filter: &str) -> Result<(), String> {
    let handle = FILTER
        .get()
        .ok_or_else(|| "logging was set up elsewhere".to_owned())?;
    let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    handle.reload(filter).map_err(|e| e.to_string())
}
