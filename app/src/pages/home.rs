//! The overview: the dashboard (keys by status, verifications over the last day and
//! month, busiest keys, keys expiring soon, quotas nearly spent) and the state of this
//! installation, with a button to check it again.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::chart::UsageChart;
use crate::components::findings::FindingList;
use crate::components::ui::PageHeading;
use crate::components::ui::{CARD, ErrorNote, Field, Gauge, Loading, SECONDARY, count};
use crate::dashboard::{DashboardView, KeyLine, dashboard};
use crate::error::AppError;
use crate::findings::AcknowledgeFinding;
use crate::status::{SystemStatusView, system_status};

/// The landing page of the portal, for every signed-in user.
#[component]
pub fn HomePage() -> impl IntoView {
    // Created here, outside the guard: the guard may render its content more than once
    // on the server, and a resource made inside would be fetched again. When the data
    // changed in between (another user's action), the HTML and the data sent with it
    // for hydration disagreed, and hydration failed.
    // Acknowledging a finding reads the dashboard again.
    let acknowledge = ServerAction::<AcknowledgeFinding>::new();
    let data = Resource::new(move || acknowledge.version().get(), |_| dashboard());
    // The same for the system status. It asks the server only for an admin or auditor:
    // owners see their keys, not the installation's internals, and its server function
    // answers anyone else 401 or 403, which must not become this page's status (the guard
    // redirects anonymous visitors). Each click of "Check again" bumps the counter, which re-runs
    // it (one round trip); the answer carries the number of the check it answers, so a
    // test can wait for it.
    let user = expect_context::<crate::auth::UserResource>();
    let checks = RwSignal::new(1_u32);
    let status = Resource::new(
        move || checks.get(),
        move |n| async move {
            let reader = crate::auth::has_role(user, STATUS_ROLES).await;
            (
                n,
                if reader {
                    Some(system_status().await)
                } else {
                    None
                },
            )
        },
    );
    let reader = Signal::derive(
        move || matches!(user.get(), Some(Ok(Some(u))) if STATUS_ROLES.contains(&u.role.as_str())),
    );
    view! {
        <crate::auth::Protected>
            <Overview data checks status reader acknowledge />
        </crate::auth::Protected>
    }
}

/// Who sees the installation's status (its server function says the same).
const STATUS_ROLES: &[&str] = &["admin", "auditor"];

/// The system status as its resource holds it: the check it answers, and the answer
/// (`None` when the viewer may not see it).
type StatusResource = Resource<(u32, Option<Result<SystemStatusView, AppError>>)>;

#[component]
fn Overview(
    data: Resource<Result<Option<DashboardView>, AppError>>,
    checks: RwSignal<u32>,
    status: StatusResource,
    reader: Signal<bool>,
    acknowledge: ServerAction<AcknowledgeFinding>,
) -> impl IntoView {
    let intro = if reader.get_untracked() {
        "Your keys and their traffic at a glance, and the state of this installation."
    } else {
        "Your keys and their traffic at a glance."
    };
    view! {
        <Title text="Overview" />
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <PageHeading class="text-2xl font-bold tracking-tight">"Overview"</PageHeading>
                <p class="mt-1 text-sm text-slate-600">{intro}</p>
            </div>
        </div>
        <Transition fallback=|| view! { <div class="mt-6"><Loading label="Loading the dashboard…" /></div> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(d)) => view! { <Dashboard data=d acknowledge /> }.into_any(),
                    Ok(None) => view! { <div class="mt-6"><ErrorNote message=AppError::Unauthorized.to_string() /></div> }.into_any(),
                    Err(e) => view! { <div class="mt-6"><ErrorNote message=e.to_string() /></div> }.into_any(),
                }
            })}
        </Transition>
        {reader.get_untracked().then(|| view! { <SystemStatus checks status /> })}
    }
}

