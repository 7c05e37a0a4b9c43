//! The sign-in page.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::Login;

/// Email and password; errors are shown inline and announced to screen readers.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    // A full page load after signing in, so every part of the page renders for the user.
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(()))) {
            crate::components::load_page("/");
        }
    });
    let input = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-500";
    view! {
        <Title text="Sign in" />
        <section class="mx-auto mt-8 max-w-sm rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
            <h1 class="text-xl font-bold tracking-tight">"Sign in to Locksmith"</h1>
            <ActionForm action attr:class="mt-6 space-y-4">
                <div>
                    <label for="email" class="block text-sm font-medium text-slate-700">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required class=input />
                </div>
                <div>
                    <label for="password" class="block text-sm font-medium text-slate-700">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required class=input />
                </div>
                <Show when=move || error().is_some()>
                    <p role="alert" data-testid="login-error" class="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
                        {error}
                    </p>
                </Show>
                <button
                    type="submit"
                    disabled=move || action.pending().get()
                    class="w-full rounded-md bg-sky-700 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-sky-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500 disabled:opacity-60"
                >
                    {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
        </section>
    }
}
