//! One key: every field, its status, usage over the last day, quota and rate limit, its
//! audit trail, and the actions (edit, enable or disable, rotate, end or extend a grace
//! period, revoke), each confirmed and reflected at once.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::audit::AuditRow;
use crate::auth::Protected;
use crate::components::chart::UsageChart;
use crate::components::dialog::Dialog;
use crate::components::secret::ShowOnce;
use crate::components::test_call::{TestCall, sample_call};
use crate::components::ui::PageHeading;
use crate::components::ui::{
    CARD, DANGER, ErrorNote, Field, Gauge, INPUT, LABEL, Loading, PRIMARY, SECONDARY, StatusBadge,
    count, on_success, relative, when, when_or,
};
use crate::error::AppError;
use crate::keys::{
    ChangeGrace, EditKey, KeyDetails, KeyRow, QuotaRow, RevokeKey, RotateKey, SetKeyEnabled,
    key_detail,
};
use crate::pages::new_key::{FieldError, field_error, labelled, unnamed_error};

/// The key page, for every signed-in user who may see the key.
#[component]
pub fn KeyPage() -> impl IntoView {
    // The key is read here, outside the guard, which may render its content more than
    // once on the server: a second read could see new traffic or another user's change and
    // disagree with the data sent for hydration (see `pages::home`).
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let actions = Actions::new();
    // The key is read again after every change that succeeded (a refused one leaves the
    // page, and the form with its input, as it is).
    let changed = RwSignal::new(0_u32);
    actions.on_success(move || changed.update(|n| *n += 1));
    let detail = Resource::new(move || (id(), changed.get()), |(id, _)| key_detail(id));
    let log_view = super::key_log::LogView::default();
    let log = log_view.resource(id, changed);
    view! {
        <Protected>
            <KeyView actions detail log_view log current=Signal::derive(id) />
        </Protected>
    }
}

/// The actions of the page; the key reloads after each.
#[derive(Clone, Copy)]
struct Actions {
    edit: ServerAction<EditKey>,
    enable: ServerAction<SetKeyEnabled>,
    revoke: ServerAction<RevokeKey>,
    rotate: ServerAction<RotateKey>,
    grace: ServerAction<ChangeGrace>,
    acknowledge: ServerAction<crate::findings::AcknowledgeFinding>,
}

impl Actions {
    fn new() -> Self {
        Self {
            edit: ServerAction::new(),
            enable: ServerAction::new(),
            revoke: ServerAction::new(),
            rotate: ServerAction::new(),
            grace: ServerAction::new(),
            acknowledge: ServerAction::new(),
        }
    }

    /// Runs `then` each time one of the actions succeeds.
    fn on_success(self, then: impl Fn() + Copy + Send + Sync + 'static) {
        on_success(self.edit, then);
        on_success(self.enable, then);
        on_success(self.revoke, then);
        on_success(self.rotate, then);
        on_success(self.grace, then);
        on_success(self.acknowledge, then);
    }
}

