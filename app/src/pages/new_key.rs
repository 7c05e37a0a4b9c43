//! Create a key: one form with every setting, errors under the field they name, and then
//! the secret, shown once.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::auth::Protected;
use crate::components::secret::ShowOnce;
use crate::components::test_call::{TestCall, sample_call};
use crate::components::ui::PageHeading;
use crate::components::ui::{
    CARD, ErrorNote, INPUT, LABEL, Loading, PRIMARY, SECONDARY, StatusBadge, count,
};
use crate::error::AppError;
use crate::keys::{CreateKey, KeyFormOptions, NewSecret};

/// The create page, for admins and owners.
#[component]
pub fn NewKeyPage() -> impl IntoView {
    // Outside the guard, like every page's data (see `pages::keys::options_for`).
    let options = super::keys::options_for(&["admin", "owner"]);
    view! {
        <Protected roles=&["admin", "owner"]>
            <NewKey options />
        </Protected>
    }
}

#[component]
fn NewKey(options: Resource<Result<KeyFormOptions, AppError>>) -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let done = Memo::new(move |_| matches!(create.value().get(), Some(Ok(_))));
    view! {
        <Title text="New key" />
        <nav aria-label="Breadcrumb" class="text-sm text-slate-600">
            <A href="/keys" attr:class="hover:underline">"Keys"</A>
            " / New key"
        </nav>
        <PageHeading class="mt-1 text-2xl font-bold tracking-tight">"New key"</PageHeading>
        // The form stays mounted (with what was typed) until a key exists; then the secret
        // replaces it.
        {move || match done.get().then(|| create.value().get_untracked()).flatten() {
            Some(Ok(created)) => view! { <Created created /> }.into_any(),
            _ => view! {
                <Transition fallback=|| view! { <Loading label="Loading the form…" /> }>
                    {move || Suspend::new(async move {
                        match options.await {
                            Ok(o) => view! { <KeyForm options=o create /> }.into_any(),
                            Err(e) => view! { <ErrorNote message=e.to_string() /> }.into_any(),
                        }
                    })}
                </Transition>
            }.into_any(),
        }}
    }
}

/// The line of a failed submission that names one of `fields` (the server writes one
/// `field: problem` line per field in error, all at once).
pub(crate) fn field_error(error: Option<AppError>, fields: &[&str]) -> Option<String> {
    let message = error?.to_string();
    message
        .lines()
        .find(|line| {
            fields.iter().any(|f| {
                line.strip_prefix(f).is_some_and(|rest| {
                    rest.starts_with(':') || rest.starts_with('.') || rest.starts_with('[')
                })
            })
        })
        .map(str::to_owned)
}

/// `field: problem` as a person reads it: `Label: problem`.
pub(crate) fn labelled(line: &str, label: &str) -> String {
    match line.split_once(": ") {
        Some((_, problem)) => format!("{label}: {problem}"),
        None => line.to_owned(),
    }
}

/// A failed submission's message when it names none of `fields` (it then shows above
/// the form instead of under a field).
pub(crate) fn unnamed_error(error: Option<AppError>, fields: &[&str]) -> Option<AppError> {
    error.filter(|e| field_error(Some(e.clone()), fields).is_none())
}

/// The fields of the create form, as errors name them.
const CREATE_FIELDS: &[&str] = &[
    "name",
    "keyspace_id",
    "owner_id",
    "scopes",
    "expires_at",
    "ip_allowlist",
    "quota",
    "rate_limit",
    "meta",
];

/// An error line under a field, tied to it with `aria-describedby`.
#[component]
pub(crate) fn FieldError(id: &'static str, message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <p id=id class="mt-1 text-sm text-red-700" data-testid="field-error">
            {move || message.try_get().flatten().map(|m| format!("⚠ {m}"))}
        </p>
    }
}

