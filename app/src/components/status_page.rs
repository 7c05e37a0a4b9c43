//! A full-page answer for an error status (404, 403): it sets the HTTP status on the
//! server and offers the way back.

use leptos::prelude::*;
use leptos_meta::Title;

/// The page for `status`, with a heading and an explanation.
#[component]
pub fn StatusPage(status: u16, title: &'static str, message: &'static str) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(code)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(status),
    ) {
        response.set_status(code);
    }
    view! {
        <Title text=title />
        <section class="mx-auto max-w-lg py-16 text-center">
            <p class="text-sm font-semibold uppercase tracking-wide text-sky-700">{format!("Error {status}")}</p>
            <h1 class="mt-2 text-3xl font-bold tracking-tight">{title}</h1>
            <p class="mt-4 text-slate-600">{message}</p>
            <a
                href="/"
                class="mt-8 inline-block rounded-md bg-slate-900 px-4 py-2 text-sm font-medium text-white hover:bg-slate-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500"
            >
                "Back to the overview"
            </a>
        </section>
    }
}