#[component]
fn KeyView(
    actions: Actions,
    detail: Resource<Result<Option<KeyDetails>, AppError>>,
    log_view: super::key_log::LogView,
    log: super::key_log::LogResource,
    /// The id in the URL: the rotation's secret shows on the new key's page only.
    current: Signal<String>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    // After a rotation the user lands on the new key (its secret still shown above), with
    // the old key's grace beside it.
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(r)) = actions.rotate.value().get() {
            navigate(&format!("/keys/{}", r.new.key.id), Default::default());
        }
    });
    view! {
        <Title text="Key" />
        <nav aria-label="Breadcrumb" class="text-sm text-slate-600">
            <A href="/keys" attr:class="hover:underline">"Keys"</A>
            " / Key"
        </nav>
        {move || actions.rotate.value().get().and_then(Result::ok).filter(|r| r.new.key.id == current.get()).map(|r| view! {
            <div class="mt-4 space-y-2" data-testid="rotation-result">
                <ShowOnce secret=r.new.secret what="new API key" />
                <p class="text-sm text-slate-700">
                    {format!("This is the new key, {}…. The old key keeps working until {}.", r.new.key.start, when_or(r.previous.expires_at.as_ref(), "it is revoked"))}
                </p>
            </div>
        })}
        <Transition fallback=|| view! { <div class="mt-4"><Loading label="Loading the key…" /></div> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(Some(d)) => view! { <Detail detail=d actions editing log_view log /> }.into_any(),
                    Ok(None) => view! { <div class="mt-4"><ErrorNote message=AppError::Unauthorized.to_string() /></div> }.into_any(),
                    Err(e) => view! { <div class="mt-4"><ErrorNote message=e.to_string() /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(
    detail: KeyDetails,
    actions: Actions,
    editing: RwSignal<bool>,
    log_view: super::key_log::LogView,
    log: super::key_log::LogResource,
) -> impl IntoView {
    let KeyDetails {
        key,
        usage,
        audit,
        may_change,
        limits_fixed,
        base_url,
        viewer_is_owner,
        predecessor,
        findings,
        now,
    } = detail;
    let grace = key.in_grace(now);
    let live = key.status != "revoked";
    let edit_key = StoredValue::new(key.clone());
    let heading_name = key.name.clone();
    view! {
        <header class="mt-2 flex flex-wrap items-start justify-between gap-4">
            <div>
                <div class="flex flex-wrap items-center gap-3">
                    <PageHeading class="text-2xl font-bold tracking-tight" testid="key-name">{heading_name}</PageHeading>
                    <StatusBadge status=key.status.clone() grace />
                </div>
                <p class="mt-1 font-mono text-sm text-slate-600">{format!("{}…", key.start)}<span class="ml-2 font-sans text-xs text-slate-400">{format!("id {}", key.id)}</span></p>
            </div>
            {(may_change && live).then(|| view! { <ActionButtons key=key.clone() actions editing now /> })}
        </header>
        {(!may_change).then(|| view! { <p class="mt-2 text-sm text-slate-500">"Read-only: your role can read keys but not change them."</p> })}
        <GraceNotice key=key.clone() now may_change actions />
        {predecessor.map(|old| view! { <GraceNotice key=old now may_change actions as_predecessor=true /> })}
        {(!key.outside_policy.is_empty()).then(|| view! {
            <p class="mt-4 rounded-md border border-violet-300 bg-violet-50 px-4 py-3 text-sm text-violet-950" data-testid="outside-policy">
                {format!("⚑ Outside its owner's current policy: {}. The key keeps working as set; changes to these settings must come within the policy.", key.outside_policy.join(", "))}
            </p>
        })}
        {key.revoked_at.map(|at| view! {
            <p class="mt-4 rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-900" data-testid="revoked-notice">
                {format!("✕ Revoked {} · reason: {}", when(&at), key.revoked_reason.clone().unwrap_or_else(|| "none given".into()))}
            </p>
        })}
        {(!findings.is_empty()).then(|| view! {
            <section class=format!("mt-6 p-5 {CARD}") aria-labelledby="findings-title" data-testid="key-findings">
                <h2 id="findings-title" class="font-semibold">"Leaks and unusual use"</h2>
                <p class="mt-1 text-sm text-slate-600">"What scanners reported and what Locksmith noticed in this key's traffic. Acknowledge a finding once it is handled."</p>
                {move || actions.acknowledge.value().get().and_then(Result::err).map(|e| view! { <div class="mt-2"><ErrorNote message=e.to_string() /></div> })}
                <crate::components::findings::FindingList findings=findings.clone() may_acknowledge=may_change acknowledge=actions.acknowledge />
            </section>
        })}
        <Show when=move || editing.get()>
            <EditForm key=edit_key.get_value() actions editing fixed=limits_fixed />
        </Show>
        <div class="mt-6 grid gap-6 lg:grid-cols-3">
            <section class=format!("p-5 lg:col-span-2 {CARD}") aria-labelledby="usage-title">
                <h2 id="usage-title" class="sr-only">"Usage"</h2>
                <UsageChart points=usage hourly=true title="Verifications, last 24 hours" testid="key-usage-chart" />
            </section>
            <section class=format!("space-y-5 p-5 {CARD}") aria-label="Limits">
                <QuotaGauge quota=key.quota.clone() now />
                <div>
                    <h2 class="text-sm font-medium text-slate-800">"Rate limit"</h2>
                    <p class="mt-1 text-sm text-slate-700" data-testid="rate-limit">
                        {key.rate_limit.map_or_else(
                            || "None".to_owned(),
                            |r| format!("{} verifications per {} s", count(i64::from(r.limit)), r.window_seconds),
                        )}
                    </p>
                </div>
            </section>
        </div>
        <Fields key=key.clone() />
        {(key.status == "active").then(|| view! { <TestCall call=sample_call(&base_url, &key, None) for_owner=viewer_is_owner /> })}
        <super::key_log::VerificationLogPanel view_of=log_view page=log />
        <section class="mt-6" aria-labelledby="trail-title">
            <h2 id="trail-title" class="text-lg font-semibold">"Audit trail"</h2>
            <KeyTrail entries=audit linked=!viewer_is_owner />
        </section>
    }
}

#[component]
fn ActionButtons(
    key: KeyRow,
    actions: Actions,
    editing: RwSignal<bool>,
    now: chrono::DateTime<chrono::Utc>,
) -> impl IntoView {
    let id = StoredValue::new(key.id.clone());
    let enabled = key.enabled;
    let rotatable = key.rotated_to.is_none() && key.expires_at.is_none_or(|at| at > now);
    let toggle_open = RwSignal::new(false);
    let rotate_open = RwSignal::new(false);
    let revoke_open = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let grace = RwSignal::new("86400".to_owned());
    let stakes = stakes(&key, now);
    let toggle_text = if enabled {
        format!(
            "Calls with {} will answer DISABLED on every instance within a second, until the key is enabled again.",
            stakes.key
        )
    } else {
        "The key will verify again on every instance within a second.".to_owned()
    };
    let toggle_used = enabled.then(|| stakes.last_used.clone());
    let revoke_text = format!(
        "Calls with {} will be refused (REVOKED) on every instance within a second. Revocation cannot be undone.",
        stakes.key
    );
    let revoke_used = stakes.last_used;
    on_success(actions.enable, move || toggle_open.set(false));
    on_success(actions.rotate, move || rotate_open.set(false));
    on_success(actions.revoke, move || revoke_open.set(false));
    let toggle_title = if enabled {
        "Disable this key?"
    } else {
        "Enable this key?"
    };
    view! {
        <div class="flex flex-wrap gap-2">
            <button type="button" class=SECONDARY on:click=move |_| editing.update(|e| *e = !*e) aria-expanded=move || editing.get().to_string()>"Edit"</button>
            <button type="button" class=SECONDARY on:click=move |_| toggle_open.set(true)>{if enabled { "Disable" } else { "Enable" }}</button>
            {rotatable.then(|| view! { <button type="button" class=SECONDARY on:click=move |_| rotate_open.set(true)>"Rotate"</button> })}
            <button type="button" class=DANGER on:click=move |_| revoke_open.set(true)>"Revoke"</button>
        </div>
        <Dialog open=toggle_open title=toggle_title.to_owned() id="toggle-dialog">
            <p class="text-slate-700">
                {toggle_text.clone()}
            </p>
            <p class="text-slate-700" data-testid="dialog-last-used">
                {toggle_used.clone()}
            </p>
            <ActionError action=actions.enable />
            <button type="button" class=PRIMARY on:click=move |_| { actions.enable.dispatch(SetKeyEnabled { id: id.get_value(), enabled: !enabled }); }>
                {if enabled { "Disable key" } else { "Enable key" }}
            </button>
        </Dialog>
        <Dialog open=rotate_open title="Rotate this key?".to_owned() id="rotate-dialog">
            <p class="text-slate-700">"A new secret is made and shown once. The old key keeps working for the grace period, so callers can move over without downtime; its quota is shared with the new key."</p>
            <div>
                <label for="rotate-grace" class=LABEL>"Grace period for the old key"</label>
                <select id="rotate-grace" class=INPUT on:change=move |ev| grace.set(event_target_value(&ev)) prop:value=move || grace.get()>
                    <option value="0">"None: the old key stops now"</option>
                    <option value="3600">"1 hour"</option>
                    <option value="86400">"1 day"</option>
                    <option value="604800">"7 days"</option>
                    <option value="2592000">"30 days"</option>
                </select>
            </div>
            <ActionError action=actions.rotate />
            <button type="button" class=PRIMARY on:click=move |_| { actions.rotate.dispatch(RotateKey { id: id.get_value(), grace_seconds: grace.get_untracked() }); }>
                "Rotate key"
            </button>
        </Dialog>
        <Dialog open=revoke_open title="Revoke this key?".to_owned() id="revoke-dialog">
            <p class="text-slate-700">{revoke_text.clone()}</p>
            <p class="text-slate-700" data-testid="dialog-last-used">{revoke_used.clone()}</p>
            <div>
                <label for="revoke-reason" class=LABEL>"Reason (recorded in the audit log)"</label>
                <input id="revoke-reason" class=INPUT maxlength="500" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) />
            </div>
            <ActionError action=actions.revoke />
            <button type="button" class=DANGER on:click=move |_| { actions.revoke.dispatch(RevokeKey { id: id.get_value(), reason: reason.get_untracked() }); }>
                "Revoke key"
            </button>
        </Dialog>
    }
}

#[component]
fn ActionError<A, O>(action: ServerAction<A>) -> impl IntoView
where
    A: leptos::server_fn::ServerFn<Output = O> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    A::Error: Clone + Send + Sync + std::fmt::Display + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <ErrorNote message=e.to_string() /> })
    }
}

