//! W3C trace context (`traceparent`, `tracestate`): a request that carries one joins the
//! caller's trace, and an outgoing webhook delivery carries its own span's. Without an
//! OpenTelemetry exporter (see `telemetry`) spans have no trace context and nothing is
//! read or written.

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The caller's trace context from W3C `traceparent` / `tracestate`, made the parent of
/// `span` (nothing happens without them, or without an exporter).
pub fn join_caller_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let context =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(context);
}

/// `traceparent` (and `tracestate`) of the current span, for an outgoing request.
pub fn trace_headers() -> Vec<(&'static str, String)> {
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| carrier.remove(name).map(|v| (name, v)))
        .collect()
}