#[component]
fn KeyForm(options: KeyFormOptions, create: ServerAction<CreateKey>) -> impl IntoView {
    let error = move || create.value().get().and_then(Result::err);
    let err_for = move |fields: &'static [&'static str], label: &'static str| {
        Signal::derive(move || field_error(error(), fields).map(|l| labelled(&l, label)))
    };
    let name_err = err_for(&["name"], "Name");
    let keyspace_err = err_for(&["keyspace_id"], "Keyspace");
    let owner_err = err_for(&["owner_id"], "Owner");
    let scopes_err = err_for(&["scopes"], "Scopes");
    let expires_err = err_for(&["expires_at"], "Expiry");
    let ip_err = err_for(&["ip_allowlist"], "IP allowlist");
    let quota_err = err_for(&["quota"], "Quota");
    let rate_err = err_for(&["rate_limit"], "Rate limit");
    let meta_err = err_for(&["meta"], "Metadata");
    let general = move || {
        unnamed_error(error(), CREATE_FIELDS).map(|e| view! { <ErrorNote message=e.to_string() /> })
    };
    let invalid = |s: Signal<Option<String>>| move || s.try_get().flatten().is_some().to_string();
    let at_limit = options
        .limits
        .as_ref()
        .and_then(|l| l.max_keys.map(|m| l.live_keys >= i64::from(m)))
        .unwrap_or(false);
    let no_keyspaces = options.keyspaces.is_empty();
    let fixed = options.limits.as_ref().is_some_and(|l| l.limits_fixed());
    let ceiling = options.limits.clone();
    let limit_hint = move |what: fn(&crate::keys::OwnerLimits) -> Option<String>,
                           none: &'static str| {
        ceiling.as_ref().map(|l| match what(l) {
            Some(max) => format!("Your policy: at most {max}; empty gives {max}."),
            None => none.to_owned(),
        })
    };
    let quota_hint = limit_hint(|l| l.max_quota.clone(), "Your policy sets no ceiling.");
    let rate_hint = limit_hint(|l| l.max_rate_limit.clone(), "Your policy sets no ceiling.");
    let expiry_hint = limit_hint(
        |l| l.max_lifetime.as_ref().map(|d| format!("{d} from now")),
        "Your policy lets keys never expire.",
    );
    let policy = options.limits.clone().map(|l| {
        let keys = match l.max_keys {
            Some(max) => format!("{} of {} live keys used", count(l.live_keys), max),
            None => format!("{} live keys, no limit", count(l.live_keys)),
        };
        let scopes = match &l.allowed_scopes {
            Some(s) if s.is_empty() => "no scopes".to_owned(),
            Some(s) => s.join(", "),
            None => "any scope".to_owned(),
        };
        view! {
            <aside class="mt-4 rounded-md border border-sky-200 bg-sky-50 px-4 py-3 text-sm text-sky-950" data-testid="owner-policy">
                <p class="font-medium">"Your policy, set by an admin"</p>
                <p>{format!("Keys: {keys}. Scopes you may grant: {scopes}.")}</p>
                <p data-testid="owner-limits">{limits_sentence(&l)}</p>
                {at_limit.then(|| view! { <p class="mt-1 font-medium text-red-800">"⚠ You are at your key limit: revoke a key before creating another."</p> })}
            </aside>
        }
    });
    let scopes_hint = options
        .limits
        .as_ref()
        .and_then(|l| l.allowed_scopes.clone())
        .map_or_else(
            || "Separated by commas or spaces, e.g. read:orders write:orders.".to_owned(),
            |s| {
                format!(
                    "Separated by commas or spaces. Allowed: {}.",
                    if s.is_empty() {
                        "none".into()
                    } else {
                        s.join(", ")
                    }
                )
            },
        );
    view! {
        {policy}
        {no_keyspaces.then(|| view! {
            <p class="mt-4 rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950">
                "There is no keyspace yet. "
                {options.is_admin.then(|| view! { <A href="/keyspaces" attr:class="font-medium underline">"Create a keyspace"</A> })}
                {(!options.is_admin).then_some("Ask an admin to create one.")}
            </p>
        })}
        <ActionForm action=create attr:class=format!("mt-6 space-y-6 p-5 {CARD}") attr:novalidate="true">
            <div class="space-y-4">
                {general}
                <div class="grid gap-4 sm:grid-cols-2">
                    <div>
                        <label for="k-name" class=LABEL>"Name"</label>
                        <input id="k-name" name="fields[name]" required maxlength="200" class=INPUT aria-describedby="k-name-err" aria-invalid=invalid(name_err) placeholder="Billing service, production" />
                        <FieldError id="k-name-err" message=name_err />
                    </div>
                    <div>
                        <label for="k-keyspace" class=LABEL>"Keyspace"</label>
                        <select id="k-keyspace" name="keyspace_id" class=INPUT aria-describedby="k-keyspace-err" aria-invalid=invalid(keyspace_err)>
                            {options.keyspaces.into_iter().map(|k| view! { <option value=k.id>{k.label}</option> }).collect_view()}
                        </select>
                        <FieldError id="k-keyspace-err" message=keyspace_err />
                    </div>
                    {options.is_admin.then(|| view! {
                        <div>
                            <label for="k-owner" class=LABEL>"Owner"</label>
                            <select id="k-owner" name="owner_id" class=INPUT aria-describedby="k-owner-err" aria-invalid=invalid(owner_err)>
                                <option value="">"Me"</option>
                                {options.owners.into_iter().map(|u| view! { <option value=u.id>{u.label}</option> }).collect_view()}
                            </select>
                            <FieldError id="k-owner-err" message=owner_err />
                        </div>
                    })}
                    {(!fixed).then(|| view! {
                    <div>
                        <label for="k-expires" class=LABEL>"Expires (UTC, optional)"</label>
                        <input id="k-expires" name="fields[expires_at]" type="datetime-local" class=INPUT aria-describedby="k-expires-hint k-expires-err" aria-invalid=invalid(expires_err) />
                        <p id="k-expires-hint" class="mt-1 text-xs text-slate-500">{expiry_hint.clone()}</p>
                        <FieldError id="k-expires-err" message=expires_err />
                    </div>
                    })}
                </div>
                <div>
                    <label for="k-scopes" class=LABEL>"Scopes"</label>
                    <input id="k-scopes" name="fields[scopes]" class=INPUT aria-describedby="k-scopes-hint k-scopes-err" aria-invalid=invalid(scopes_err) />
                    <p id="k-scopes-hint" class="mt-1 text-xs text-slate-500">{scopes_hint}</p>
                    <FieldError id="k-scopes-err" message=scopes_err />
                </div>
                <div>
                    <label for="k-ips" class=LABEL>"IP allowlist (optional)"</label>
                    <textarea id="k-ips" name="fields[ip_allowlist]" rows="2" class=INPUT aria-describedby="k-ips-hint k-ips-err" aria-invalid=invalid(ip_err) placeholder="10.0.0.0/8, 2001:db8::/32"></textarea>
                    <p id="k-ips-hint" class="mt-1 text-xs text-slate-500">"Addresses or networks, separated by commas or lines. Empty allows any address."</p>
                    <FieldError id="k-ips-err" message=ip_err />
                </div>
                {fixed.then(|| view! {
                    <p class="rounded-md border border-slate-200 bg-slate-50 px-3 py-2 text-sm text-slate-700" data-testid="fixed-limits">
                        "Expiry, quota and rate limit are set by an admin; this key gets the values of your policy above."
                    </p>
                })}
                {(!fixed).then(|| view! {
                <fieldset class="grid gap-4 sm:grid-cols-2">
                    <legend class="sr-only">"Limits"</legend>
                    <div>
                        <span class=LABEL>"Quota (optional)"</span>
                        <div class="flex gap-2">
                            <label for="k-quota" class="sr-only">"Quota: credits per period"</label>
                            <input id="k-quota" name="fields[quota_limit]" inputmode="numeric" placeholder="Credits" class=INPUT aria-describedby="k-quota-err" aria-invalid=invalid(quota_err) />
                            <label for="k-quota-period" class="sr-only">"Quota period"</label>
                            <select id="k-quota-period" name="fields[quota_period]" class=INPUT>
                                <option value="month">"per month"</option>
                                <option value="day">"per day"</option>
                                <option value="total">"in total"</option>
                            </select>
                        </div>
                        <p class="mt-1 text-xs text-slate-500">{quota_hint.clone()}</p>
                        <FieldError id="k-quota-err" message=quota_err />
                    </div>
                    <div>
                        <span class=LABEL>"Rate limit (optional)"</span>
                        <div class="flex items-center gap-2">
                            <label for="k-rate" class="sr-only">"Rate limit: verifications per window"</label>
                            <input id="k-rate" name="fields[rate_limit]" inputmode="numeric" placeholder="Requests" class=INPUT aria-describedby="k-rate-err" aria-invalid=invalid(rate_err) />
                            <label for="k-window" class="shrink-0 text-sm text-slate-600">"per (s)"</label>
                            <input id="k-window" name="fields[rate_window]" inputmode="numeric" value="60" class=INPUT />
                        </div>
                        <p class="mt-1 text-xs text-slate-500">{rate_hint.clone()}</p>
                        <FieldError id="k-rate-err" message=rate_err />
                    </div>
                </fieldset>
                })}
                <div>
                    <label for="k-meta" class=LABEL>"Metadata (JSON object, optional)"</label>
                    <textarea id="k-meta" name="fields[meta]" rows="3" class=format!("{INPUT} font-mono") aria-describedby="k-meta-err" aria-invalid=invalid(meta_err) placeholder=r#"{"plan": "pro"}"#></textarea>
                    <FieldError id="k-meta-err" message=meta_err />
                </div>
            </div>
            <div class="flex items-center gap-3">
                <button type="submit" class=PRIMARY disabled=move || at_limit || no_keyspaces || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                </button>
                <A href="/keys" attr:class=SECONDARY>"Cancel"</A>
            </div>
        </ActionForm>
    }
}

