//! The browser entry point: hydrates the server-rendered portal.

/// Called by the hydration script Leptos puts in every page.
///
/// Some pages are lazy routes whose code is a separate WASM file (`cargo leptos build
/// --split`), so hydration is asynchronous: it finishes once the current page's code has
/// arrived. Then, and not before, `<body>` gets `data-hydrated="true"`, which tests wait
/// for instead of sleeping.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(body) = leptos::prelude::document().body() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let owner = leptos::mount::hydrate_from_async(body.clone(), locksmith_app::App).await;
        owner.forget();
        if let Err(err) = body.set_attribute("data-hydrated", "true") {
            leptos::logging::error!("cannot mark the page hydrated: {err:?}");
        }
    });
}
