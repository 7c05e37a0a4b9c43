//! OpenTelemetry export: a real `locksmith serve` sends its spans over OTLP/HTTP to a
//! receiver here that decodes them (protobuf, as a collector would): a request with a
//! caller's `traceparent` joins that trace, database work shows as child spans, and a
//! webhook delivery carries its own span's context in `traceparent`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use locksmith_core::identity::Role;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, create_user};
use crate::process::Server;

/// A span as received: ids in hex, its name, and its service's name.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    service: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver on a free port, keeping every span it decodes.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<ReceivedSpan>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&spans);
    let handler = move |body: Bytes| {
        let kept = Arc::clone(&kept);
        async move {
            let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
            let mut kept = kept.lock().expect("spans");
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| r.attributes.iter())
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.as_ref())
                    .map(|v| format!("{:?}", v.value))
                    .unwrap_or_default();
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        kept.push(ReceivedSpan {
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            name: span.name,
                            service: service.clone(),
                        });
                    }
                }
            }
            [("content-type", "application/x-protobuf")]
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

/// A webhook endpoint that passes on the `traceparent` of what it receives.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |headers: HeaderMap| {
        let tx = tx.clone();
        async move {
            let parent = headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let _ = tx.send(parent);
            "ok"
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/hook", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn spans_are_exported_over_otlp_and_traces_cross_requests_and_webhooks(pool: PgPool) {
    create_user(&pool, "admin@example.com", Role::Admin).await;
    let url = crate::helpers::database_url(&pool).await;
    let (otlp, spans) = otlp_receiver().await;
    let (hook, mut hooked) = webhook_receiver().await;
    let server = Server::start(
        &[
            &[
                ("DATABASE_URL", url.as_str()),
                ("LOCKSMITH_OTEL_ENDPOINT", otlp.as_str()),
                ("LOCKSMITH_OTEL_SERVICE_NAME", "locksmith-test"),
                ("LOCKSMITH_WEBHOOK_ALLOW_PRIVATE", "true"),
            ][..],
            &crate::helpers::TEST_SECRETS,
        ]
        .concat(),
        &[],
    );
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let client = reqwest::Client::new();
    let tokens: serde_json::Value = client
        .post(server.url("/v1/auth/token"))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&serde_json::json!({ "email": "admin@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("tokens");
    let token = tokens["access_token"].as_str().expect("token");
    let created: serde_json::Value = client
        .post(server.url("/v1/webhooks"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "url": hook }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("webhook");
    let id = created["id"].as_str().expect("id");
    let res = client
        .post(server.url(&format!("/v1/webhooks/{id}/test")))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 202);
    let delivered_parent = tokio::time::timeout(Duration::from_secs(30), hooked.recv())
        .await
        .expect("a delivery within 30 s")
        .expect("open");
    // A graceful stop flushes the exporter; the receiver, on this test's runtime, must
    // keep answering meanwhile.
    tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("stopped");

    let spans = spans.lock().expect("spans").clone();
    let joined: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == caller_trace)
        .collect();
    let request = joined
        .iter()
        .find(|s| s.parent_span_id == caller_span)
        .unwrap_or_else(|| panic!("the sign-in joined the caller's trace: {spans:#?}"));
    assert_eq!(request.name, "POST");
    assert!(
        request.service.contains("locksmith-test"),
        "{}",
        request.service
    );
    assert!(
        joined
            .iter()
            .any(|s| s.name == "sessions.sign_in_for_tokens" && s.parent_span_id == request.span_id),
        "the database work is a child of the request: {joined:#?}"
    );

    let parts: Vec<&str> = delivered_parent.split('-').collect();
    assert_eq!(parts.len(), 4, "a W3C traceparent: {delivered_parent}");
    let delivery = spans
        .iter()
        .find(|s| s.trace_id == parts[1] && s.span_id == parts[2])
        .unwrap_or_else(|| {
            panic!("the delivery's span was exported: {delivered_parent} {spans:#?}")
        });
    assert_eq!(delivery.name, "webhook delivery");
}