#[component]
fn Created(created: NewSecret) -> impl IntoView {
    let key = created.key;
    let call = sample_call(&created.base_url, &key, Some(&created.secret));
    let test_call = view! { <TestCall call for_owner=true /> };
    view! {
        <div class="mt-6 space-y-6">
            <ShowOnce secret=created.secret what="API key" />
            <section class=format!("p-5 {CARD}") aria-label="The new key">
                <div class="flex flex-wrap items-center gap-3">
                    <h2 class="text-lg font-semibold">{key.name.clone()}</h2>
                    <StatusBadge status=key.status.clone() />
                </div>
                <p class="mt-1 font-mono text-sm text-slate-600">{format!("{}…", key.start)}" · "{key.keyspace.clone()}" · "{key.owner.clone()}</p>
                <div class="mt-4 flex flex-wrap gap-3">
                    // A full page load: nothing of this page, the secret included, stays in memory.
                    <a href=format!("/keys/{}", key.id) class=PRIMARY rel="external" data-testid="open-key">"I have copied it: open the key"</a>
                    <a href="/keys/new" class=SECONDARY rel="external">"Create another"</a>
                </div>
            </section>
            {test_call}
        </div>
    }
}

/// The ceiling on an owner's keys in one sentence, as the owner reads it.
pub(crate) fn limits_sentence(l: &crate::keys::OwnerLimits) -> String {
    let quota = l.max_quota.as_ref().map_or_else(
        || "no quota ceiling".to_owned(),
        |q| format!("quota at most {q}"),
    );
    let rate = l.max_rate_limit.as_ref().map_or_else(
        || "no rate limit ceiling".to_owned(),
        |r| format!("rate limit at most {r}"),
    );
    let life = l.max_lifetime.as_ref().map_or_else(
        || "keys may never expire".to_owned(),
        |d| format!("keys expire within {d}"),
    );
    let who = if l.may_change_limits {
        "You may set these within the maxima."
    } else {
        "An admin sets them; you cannot change them."
    };
    format!("Limits: {quota}; {rate}; {life}. {who}")
}