#[component]
fn GraceNotice(
    key: KeyRow,
    now: chrono::DateTime<chrono::Utc>,
    may_change: bool,
    actions: Actions,
    /// Shown on the new key's page for the key it replaced.
    #[prop(optional)]
    as_predecessor: bool,
) -> impl IntoView {
    let successor = key.rotated_to.clone().map(|to| {
        view! {
            <p>"Replaced by "<a class="font-medium underline" href=format!("/keys/{to}")>"the new key"</a>"."</p>
        }
    });
    let predecessor = key.rotated_from.clone().map(|from| {
        view! {
            <p class="mt-4 text-sm text-slate-600">"This key replaced "<a class="font-medium text-sky-800 underline" href=format!("/keys/{from}")>"an earlier key"</a>"."</p>
        }
    });
    if !key.in_grace(now) {
        if as_predecessor {
            return ().into_any();
        }
        return view! { {predecessor} {key.rotated_to.is_some().then(|| view! { <div class="mt-4 text-sm text-slate-600">{successor}</div> })} }.into_any();
    }
    let (predecessor, successor) = if as_predecessor {
        (None, None)
    } else {
        (predecessor, successor)
    };
    let headline = if as_predecessor {
        format!(
            "◐ The key this one replaced, {}…, still works until {} ({}): its rotation grace period.",
            key.start,
            when(&key.expires_at.unwrap_or(now)),
            relative(&key.expires_at.unwrap_or(now), &now)
        )
    } else {
        let end = key.expires_at.unwrap_or(now);
        format!(
            "◐ In its rotation grace period: works until {} ({}).",
            when(&end),
            relative(&end, &now)
        )
    };
    let old_link = as_predecessor.then(|| {
        view! { <p><a class="font-medium underline" href=format!("/keys/{}", key.id)>"Open the old key"</a></p> }
    });
    let id = StoredValue::new(key.id.clone());
    let extend = RwSignal::new("86400".to_owned());
    let end_open = RwSignal::new(false);
    on_success(actions.grace, move || end_open.set(false));
    let stakes = stakes(&key, now);
    let end_text = format!(
        "Calls with {} will be refused (EXPIRED) on every instance within a second.",
        stakes.key
    );
    let end_used = stakes.last_used;
    let own_expiry = match key.own_expires_at {
        Some(at) if Some(at) != key.expires_at => {
            format!("Its own expiry, kept through the rotation: {}.", when(&at))
        }
        Some(_) => "Its own expiry comes first and is not moved by the grace.".to_owned(),
        None => "It has no expiry of its own.".to_owned(),
    };
    let last_used = key.last_used_at.map_or_else(
        || "It has not been used since it was created.".to_owned(),
        |at| format!("Last used {} ({}).", when(&at), relative(&at, &now)),
    );
    view! {
        {predecessor}
        <section class="mt-4 rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950" data-testid="grace-notice" aria-label="Grace period">
            <p class="font-medium">{headline}</p>
            {successor}
            {old_link}
            <p data-testid="grace-last-used">{last_used}" When traffic has moved to the new key, end the grace."</p>
            <p data-testid="own-expiry">{own_expiry}</p>
            {may_change.then(|| view! {
                <div class="mt-3 flex flex-wrap items-end gap-2">
                    <button type="button" class=SECONDARY on:click=move |_| end_open.set(true)>"End grace now"</button>
                    <div>
                        <label for="extend-by" class="sr-only">"Extend by"</label>
                        <select id="extend-by" class="rounded-md border border-amber-300 bg-white px-2 py-2 text-sm" on:change=move |ev| extend.set(event_target_value(&ev)) prop:value=move || extend.get()>
                            <option value="3600">"1 hour"</option>
                            <option value="86400">"1 day"</option>
                            <option value="604800">"7 days"</option>
                        </select>
                    </div>
                    <button type="button" class=SECONDARY on:click=move |_| { actions.grace.dispatch(ChangeGrace { id: id.get_value(), extend_seconds: extend.get_untracked() }); }>"Extend grace"</button>
                </div>
                <ActionError action=actions.grace />
                <Dialog open=end_open title="End the grace period now?".to_owned() id="end-grace-dialog">
                    <p class="text-slate-700">{end_text.clone()}</p>
                    <p class="text-slate-700" data-testid="dialog-last-used">{end_used.clone()}</p>
                    <ActionError action=actions.grace />
                    <button type="button" class=DANGER on:click=move |_| { actions.grace.dispatch(ChangeGrace { id: id.get_value(), extend_seconds: String::new() }); }>"End grace now"</button>
                </Dialog>
            })}
        </section>
    }
    .into_any()
}

