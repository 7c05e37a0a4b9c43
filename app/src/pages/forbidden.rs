//! The page for a signed-in user whose role may not see the page (status 403).

use leptos::prelude::*;
use leptos_meta::Title;

/// Shown instead of a page the user's role does not allow.
#[component]
pub fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <Title text="No access" />
        <section class="mx-auto max-w-lg py-16 text-center">
            <p class="text-sm font-semibold uppercase tracking-wide text-red-700">"Error 403"</p>
            <h1 class="mt-2 text-3xl font-bold tracking-tight">"You do not have access to this page"</h1>
            <p class="mt-4 text-slate-600">"Your role does not allow it. Ask an administrator if you need access."</p>
            <a href="/" class="mt-8 inline-block rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700">
                "Back to the overview"
            </a>
        </section>
    }
}