#[component]
fn Dashboard(data: DashboardView, acknowledge: ServerAction<AcknowledgeFinding>) -> impl IntoView {
    let c = data.counts;
    let scope = if data.all_keys {
        "All keys"
    } else {
        "Your keys"
    };
    let tile = |label: &'static str, status: &'static str, n: i64, symbol: &'static str| {
        view! {
            <a href=format!("/keys?status={status}") class=format!("block p-4 hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-500 {CARD}") data-testid=format!("count-{status}")>
                <p class="text-xs font-medium uppercase tracking-wide text-slate-500"><span aria-hidden="true">{symbol}" "</span>{label}</p>
                <p class="mt-1 text-2xl font-semibold tabular-nums">{count(n)}</p>
            </a>
        }
    };
    let setup = data.setup.clone().map(|steps| view! { <FirstRun steps /> });
    let attention = (!data.attention.is_empty()).then(|| {
        let more = data.attention_total - data.attention.len() as i64;
        view! {
            <section aria-labelledby="attention-heading" class="mt-6 rounded-lg border border-amber-300 bg-amber-50 p-5" data-testid="needs-attention">
                <h2 id="attention-heading" class="font-semibold text-amber-950">{format!("Needs attention: {}", count(data.attention_total))}</h2>
                <p class="mt-1 text-sm text-amber-900">"Keys reported as leaked, and unusual use Locksmith noticed. Open a key to rotate or revoke it; acknowledge a finding once it is handled."</p>
                {move || acknowledge.value().get().and_then(Result::err).map(|e| view! { <div class="mt-2"><ErrorNote message=e.to_string() /></div> })}
                <div class=format!("mt-3 px-4 {CARD}")>
                    <FindingList findings=data.attention.clone() may_acknowledge=data.may_acknowledge acknowledge show_key=true />
                </div>
                {(more > 0).then(|| view! { <p class="mt-2 text-xs text-amber-900">{format!("and {} more; GET /v1/findings lists them all.", count(more))}</p> })}
            </section>
        }
    });
    view! {
        {setup}
        {attention}
        <section aria-labelledby="keys-heading" class="mt-6">
            <h2 id="keys-heading" class="text-sm font-medium text-slate-700">{format!("{scope}: {}", count(c.total()))}</h2>
            <div class="mt-2 grid grid-cols-2 gap-3 sm:grid-cols-4" data-testid="status-tiles">
                {tile("Active", "active", c.active, "●")}
                {tile("Disabled", "disabled", c.disabled, "❚❚")}
                {tile("Expired", "expired", c.expired, "◷")}
                {tile("Revoked", "revoked", c.revoked, "✕")}
            </div>
        </section>
        <section aria-label="Verifications" class="mt-6 grid gap-6 lg:grid-cols-2">
            <div class=format!("p-5 {CARD}")>
                <UsageChart points=data.hours hourly=true title="Verifications, last 24 hours" testid="chart-24h" />
            </div>
            <div class=format!("p-5 {CARD}")>
                <UsageChart points=data.days hourly=false title="Verifications, last 30 days" testid="chart-30d" />
            </div>
        </section>
        <div class="mt-6 grid gap-6 lg:grid-cols-3">
            <KeyList title="Top keys, last 24 hours" empty="No verifications in the last 24 hours." lines=data.top testid="top-keys" />
            <KeyList title="Expiring in the next 14 days" empty="No key expires in the next 14 days." lines=data.expiring testid="expiring-keys" />
            <KeyList title="Quotas above 80%" empty="No quota is above 80%." lines=data.quotas testid="quota-alerts" />
        </div>
    }
}

#[component]
fn KeyList(
    title: &'static str,
    empty: &'static str,
    lines: Vec<KeyLine>,
    testid: &'static str,
) -> impl IntoView {
    let body = if lines.is_empty() {
        view! { <p class="px-4 py-6 text-sm text-slate-500">{empty}</p> }.into_any()
    } else {
        view! {
            <ol class="divide-y divide-slate-100">
                {lines.into_iter().map(|l| {
                    // Every item has the same shape (no optional last child), whatever the
                    // list: a gauge for quotas, an empty line for the others.
                    let gauge = match l.percent {
                        Some(p) => view! {
                            <div class="mt-1" role="meter" aria-label="Quota used" aria-valuemin="0" aria-valuemax="100" aria-valuenow=p.to_string()>
                                <Gauge percent=p fill={if p >= 100 { "fill-red-600" } else { "fill-amber-500" }} thin=true />
                            </div>
                        }.into_any(),
                        None => view! { <div aria-hidden="true"></div> }.into_any(),
                    };
                    view! {
                        <li class="px-4 py-2 text-sm">
                            <a href=format!("/keys/{}", l.id) class="font-medium text-sky-800 hover:underline">{l.name}</a>
                            <span class="ml-2 font-mono text-xs text-slate-500">{format!("{}…", l.start)}</span>
                            <p class="text-xs text-slate-600">{l.detail}</p>
                            {gauge}
                        </li>
                    }
                }).collect_view()}
            </ol>
        }
        .into_any()
    };
    view! {
        <section class=CARD aria-label=title data-testid=testid>
            <h2 class="border-b border-slate-200 px-4 py-3 text-sm font-semibold">{title}</h2>
            {body}
        </section>
    }
}

