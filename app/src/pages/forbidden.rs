//! The page for a signed-in user whose role may not see the page (status 403).

use leptos::prelude::*;

use crate::components::status_page::StatusPage;

/// Shown instead of a page the user's role does not allow.
#[component]
pub fn Forbidden() -> impl IntoView {
    view! {
        <StatusPage
            status=403
            title="You do not have access to this page"
            message="Your role does not allow it. Ask an administrator if you need access."
        />
    }
}