#[component]
fn QuotaGauge(quota: Option<QuotaRow>, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let Some(q) = quota else {
        return view! {
            <div>
                <h2 class="text-sm font-medium text-slate-800">"Quota"</h2>
                <p class="mt-1 text-sm text-slate-700" data-testid="quota">"None"</p>
            </div>
        }
        .into_any();
    };
    let percent = q.percent();
    let bar = match percent {
        0..80 => "fill-emerald-500",
        80..100 => "fill-amber-500",
        _ => "fill-red-600",
    };
    let period = match q.period.as_str() {
        "day" => "per day",
        "month" => "per month",
        _ => "in total",
    };
    let reset = q.resets_at.map_or_else(
        || "Never resets.".to_owned(),
        |at| format!("Resets {} ({}).", when(&at), relative(&at, &now)),
    );
    view! {
        <div data-testid="quota">
            <h2 class="text-sm font-medium text-slate-800">{format!("Quota: {} {period}", count(q.limit))}</h2>
            <div
                class="mt-2"
                role="meter"
                aria-label="Quota used"
                aria-valuemin="0"
                aria-valuemax=q.limit.to_string()
                aria-valuenow=q.used.to_string()
                aria-valuetext=format!("{percent}% used")
            >
                <Gauge percent fill=bar />
            </div>
            <p class="mt-1 text-sm text-slate-700" data-testid="quota-text">
                {format!("{} used, {} left ({percent}%).", count(q.used), count(q.remaining))}
            </p>
            <p class="text-xs text-slate-500">{reset}</p>
        </div>
    }
    .into_any()
}