#[component]
fn SystemStatus(checks: RwSignal<u32>, status: StatusResource) -> impl IntoView {
    view! {
        <section aria-labelledby="status-heading" class=format!("mt-6 {CARD}")>
            <div class="flex flex-wrap items-center justify-between gap-3 border-b border-slate-200 px-5 py-3">
                <h2 id="status-heading" class="font-semibold">"System status"</h2>
                <div class="flex items-center gap-3">
                    <p class="text-xs text-slate-500" data-testid="check-count" aria-live="polite">
                        {move || match checks.get() {
                            1 => "Checked once".to_owned(),
                            n => format!("Checked {n} times"),
                        }}
                    </p>
                    <button
                        type="button"
                        data-testid="check-again"
                        on:click=move |_| checks.update(|n| *n += 1)
                        class=SECONDARY
                    >
                        "Check again"
                    </button>
                </div>
            </div>
            <Transition fallback=|| view! { <p class="px-5 py-6 text-sm text-slate-500">"Checking…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        (n, Some(Ok(s))) => view! { <StatusDetails status=s check=n /> }.into_any(),
                        (_, Some(Err(e))) => view! { <StatusError error=e /> }.into_any(),
                        (_, None) => view! { <StatusError error=AppError::Unauthorized /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn StatusDetails(status: SystemStatusView, check: u32) -> impl IntoView {
    let schema = status
        .schema_version
        .map_or_else(|| "none applied".to_owned(), |v| v.to_string());
    let (badge_class, badge_text) = if status.schema_current {
        ("bg-emerald-100 text-emerald-800", "Up to date")
    } else {
        ("bg-amber-100 text-amber-900", "Migration pending")
    };
    view! {
        <dl class="grid gap-x-6 gap-y-4 px-5 py-5 text-sm sm:grid-cols-2" data-testid="status-details" data-check=check.to_string()>
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
fn StatusError(error: AppError) -> impl IntoView {
    view! {
        <div role="alert" class="m-5 rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800" data-testid="status-error">
            <p class="font-medium">"Status unavailable"</p>
            <p class="mt-1">{error.to_string()}</p>
        </div>
    }
}

/// A new installation's checklist: each step a link to the page that does it, ticked
/// when the installation shows it done.
#[component]
fn FirstRun(steps: Vec<crate::dashboard::SetupStep>) -> impl IntoView {
    let done = steps.iter().filter(|s| s.done).count();
    let total = steps.len();
    view! {
        <section aria-labelledby="first-run-title" class=format!("mt-6 p-5 {CARD}") data-testid="first-run">
            <h2 id="first-run-title" class="text-lg font-semibold">"Get started"</h2>
            <p class="mt-1 text-sm text-slate-600">{format!("{done} of {total} done. This list goes away once a key has been verified.")}</p>
            <ol class="mt-3 space-y-2">
                {steps.into_iter().enumerate().map(|(i, s)| {
                    let mark = if s.done { "✓" } else { "○" };
                    let class = if s.done { "text-slate-500 line-through" } else { "font-medium text-sky-800 underline" };
                    view! {
                        <li class="flex items-baseline gap-2 text-sm" data-testid="first-run-step" data-done=s.done.to_string()>
                            <span aria-hidden="true" class=if s.done { "text-emerald-700" } else { "text-slate-400" }>{mark}</span>
                            <span>
                                {format!("{}. ", i + 1)}
                                <a href=s.href class=class>{s.title.clone()}</a>
                                <span class="sr-only">{if s.done { " (done)" } else { " (to do)" }}</span>
                                <span class="text-slate-600">{format!(" — {}", s.hint)}</span>
                            </span>
                        </li>
                    }
                }).collect_view()}
            </ol>
        </section>
    }
}
