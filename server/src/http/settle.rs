//! Read-your-writes for verification: the response to a successful change waits until
//! this instance's verification caches have applied it (a millisecond or two; see
//! `VerifyService::settle`), so a caller who revokes a key and at once verifies
//! it on the same instance is refused. Other instances hear of it within a second.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use locksmith_core::verify::VerifyService;

/// Awaits the barrier after a request that may have changed something (any method but
/// GET, HEAD and OPTIONS) and succeeded: a 2xx, or the redirect a portal form gets when
/// it posts without JavaScript.
pub async fn after_changes(
    State(verify): State<VerifyService>,
    request: Request,
    next: Next,
) -> Response {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    let status = response.status();
    if changes && (status.is_success() || status.is_redirection()) {
        verify.settle().await;
    }
    response
}
