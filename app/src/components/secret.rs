//! The show-once panel: a new secret (key or verifier token), a copy button and a plain
//! warning. The secret lives only in this page's memory: leaving or reloading loses it,
//! and the server cannot show it again (it stores only a digest).

use leptos::prelude::*;

use crate::components::ui::SECONDARY;

/// Shows `secret` once, with `what` naming it ("API key", "verifier token").
#[component]
pub fn ShowOnce(#[prop(into)] secret: String, what: &'static str) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let to_copy = secret.clone();
    // The secret is what matters now: focus moves to it (selecting it, ready to copy).
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
    let copy = move |_| {
        let text = to_copy.clone();
        leptos::task::spawn_local(async move {
            copied.set(Some(write_clipboard(&text).await));
        });
    };
    view! {
        <section class="rounded-lg border-2 border-amber-400 bg-amber-50 p-5" aria-labelledby="secret-title" data-testid="show-once">
            <h2 id="secret-title" class="font-semibold text-amber-950">
                <span aria-hidden="true">"⚠ "</span>
                {format!("Copy this {what} now. It will not be shown again.")}
            </h2>
            <p class="mt-1 text-sm text-amber-900">
                "Locksmith keeps only a one-way digest of it. If you leave or reload this page, it is gone for good: you would have to rotate or create another."
            </p>
            <div class="mt-3 flex flex-col gap-2 sm:flex-row">
                <label for="secret-value" class="sr-only">{what}</label>
                <input
                    id="secret-value"
                    node_ref=input
                    readonly
                    value=secret
                    data-testid="secret"
                    class="block w-full rounded-md border border-amber-300 bg-white px-3 py-2 font-mono text-sm"
                    on:focus=|ev| {
                        use wasm_bindgen::JsCast;
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }
                />
                <button type="button" class=SECONDARY on:click=copy>"Copy"</button>
            </div>
            <p class="mt-2 text-sm" role="status" data-testid="copy-status">
                {move || match copied.get() {
                    Some(true) => "✓ Copied to the clipboard.",
                    Some(false) => "The browser refused the clipboard: select the text and copy it by hand.",
                    None => "",
                }}
            </p>
        </section>
    }
}

/// Writes `text` to the clipboard; false when the browser refuses.
pub(crate) async fn write_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}
