//! The overview: what this installation is and whether its database is healthy, read
//! live from the server, with a button to check again.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::AppError;
use crate::status::{SystemStatusView, system_status};

/// The landing page of the portal, for every signed-in user.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <crate::auth::Protected>
            <Overview />
        </crate::auth::Protected>
    }
}

#[component]
fn Overview() -> impl IntoView {
    // Each click bumps the counter, which re-runs the resource (one round trip).
    let checks = RwSignal::new(1_u32);
    let status = Resource::new(move || checks.get(), |_| system_status());
    view! {
        <Title text="Overview" />
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <h1 class="text-2xl font-bold tracking-tight">"Overview"</h1>
                <p class="mt-1 text-sm text-slate-600">"The state of this Locksmith installation."</p>
            </div>
            <button
                type="button"
                data-testid="check-again"
                on:click=move |_| checks.update(|n| *n += 1)
                class="rounded-md bg-sky-700 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-sky-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500 disabled:opacity-60"
            >
                "Check again"
            </button>
        </div>
        <section aria-labelledby="status-heading" class="mt-6 rounded-lg border border-slate-200 bg-white shadow-sm">
            <div class="flex items-center justify-between border-b border-slate-200 px-5 py-3">
                <h2 id="status-heading" class="font-semibold">"System status"</h2>
                <p class="text-xs text-slate-500" data-testid="check-count" aria-live="polite">
                    {move || match checks.get() {
                        1 => "Checked once".to_owned(),
                        n => format!("Checked {n} times"),
                    }}
                </p>
            </div>
            <Transition fallback=|| view! { <p class="px-5 py-6 text-sm text-slate-500">"Checking…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) => view! { <StatusDetails status=s /> }.into_any(),
                        Err(e) => view! { <StatusError error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn StatusDetails(status: SystemStatusView) -> impl IntoView {
    let schema = status
        .schema_version
        .map_or_else(|| "none applied".to_owned(), |v| v.to_string());
    let (badge_class, badge_text) = if status.schema_current {
        ("bg-emerald-100 text-emerald-800", "Up to date")
    } else {
        ("bg-amber-100 text-amber-900", "Migration pending")
    };
    view! {
        <dl class="grid gap-x-6 gap-y-4 px-5 py-5 text-sm sm:grid-cols-2" data-testid="status-details">
            <Field label="Database">
                <span class="inline-flex items-center gap-2">
                    <span class="inline-block h-2 w-2 rounded-full bg-emerald-500" aria-hidden="true"></span>
                    <span data-testid="postgres-version">{format!("Connected · PostgreSQL {}", status.postgres_version)}</span>
                </span>
            </Field>
            <Field label="Schema version">
                <span class="font-mono">{schema}</span>
                " "
                <span class=format!("ml-1 rounded px-1.5 py-0.5 text-xs font-medium {badge_class}")>{badge_text}</span>
            </Field>
            <Field label="Instance id">
                <span class="font-mono break-all" data-testid="instance-id">{status.instance_id}</span>
            </Field>
            <Field label="Installed">
                {status.installed_at.format("%Y-%m-%d %H:%M UTC").to_string()}
            </Field>
            <Field label="Last checked">
                <time data-testid="checked-at" datetime=status.checked_at.to_rfc3339()>
                    {status.checked_at.format("%H:%M:%S%.3f UTC").to_string()}
                </time>
            </Field>
        </dl>
    }
}

#[component]
fn Field(label: &'static str, children: Children) -> impl IntoView {
    view! {
        <div>
            <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
            <dd class="mt-1 text-slate-900">{children()}</dd>
        </div>
    }
}

#[component]
fn StatusError(error: AppError) -> impl IntoView {
    view! {
        <div role="alert" class="m-5 rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800" data-testid="status-error">
            <p class="font-medium">"Status unavailable"</p>
            <p class="mt-1">{error.to_string()}</p>
        </div>
    }
}
