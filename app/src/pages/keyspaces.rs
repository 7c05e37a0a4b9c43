//! Keyspaces and verifiers (admin; auditors read): create keyspaces, issue verifier
//! tokens (shown once) and revoke them, and a copy-paste call of `/v1/verify` for each.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::Protected;
use crate::components::dialog::Dialog;
use crate::components::secret::ShowOnce;
use crate::components::ui::PageHeading;
use crate::components::ui::{
    CARD, DANGER, Empty, ErrorNote, INPUT, LABEL, Loading, PRIMARY, SECONDARY, on_success, when,
    when_or,
};
use crate::error::AppError;
use crate::keyspaces::{
    CreateKeyspace, CreateVerifier, KeyspaceRow, KeyspacesView, RevokeVerifier, SetKeyHeader,
    SetKeyspacePolicies, VerifierRow, list_keyspaces,
};
use crate::leaks::{CreateLeakReporter, LeakIntake, LeakReporterRow, RevokeLeakReporter};

/// The keyspaces page.
#[component]
pub fn KeyspacesPage() -> impl IntoView {
    // Made outside the guard, which may render its content twice on the server (see
    // `pages::home`).
    let user = expect_context::<crate::auth::UserResource>();
    let actions = Actions {
        create: ServerAction::new(),
        issue: ServerAction::new(),
        revoke: ServerAction::new(),
        key_header: ServerAction::new(),
        policies: ServerAction::new(),
        issue_reporter: ServerAction::new(),
        revoke_reporter: ServerAction::new(),
    };
    let data = Resource::new(
        move || {
            (
                actions.create.version().get(),
                actions.issue.version().get(),
                actions.revoke.version().get(),
                actions.key_header.version().get(),
                actions.policies.version().get(),
                actions.issue_reporter.version().get(),
                actions.revoke_reporter.version().get(),
            )
        },
        move |_| crate::auth::for_roles(user, &["admin", "auditor"], list_keyspaces()),
    );
    view! {
        <Protected roles=&["admin", "auditor"]>
            <Keyspaces actions data />
        </Protected>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateKeyspace>,
    issue: ServerAction<CreateVerifier>,
    revoke: ServerAction<RevokeVerifier>,
    key_header: ServerAction<SetKeyHeader>,
    policies: ServerAction<SetKeyspacePolicies>,
    issue_reporter: ServerAction<CreateLeakReporter>,
    revoke_reporter: ServerAction<RevokeLeakReporter>,
}

#[component]
fn Keyspaces(actions: Actions, data: Resource<Result<KeyspacesView, AppError>>) -> impl IntoView {
    let create_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if matches!(actions.create.value().get(), Some(Ok(_)))
            && let Some(form) = create_form.get()
        {
            form.reset();
        }
    });
    view! {
        <Title text="Keyspaces" />
        <PageHeading class="text-2xl font-bold tracking-tight">"Keyspaces"</PageHeading>
        <p class="mt-1 text-sm text-slate-600">"A keyspace groups keys under one prefix. Services verify its keys with a verifier token, which can verify this keyspace's keys and nothing else."</p>
        {move || actions.key_header.value().get().and_then(Result::err).map(|e| view! { <div class="mt-6"><ErrorNote message=format!("The key header was not changed: {e}") /></div> })}
        {move || actions.policies.value().get().and_then(Result::err).map(|e| view! { <div class="mt-6"><ErrorNote message=format!("The policies were not changed: {e}") /></div> })}
        {move || actions.issue.value().get().and_then(Result::ok).map(|v| view! {
            <div class="mt-6" data-testid="new-verifier">
                <ShowOnce secret=v.token what="verifier token" />
            </div>
        })}
        <Transition fallback=|| view! { <div class="mt-6"><Loading label="Loading keyspaces…" /></div> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view_data) => {
                        let may_change = view_data.may_change;
                        let base = view_data.base_url.clone();
                        view! {
                            {may_change.then(|| view! {
                                <section aria-labelledby="new-keyspace" class=format!("mt-6 p-5 {CARD}")>
                                    <h2 id="new-keyspace" class="font-semibold">"New keyspace"</h2>
                                    <ActionForm action=actions.create node_ref=create_form attr:class="mt-3 grid gap-4 sm:grid-cols-3">
                                        <div>
                                            <label for="ks-name" class=LABEL>"Name"</label>
                                            <input id="ks-name" name="name" required maxlength="100" class=INPUT placeholder="Payments API" />
                                        </div>
                                        <div>
                                            <label for="ks-prefix" class=LABEL>"Key prefix"</label>
                                            <input id="ks-prefix" name="prefix" required maxlength="12" class=INPUT placeholder="pay" aria-describedby="ks-prefix-hint" />
                                            <p id="ks-prefix-hint" class="mt-1 text-xs text-slate-500">"2 to 12 lower-case letters and digits; keys look like pay_…"</p>
                                        </div>
                                        <div class="flex items-end">
                                            <button type="submit" class=PRIMARY>"Create keyspace"</button>
                                        </div>
                                    </ActionForm>
                                    {move || actions.create.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3"><ErrorNote message=e.to_string() /></div> })}
                                </section>
                            })}
                            {if view_data.keyspaces.is_empty() {
                                view! { <div class="mt-6"><Empty title="No keyspaces yet." hint="Create one above; keys and verifier tokens belong to a keyspace." /></div> }.into_any()
                            } else {
                                view! {
                                    <div class="mt-6 space-y-6">
                                        {view_data.keyspaces.into_iter().map(|k| view! { <KeyspaceCard keyspace=k base=base.clone() may_change actions /> }).collect_view()}
                                    </div>
                                }.into_any()
                            }}
                            <LeakReporters intake=view_data.leaks.clone() base=base.clone() may_change actions />
                        }.into_any()
                    }
                    Err(e) => view! { <div class="mt-6"><ErrorNote message=e.to_string() /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn KeyspaceCard(
    keyspace: KeyspaceRow,
    base: String,
    may_change: bool,
    actions: Actions,
) -> impl IntoView {
    // Runs as shown once the two variables hold a verifier token and a key of this
    // keyspace: no scopes and no address are asked for, so any working key answers VALID.
    let curl = format!(
        "export LOCKSMITH_VERIFIER_TOKEN='…'  # a verifier token of this keyspace (above)\n\
         export LOCKSMITH_API_KEY='{prefix}_…'  # a key of this keyspace\n\
         curl -sS {base}/v1/verify \\\n  \
         -H \"Authorization: Bearer $LOCKSMITH_VERIFIER_TOKEN\" \\\n  \
         -H 'Content-Type: application/json' \\\n  \
         -d \"{{\\\"key\\\": \\\"$LOCKSMITH_API_KEY\\\"}}\"",
        prefix = keyspace.prefix
    );
    let name_id = format!("verifier-name-{}", keyspace.id);
    let proxy_keyspace = keyspace.id.clone();
    let policy_keyspace = keyspace.id.clone();
    let testid = format!("keyspace-{}", keyspace.prefix);
    let heading = format!("ks-title-{}", keyspace.id);
    let labelled_by = heading.clone();
    let live = keyspace
        .verifiers
        .iter()
        .filter(|v| v.revoked_at.is_none())
        .count();
    view! {
        <section class=format!("p-5 {CARD}") aria-labelledby=labelled_by data-testid=testid>
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 id=heading class="text-lg font-semibold">
                    {keyspace.name.clone()}
                    <span class="ml-2 rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-700">{format!("{}_", keyspace.prefix)}</span>
                </h2>
                <p class="text-xs text-slate-500">{format!("Created {} · {live} live verifier(s)", when(&keyspace.created_at))}</p>
            </div>
            <h3 class="mt-4 text-sm font-medium text-slate-800">"Verifier tokens"</h3>
            {if keyspace.verifiers.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-500">"None yet: a service needs one to call /v1/verify."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 divide-y divide-slate-100 rounded-md border border-slate-200">
                        {keyspace.verifiers.into_iter().map(|v| view! { <VerifierItem verifier=v may_change actions /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {may_change.then(|| view! {
                <ActionForm action=actions.issue attr:class="mt-3 flex flex-wrap items-end gap-2">
                    <input type="hidden" name="keyspace_id" value=keyspace.id.clone() />
                    <div>
                        <label for=name_id.clone() class=LABEL>"New verifier for service"</label>
                        <input id=name_id name="name" required maxlength="100" class=INPUT placeholder="orders-service" />
                    </div>
                    <button type="submit" class=SECONDARY>"Issue token"</button>
                </ActionForm>
            })}
            <ProxySetup keyspace_id=proxy_keyspace key_header=keyspace.key_header.clone() may_change actions />
            <Policies keyspace_id=policy_keyspace leak_action=keyspace.leak_action.clone() anomaly_action=keyspace.anomaly_action.clone() may_change actions />
            <details class="mt-4">
                <summary class="cursor-pointer text-sm font-medium text-sky-800 hover:underline">"Call /v1/verify from a service"</summary>
                <pre class="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100" data-testid="curl-example">{curl}</pre>
                <p class="mt-1 text-xs text-slate-500">"Every processed verification answers 200 with {\"valid\", \"code\", …}; only VALID spends quota. Add \"scopes\": [...] to require scopes, and \"client_ip\" (the caller's address) for keys with an IP allowlist."</p>
            </details>
        </section>
    }
}

/// Where proxies (`GET /v1/authz`) find this keyspace's keys, changeable by admins, with
/// the nginx lines that protect a service.
#[component]
fn ProxySetup(
    keyspace_id: String,
    key_header: String,
    may_change: bool,
    actions: Actions,
) -> impl IntoView {
    let input_id = format!("key-header-{keyspace_id}");
    let shown = if key_header == "authorization" {
        "Authorization: Bearer <key>".to_owned()
    } else {
        format!("{key_header}: <key>")
    };
    let nginx = "include /etc/nginx/locksmith/locksmith-authz.conf;   # once per server {}
                 location /orders/ {
                     set $locksmith_scopes \"orders:read\";   # optional
                     include /etc/nginx/locksmith/locksmith-protect.conf;
                     proxy_pass http://orders;
                 }";
    view! {
        <details class="mt-4" data-testid="proxy-setup">
            <summary class="cursor-pointer text-sm font-medium text-sky-800 hover:underline">"Protect a service with nginx or Envoy"</summary>
            <p class="mt-2 text-sm text-slate-700">
                "Proxies ask GET /v1/authz, and find the key in "
                <code class="rounded bg-slate-100 px-1 font-mono text-xs" data-testid="key-header">{shown}</code>
                ". The files are in deploy/nginx; docs/proxy-auth.md explains them and has an Envoy snippet."
            </p>
            <pre class="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">{nginx}</pre>
            {may_change.then(|| view! {
                <ActionForm action=actions.key_header attr:class="mt-3 flex flex-wrap items-end gap-2">
                    <input type="hidden" name="keyspace_id" value=keyspace_id.clone() />
                    <div>
                        <label for=input_id.clone() class=LABEL>"Header that carries keys"</label>
                        <input id=input_id name="key_header" required maxlength="64" class=INPUT value=key_header.clone() aria-describedby="key-header-hint" />
                        <p id="key-header-hint" class="mt-1 text-xs text-slate-500">"x-api-key, authorization (Bearer), or a header of your own"</p>
                    </div>
                    <button type="submit" class=SECONDARY>"Save header"</button>
                </ActionForm>
            })}
        </details>
    }
}

/// Where leaked keys are reported: GitHub secret scanning, and the leak-reporter tokens
/// of other scanners.
#[component]
fn LeakReporters(
    intake: LeakIntake,
    base: String,
    may_change: bool,
    actions: Actions,
) -> impl IntoView {
    let github = if intake.github {
        format!(
            "GitHub secret scanning reports to {base}/v1/leaks/github (its signing keys are configured)."
        )
    } else {
        "GitHub secret scanning is not configured: set LOCKSMITH_GITHUB_SECRET_SCANNING_KEYS (the README's \"Leaks and unusual use\" tells how to register).".to_owned()
    };
    view! {
        <section aria-labelledby="leak-reporters-title" class=format!("mt-6 p-5 {CARD}") data-testid="leak-reporters">
            <h2 id="leak-reporters-title" class="text-lg font-semibold">"Leak reporters"</h2>
            <p class="mt-1 text-sm text-slate-600">{format!("Scanners and people report keys found published with POST {base}/v1/leaks and a leak-reporter token. A live key reported becomes a finding, and its keyspace's policy applies.")}</p>
            <p class="mt-1 text-sm text-slate-600" data-testid="github-scanning">{github}</p>
            {move || actions.issue_reporter.value().get().and_then(Result::ok).map(|r| view! {
                <div class="mt-3" data-testid="new-leak-reporter">
                    <ShowOnce secret=r.token what="leak-reporter token" />
                </div>
            })}
            {move || actions.issue_reporter.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3"><ErrorNote message=e.to_string() /></div> })}
            {if intake.reporters.is_empty() {
                view! { <p class="mt-3 text-sm text-slate-500">"No leak-reporter token yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-3 divide-y divide-slate-100 rounded-md border border-slate-200">
                        {intake.reporters.into_iter().map(|r| view! { <LeakReporterItem reporter=r may_change actions /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {may_change.then(|| view! {
                <ActionForm action=actions.issue_reporter attr:class="mt-3 flex flex-wrap items-end gap-2">
                    <div>
                        <label for="leak-reporter-name" class=LABEL>"New leak reporter"</label>
                        <input id="leak-reporter-name" name="name" required maxlength="100" class=INPUT placeholder="trufflehog-nightly" />
                    </div>
                    <button type="submit" class=SECONDARY>"Issue token"</button>
                </ActionForm>
            })}
        </section>
    }
}

#[component]
fn LeakReporterItem(
    reporter: LeakReporterRow,
    may_change: bool,
    actions: Actions,
) -> impl IntoView {
    let id = StoredValue::new(reporter.id.clone());
    view! {
        <li class="flex flex-wrap items-center gap-x-4 gap-y-1 px-3 py-2 text-sm" data-testid="leak-reporter">
            <span class="font-medium">{reporter.name.clone()}</span>
            <span class="font-mono text-xs text-slate-500">{format!("{}…", reporter.start)}</span>
            <span class="text-xs text-slate-500">{format!("last used {}", when_or(reporter.last_used_at.as_ref(), "never"))}</span>
            {if reporter.revoked_at.is_some() {
                view! { <span class="ml-auto rounded-full bg-red-100 px-2 py-0.5 text-xs text-red-900 ring-1 ring-red-300">"✕ revoked"</span> }.into_any()
            } else if may_change {
                view! { <button type="button" class=format!("ml-auto {DANGER}") on:click=move |_| { actions.revoke_reporter.dispatch(RevokeLeakReporter { id: id.get_value() }); }>"Revoke"</button> }.into_any()
            } else {
                view! { <span class="ml-auto rounded-full bg-emerald-100 px-2 py-0.5 text-xs text-emerald-900 ring-1 ring-emerald-300">"● live"</span> }.into_any()
            }}
        </li>
    }
}

/// What Locksmith does on its own when a key of the keyspace leaks or is used
/// unusually; admins change it.
#[component]
fn Policies(
    keyspace_id: String,
    leak_action: String,
    anomaly_action: String,
    may_change: bool,
    actions: Actions,
) -> impl IntoView {
    let leak_id = format!("leak-action-{keyspace_id}");
    let anomaly_id = format!("anomaly-action-{keyspace_id}");
    let leak_words = match leak_action.as_str() {
        "revoke" => "revoked at once",
        "disable" => "disabled at once",
        _ => "left working; its owner and the admins are told",
    };
    let anomaly_words = match anomaly_action.as_str() {
        "disable" => "disabled at once",
        _ => "left working; its owner and the admins are told",
    };
    let option = |value: &'static str, label: &'static str, current: &str| {
        view! { <option value=value selected=current == value>{label}</option> }
    };
    view! {
        <details class="mt-4" data-testid="policies">
            <summary class="cursor-pointer text-sm font-medium text-sky-800 hover:underline">"When a key leaks or is used unusually"</summary>
            <p class="mt-2 text-sm text-slate-700" data-testid="policy-summary">
                {format!("A key reported as leaked is {leak_words}. A key with a high-severity finding (used from many networks at once, or a huge spike) is {anomaly_words}.")}
            </p>
            {may_change.then(|| view! {
                <ActionForm action=actions.policies attr:class="mt-3 flex flex-wrap items-end gap-3">
                    <input type="hidden" name="keyspace_id" value=keyspace_id.clone() />
                    <div>
                        <label for=leak_id.clone() class=LABEL>"Leaked key"</label>
                        <select id=leak_id name="leak_action" class=INPUT>
                            {option("notify", "Notify only", &leak_action)}
                            {option("disable", "Disable the key", &leak_action)}
                            {option("revoke", "Revoke the key", &leak_action)}
                        </select>
                    </div>
                    <div>
                        <label for=anomaly_id.clone() class=LABEL>"High-severity unusual use"</label>
                        <select id=anomaly_id name="anomaly_action" class=INPUT>
                            {option("notify", "Notify only", &anomaly_action)}
                            {option("disable", "Disable the key", &anomaly_action)}
                        </select>
                    </div>
                    <button type="submit" class=SECONDARY>"Save policies"</button>
                </ActionForm>
            })}
        </details>
    }
}

#[component]
fn VerifierItem(verifier: VerifierRow, may_change: bool, actions: Actions) -> impl IntoView {
    let open = RwSignal::new(false);
    let revoked = verifier.revoked_at.is_some();
    let (keyspace_id, id) = (
        StoredValue::new(verifier.keyspace_id.clone()),
        StoredValue::new(verifier.id.clone()),
    );
    let title = format!("Revoke the token of {}?", verifier.name);
    let stakes = format!(
        "Services calling /v1/verify with {}… get 401 at once, on every instance.",
        verifier.start
    );
    let last_use = format!(
        "Last used {}; {} requests in the last 24 hours.",
        when_or(verifier.last_used_at.as_ref(), "never"),
        crate::components::ui::count(verifier.requests_24h)
    );
    on_success(actions.revoke, move || open.set(false));
    view! {
        <li class="flex flex-wrap items-center gap-x-4 gap-y-1 px-3 py-2 text-sm" data-testid="verifier">
            <span class="font-medium">{verifier.name.clone()}</span>
            <span class="font-mono text-xs text-slate-500">{format!("{}…", verifier.start)}</span>
            <span class="text-xs text-slate-500" data-testid="verifier-traffic">{format!("last used {} · {} requests in 24 h", when_or(verifier.last_used_at.as_ref(), "never"), crate::components::ui::count(verifier.requests_24h))}</span>
            {if revoked {
                view! { <span class="ml-auto rounded-full bg-red-100 px-2 py-0.5 text-xs text-red-900 ring-1 ring-red-300" data-testid="verifier-revoked">"✕ revoked"</span> }.into_any()
            } else if may_change {
                view! { <button type="button" class=format!("ml-auto {DANGER}") on:click=move |_| open.set(true)>"Revoke"</button> }.into_any()
            } else {
                view! { <span class="ml-auto rounded-full bg-emerald-100 px-2 py-0.5 text-xs text-emerald-900 ring-1 ring-emerald-300">"● live"</span> }.into_any()
            }}
            <Dialog open title=title id="revoke-verifier-dialog">
                <p class="text-slate-700">{stakes.clone()}</p>
                <p class="text-slate-700" data-testid="dialog-last-used">{last_use.clone()}</p>
                {move || actions.revoke.value().get().and_then(Result::err).map(|e| view! { <ErrorNote message=e.to_string() /> })}
                <button type="button" class=DANGER on:click=move |_| { actions.revoke.dispatch(RevokeVerifier { keyspace_id: keyspace_id.get_value(), id: id.get_value() }); }>
                    "Revoke token"
                </button>
            </Dialog>
        </li>
    }
}
