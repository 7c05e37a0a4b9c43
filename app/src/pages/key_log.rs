//! A key's log of recent verifications on its page: "why is my key failing?". Every kept
//! answer counted by reason, then the entries (time, answer, the caller's address, the
//! verifier), filtered by answer, newest first, a page at a time.

use leptos::prelude::*;

use crate::components::ui::{CARD, ErrorNote, LABEL, Loading, count, relative, when};
use crate::keys::{VerificationPage, key_verifications};

/// The answers a filter offers, in the order verification checks them.
const CODES: [&str; 8] = [
    "VALID",
    "REVOKED",
    "DISABLED",
    "EXPIRED",
    "FORBIDDEN_IP",
    "INSUFFICIENT_SCOPES",
    "RATE_LIMITED",
    "QUOTA_EXCEEDED",
];

/// What an answer means, for the person reading the log.
fn meaning(code: &str) -> &'static str {
    match code {
        "VALID" => "accepted",
        "REVOKED" => "the key is revoked",
        "DISABLED" => "the key is switched off",
        "EXPIRED" => "the key has expired (or its rotation grace ended)",
        "FORBIDDEN_IP" => "the caller's address is not in the allowlist, or none was sent",
        "INSUFFICIENT_SCOPES" => "the service asked for a scope the key lacks",
        "RATE_LIMITED" => "over the key's rate limit",
        "QUOTA_EXCEEDED" => "the quota of the period is spent",
        _ => "",
    }
}

/// Which part of a key's log the panel shows: an answer (empty: every one; `refused`)
/// and the cursor of the page.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogView {
    /// The answer filter (the default: empty, every answer).
    pub code: RwSignal<String>,
    /// The page's cursor (`None`: the newest entries).
    pub before: RwSignal<Option<i64>>,
}

impl LogView {
    /// The log of key `id` as this view asks for it (the page makes it, outside its
    /// guard, like its other data: see `pages::home`).
    pub fn resource(
        self,
        id: impl Fn() -> String + Send + Sync + 'static,
        changed: RwSignal<u32>,
    ) -> LogResource {
        Resource::new(
            move || (id(), self.code.get(), self.before.get(), changed.get()),
            |(id, code, before, _)| key_verifications(id, code, before),
        )
    }
}

/// A page of a key's log, as the key page reads it.
pub type LogResource = Resource<Result<VerificationPage, crate::error::AppError>>;

/// The log panel of a key.
#[component]
pub fn VerificationLogPanel(view_of: LogView, page: LogResource) -> impl IntoView {
    let LogView { code, before } = view_of;
    view! {
        <section class=format!("mt-6 p-5 {CARD}") aria-labelledby="log-title" data-testid="verification-log">
            <div class="flex flex-wrap items-end justify-between gap-3">
                <div>
                    <h2 id="log-title" class="text-lg font-semibold">"Recent verifications"</h2>
                    <p class="text-sm text-slate-600">"Why is this key failing? Each answer a service got for it, with the caller's address and the verifier that asked."</p>
                </div>
                <div>
                    <label for="log-code" class=LABEL>"Show"</label>
                    <select id="log-code" class="mt-1 rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm"
                        on:change=move |ev| { before.set(None); code.set(event_target_value(&ev)); }
                        prop:value=move || code.get()>
                        <option value="">"Every answer"</option>
                        <option value="refused">"Refusals only"</option>
                        {CODES.into_iter().map(|c| view! { <option value=c>{c}</option> }).collect_view()}
                    </select>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading label="Loading the log…" /> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => view! { <LogPage page=p before /> }.into_any(),
                        Err(e) => view! { <ErrorNote message=e.to_string() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn LogPage(page: VerificationPage, before: RwSignal<Option<i64>>) -> impl IntoView {
    let VerificationPage {
        items,
        counts,
        kept_per_key,
        next_before,
        now,
    } = page;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let summary = (!counts.is_empty()).then(|| {
        view! {
            <ul class="mt-3 flex flex-wrap gap-2" data-testid="log-counts" aria-label="Answers by reason">
                {counts.into_iter().map(|(code, n)| {
                    let class = if code == "VALID" { "bg-emerald-50 text-emerald-900 ring-emerald-200" } else { "bg-red-50 text-red-900 ring-red-200" };
                    view! {
                        <li class=format!("rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset {class}") data-code=code.clone() title=meaning(&code)>
                            {format!("{code} {}", count(n))}
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    });
    if items.is_empty() {
        return view! {
            {summary}
            <p class="mt-3 text-sm text-slate-500" data-testid="log-empty">
                {if total == 0 { "No verifications yet. Answers appear here within a few seconds of a call." } else { "No entries match this filter." }}
            </p>
        }
        .into_any();
    }
    view! {
        {summary}
        <div class="mt-3 overflow-x-auto">
            <table class="min-w-full text-left text-sm">
                <thead class="text-xs uppercase text-slate-500">
                    <tr>
                        <th scope="col" class="py-2 pr-4">"When"</th>
                        <th scope="col" class="py-2 pr-4">"Answer"</th>
                        <th scope="col" class="py-2 pr-4">"Client address"</th>
                        <th scope="col" class="py-2">"Verifier"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {items.into_iter().map(|v| {
                        let refused = v.code != "VALID";
                        view! {
                            <tr data-testid="log-entry" data-code=v.code.clone()>
                                <td class="py-2 pr-4 whitespace-nowrap" title=when(&v.at)>{relative(&v.at, &now)}</td>
                                <td class="py-2 pr-4">
                                    <span class=if refused { "font-mono text-xs font-semibold text-red-800" } else { "font-mono text-xs font-semibold text-emerald-800" }>{v.code.clone()}</span>
                                    {refused.then(|| view! { <span class="ml-2 text-xs text-slate-600">{meaning(&v.code)}</span> })}
                                </td>
                                <td class="py-2 pr-4 font-mono text-xs">{v.client_ip.unwrap_or_else(|| "none sent".into())}</td>
                                <td class="py-2 text-xs">{v.verifier}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="mt-3 flex flex-wrap items-center justify-between gap-2 text-xs text-slate-500">
            <span>{format!("The newest {kept_per_key} verifications of each key are kept.")}</span>
            {next_before.map(|cursor| view! {
                <button type="button" class="rounded-md border border-slate-300 px-2 py-1 text-sm text-slate-800 hover:bg-slate-50" on:click=move |_| before.set(Some(cursor))>"Older"</button>
            })}
        </div>
    }
    .into_any()
}