#[component]
fn Fields(key: KeyRow) -> impl IntoView {
    let list = |items: &[String], none: &str| {
        if items.is_empty() {
            view! { <span class="text-slate-500">{none.to_owned()}</span> }.into_any()
        } else {
            view! {
                <ul class="flex flex-wrap gap-1">
                    {items.iter().map(|s| view! { <li class="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs">{s.clone()}</li> }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    view! {
        <section class=format!("mt-6 p-5 {CARD}") aria-labelledby="fields-title">
            <h2 id="fields-title" class="text-lg font-semibold">"Details"</h2>
            <dl class="mt-3 grid gap-x-6 gap-y-4 text-sm sm:grid-cols-2 lg:grid-cols-3" data-testid="key-fields">
                <Field label="Keyspace">{key.keyspace}</Field>
                <Field label="Owner">{key.owner}</Field>
                <Field label="Enabled">{if key.enabled { "Yes" } else { "No" }}</Field>
                <Field label="Created">{when(&key.created_at)}</Field>
                <Field label="Expires">{when_or(key.expires_at.as_ref(), "Never")}</Field>
                {key.grace_ends_at.map(|_| view! { <Field label="Own expiry (kept through the rotation)">{when_or(key.own_expires_at.as_ref(), "Never")}</Field> })}
                <Field label="Last used">{when_or(key.last_used_at.as_ref(), "Never")}</Field>
                <Field label="Scopes">{list(&key.scopes, "None")}</Field>
                <Field label="IP allowlist">{list(&key.ip_allowlist, "Any address")}</Field>
                <Field label="Metadata"><pre class="overflow-x-auto rounded bg-slate-50 p-2 text-xs">{key.meta}</pre></Field>
            </dl>
        </section>
    }
}

#[component]
fn KeyTrail(entries: Vec<AuditRow>, linked: bool) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="mt-2 text-sm text-slate-500">"No recorded changes."</p> }
            .into_any();
    }
    view! {
        <ol class="mt-3 space-y-2" data-testid="key-trail">
            {entries.into_iter().map(move |e| view! { <crate::pages::audit::Entry entry=e linked /> }).collect_view()}
        </ol>
    }
    .into_any()
}

/// The fields of the edit form, as errors name them.
const EDIT_FIELDS: &[&str] = &[
    "name",
    "scopes",
    "expires_at",
    "ip_allowlist",
    "quota",
    "rate_limit",
    "meta",
];

#[component]
fn EditForm(key: KeyRow, actions: Actions, editing: RwSignal<bool>, fixed: bool) -> impl IntoView {
    let edit = actions.edit;
    on_success(edit, move || editing.set(false));
    let error = move || edit.value().get().and_then(Result::err);
    let err_for = move |fields: &'static [&'static str], label: &'static str| {
        Signal::derive(move || field_error(error(), fields).map(|l| labelled(&l, label)))
    };
    let name_err = err_for(&["name"], "Name");
    let scopes_err = err_for(&["scopes"], "Scopes");
    let expires_err = err_for(&["expires_at"], "Expiry");
    let ip_err = err_for(&["ip_allowlist"], "IP allowlist");
    let quota_err = err_for(&["quota"], "Quota");
    let rate_err = err_for(&["rate_limit"], "Rate limit");
    let meta_err = err_for(&["meta"], "Metadata");
    let general = move || {
        unnamed_error(error(), EDIT_FIELDS).map(|e| view! { <ErrorNote message=e.to_string() /> })
    };
    let expires = key
        .own_expires_at
        .map(|at| at.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default();
    let (quota_limit, quota_period) = key
        .quota
        .as_ref()
        .map_or((String::new(), "month".to_owned()), |q| {
            (q.limit.to_string(), q.period.clone())
        });
    let (rate_limit, rate_window) = key
        .rate_limit
        .map_or((String::new(), "60".to_owned()), |r| {
            (r.limit.to_string(), r.window_seconds.to_string())
        });
    let period = quota_period.clone();
    view! {
        <ActionForm action=edit attr:class=format!("mt-4 space-y-4 p-5 {CARD}") attr:aria-label="Edit key" attr:novalidate="true">
            <h2 class="text-lg font-semibold">"Edit key"</h2>
            {general}
            <input type="hidden" name="id" value=key.id.clone() />
            <div class="grid gap-4 sm:grid-cols-2">
                <div>
                    <label for="e-name" class=LABEL>"Name"</label>
                    <input id="e-name" name="fields[name]" value=key.name.clone() class=INPUT aria-describedby="e-name-err" />
                    <FieldError id="e-name-err" message=name_err />
                </div>
                {(!fixed).then(|| view! {
                <div>
                    <label for="e-expires" class=LABEL>"Expires (UTC, empty for never)"</label>
                    <input id="e-expires" name="fields[expires_at]" type="datetime-local" value=expires.clone() class=INPUT aria-describedby="e-expires-err" />
                    <FieldError id="e-expires-err" message=expires_err />
                </div>
                })}
                <div>
                    <label for="e-scopes" class=LABEL>"Scopes"</label>
                    <input id="e-scopes" name="fields[scopes]" value=key.scopes.join(" ") class=INPUT aria-describedby="e-scopes-err" />
                    <FieldError id="e-scopes-err" message=scopes_err />
                </div>
                <div>
                    <label for="e-ips" class=LABEL>"IP allowlist"</label>
                    <input id="e-ips" name="fields[ip_allowlist]" value=key.ip_allowlist.join(", ") class=INPUT aria-describedby="e-ips-err" />
                    <FieldError id="e-ips-err" message=ip_err />
                </div>
                {fixed.then(|| view! {
                    <p class="text-sm text-slate-600 sm:col-span-2" data-testid="fixed-limits">"Expiry, quota and rate limit are set by an admin (your policy); they are shown beside the chart."</p>
                })}
                {(!fixed).then(|| view! {
                <div>
                    <span class=LABEL>"Quota"</span>
                    <div class="flex gap-2">
                        <label for="e-quota" class="sr-only">"Quota: credits per period"</label>
                        <input id="e-quota" name="fields[quota_limit]" inputmode="numeric" value=quota_limit placeholder="None" class=INPUT aria-describedby="e-quota-err" />
                        <label for="e-quota-period" class="sr-only">"Quota period"</label>
                        <select id="e-quota-period" name="fields[quota_period]" class=INPUT>
                            <option value="month" selected=period.clone() == "month">"per month"</option>
                            <option value="day" selected=period.clone() == "day">"per day"</option>
                            <option value="total" selected=period.clone() == "total">"in total"</option>
                        </select>
                    </div>
                    <FieldError id="e-quota-err" message=quota_err />
                </div>
                <div>
                    <span class=LABEL>"Rate limit"</span>
                    <div class="flex items-center gap-2">
                        <label for="e-rate" class="sr-only">"Rate limit: verifications per window"</label>
                        <input id="e-rate" name="fields[rate_limit]" inputmode="numeric" value=rate_limit placeholder="None" class=INPUT aria-describedby="e-rate-err" />
                        <label for="e-window" class="shrink-0 text-sm text-slate-600">"per (s)"</label>
                        <input id="e-window" name="fields[rate_window]" inputmode="numeric" value=rate_window class=INPUT />
                    </div>
                    <FieldError id="e-rate-err" message=rate_err />
                </div>
                })}
            </div>
            <div>
                <label for="e-meta" class=LABEL>"Metadata (JSON object)"</label>
                <textarea id="e-meta" name="fields[meta]" rows="3" class=format!("{INPUT} font-mono") aria-describedby="e-meta-err">{key.meta.clone()}</textarea>
                <FieldError id="e-meta-err" message=meta_err />
            </div>
            <div class="flex gap-3">
                <button type="submit" class=PRIMARY disabled=move || edit.pending().get()>"Save changes"</button>
                <button type="button" class=SECONDARY on:click=move |_| editing.set(false)>"Cancel"</button>
            </div>
        </ActionForm>
    }
}

/// What a destructive action puts at stake, in the words its dialog uses.
struct Stakes {
    /// "pay_8AgX…".
    key: String,
    /// "Last used 1 minute ago (2026-12-03 10:00 UTC)." or "Never used.".
    last_used: String,
}

fn stakes(key: &KeyRow, now: chrono::DateTime<chrono::Utc>) -> Stakes {
    Stakes {
        key: format!("{}…", key.start),
        last_used: key.last_used_at.map_or_else(
            || "It has never been used.".to_owned(),
            |at| format!("Last used {} ({}).", relative(&at, &now), when(&at)),
        ),
    }
}
