//! "Is this my key?": paste a string found somewhere (a log, a screenshot, a chat) and
//! learn whether it is a live key you may see, with a one-click revoke. Anything else
//! gets the same answer, "not a key of yours". The string is posted, never put in a URL,
//! and the lookup is rate-limited and audited.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::auth::Protected;
use crate::components::ui::{
    CARD, DANGER, ErrorNote, INPUT, LABEL, PRIMARY, PageHeading, StatusBadge, when_or,
};
use crate::keys::{CheckKey, KeyMatch, RevokeKey};

/// Why a key revoked from here was revoked.
const REASON: &str = "leaked: found by its owner (Is this my key?)";

/// The "Is this my key?" page, for every signed-in user.
#[component]
pub fn CheckKeyPage() -> impl IntoView {
    let check = ServerAction::<CheckKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    view! {
        <Protected>
            <Title text="Is this my key?" />
            <nav aria-label="Breadcrumb" class="text-sm text-slate-600">
                <A href="/keys" attr:class="hover:underline">"Keys"</A>
                " / Is this my key?"
            </nav>
            <PageHeading class="mt-2 text-2xl font-bold tracking-tight">"Is this my key?"</PageHeading>
            <p class="mt-1 max-w-2xl text-sm text-slate-600">"Found a key in a log, a screenshot, a repository or a chat? Paste it here. If it is a key you may see, you get it with a button to revoke it at once. Only its digest is compared; the string is never stored or put in an address."</p>
            <ActionForm action=check attr:class=format!("mt-6 max-w-2xl space-y-3 p-5 {CARD}") attr:autocomplete="off">
                <div>
                    <label for="check-key" class=LABEL>"The key"</label>
                    <input id="check-key" name="key" type="password" required maxlength="1000" autocomplete="off" spellcheck="false" class=format!("{INPUT} font-mono") placeholder="pay_…" />
                </div>
                <button type="submit" class=PRIMARY>"Check"</button>
            </ActionForm>
            <div class="mt-6 max-w-2xl" aria-live="polite">
                {move || match check.value().get() {
                    None => ().into_any(),
                    Some(Err(e)) => view! { <ErrorNote message=e.to_string() /> }.into_any(),
                    Some(Ok(None)) => view! {
                        <p class=format!("p-4 text-sm text-slate-800 {CARD}") data-testid="check-result" data-found="false">
                            "Not a key of yours: no live key you may see has this secret."
                        </p>
                    }.into_any(),
                    Some(Ok(Some(found))) => view! { <Found found revoke /> }.into_any(),
                }}
            </div>
        </Protected>
    }
}

#[component]
fn Found(found: KeyMatch, revoke: ServerAction<RevokeKey>) -> impl IntoView {
    let KeyMatch { key, may_revoke } = found;
    let id = StoredValue::new(key.id.clone());
    let revoked_here =
        move || matches!(revoke.value().get(), Some(Ok(ref k)) if k.id == id.get_value());
    let live = key.status != "revoked" && key.status != "expired";
    view! {
        <section class=format!("p-5 {CARD}") data-testid="check-result" data-found="true" aria-labelledby="found-title">
            <div class="flex flex-wrap items-center gap-3">
                <h2 id="found-title" class="text-lg font-semibold">{format!("This is the key “{}”", key.name)}</h2>
                {move || if revoked_here() {
                    view! { <StatusBadge status="revoked" /> }.into_any()
                } else {
                    view! { <StatusBadge status=key.status.clone() /> }.into_any()
                }}
            </div>
            <p class="mt-1 font-mono text-sm text-slate-600">{format!("{}… · keyspace {} · owner {}", key.start, key.keyspace, key.owner)}</p>
            <p class="mt-1 text-sm text-slate-600">{format!("Last used {}.", when_or(key.last_used_at.as_ref(), "never"))}</p>
            <div class="mt-4 flex flex-wrap items-center gap-3">
                <A href=format!("/keys/{}", key.id) attr:class="text-sm font-medium text-sky-800 hover:underline" attr:data-testid="found-link">"Open the key"</A>
                {(may_revoke && live).then(|| view! {
                    <Show when=move || !revoked_here() fallback=|| view! { <p class="text-sm font-medium text-red-900" data-testid="revoked-here">"✕ Revoked. Every instance refuses it from now on."</p> }>
                        <button type="button" class=DANGER data-testid="revoke-found"
                            on:click=move |_| { revoke.dispatch(RevokeKey { id: id.get_value(), reason: REASON.to_owned() }); }>
                            "Revoke it now"
                        </button>
                    </Show>
                })}
            </div>
            {move || revoke.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3"><ErrorNote message=e.to_string() /></div> })}
        </section>
    }
}
