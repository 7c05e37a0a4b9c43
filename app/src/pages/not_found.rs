//! The page for unknown portal URLs (status 404).

use leptos::prelude::*;

use crate::components::status_page::StatusPage;

/// Shown for any portal path that matches no route.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <StatusPage
            status=404
            title="Page not found"
            message="There is nothing at this address. It may have moved, or the link may be mistyped."
        />
    }
}
