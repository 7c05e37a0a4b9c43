//! The audit log (admin, auditor): filters in the URL, pagination, what each entry changed
//! (field by field, with the raw before and after), and a check of the hash chain.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::audit::{
    AuditFilters, AuditPage as Entries, AuditRow, FieldChange, VerifyAuditChain, audit_actions,
    audit_entries,
};
use crate::auth::Protected;
use crate::components::ui::PageHeading;
use crate::error::AppError;
use crate::users::{UserRow, list_users};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-500";

/// The audit page.
#[component]
pub fn AuditPage() -> impl IntoView {
    // The entries are read here, outside the guard, which may render its content more
    // than once on the server: a second read could include new entries and disagree with
    // the data sent for hydration (see `pages::home`).
    let query = use_query_map();
    let filters = move || {
        let q = query.get();
        let get = |k: &str| q.get(k).unwrap_or_default();
        AuditFilters {
            actor_id: get("actor_id"),
            action: get("action"),
            target_id: get("target_id"),
            from: get("from"),
            to: get("to"),
            cursor: get("cursor"),
            hide_sign_ins: !get("hide_sign_ins").is_empty(),
        }
    };
    let entries = Resource::new(filters, audit_entries);
    // The actor picker's choices.
    let user = expect_context::<crate::auth::UserResource>();
    let actors = Resource::new(
        || (),
        move |()| crate::auth::for_roles(user, &["admin", "auditor"], list_users()),
    );
    let actions = Resource::new(|| (), |()| audit_actions());
    view! {
        <Protected roles=&["admin", "auditor"]>
            <AuditLog entries actors actions />
        </Protected>
    }
}

#[component]
fn AuditLog(
    entries: Resource<Result<Option<Entries>, AppError>>,
    actors: Resource<Result<Vec<UserRow>, AppError>>,
    actions: Resource<Result<Vec<String>, AppError>>,
) -> impl IntoView {
    let query = use_query_map();
    let verify = ServerAction::<VerifyAuditChain>::new();
    let field = move |name: &'static str| query.get_untracked().get(name).unwrap_or_default();
    // The form is made once; its fields follow the URL (Clear, back, forward).
    let live = move |name: &'static str| move || query.with(|q| q.get(name).unwrap_or_default());
    view! {
        <Title text="Audit log" />
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <PageHeading class="text-2xl font-bold tracking-tight">"Audit log"</PageHeading>
                <p class="mt-1 text-sm text-slate-600">"Every change, newest first. Entries are chained by hash: editing history is detectable."</p>
            </div>
            <div class="flex items-center gap-3">
                <a
                    href=move || {
                        let mut q = query.get();
                        q.remove("cursor");
                        format!("/audit/export.csv{}", q.to_query_string())
                    }
                    rel="external"
                    download=""
                    class="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-500"
                >
                    "Export CSV"
                </a>
                <ActionForm action=verify>
                    <button type="submit" class="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium hover:bg-slate-50">"Verify chain"</button>
                </ActionForm>
                <p role="status" data-testid="chain-status" class="text-sm">
                    {move || verify.value().get().map(|r| match r {
                        Ok(s) => match s.first_broken {
                            None => format!("✓ Intact: {} entries verified", s.checked),
                            Some(id) => format!("✗ Broken at entry #{id}"),
                        },
                        Err(e) => e.to_string(),
                    })}
                </p>
            </div>
        </div>

        <Form method="GET" action="/audit" attr:class="mt-6 grid gap-4 rounded-lg border border-slate-200 bg-white p-5 shadow-sm sm:grid-cols-3 lg:grid-cols-6">
            <div>
                <label for="f-action" class="block text-sm font-medium text-slate-700">"Action"</label>
                <Transition fallback=move || view! {
                    <select id="f-action" name="action" class=INPUT>
                        <option value=field("action")>{move || { let a = field("action"); if a.is_empty() { "Any action".to_owned() } else { a } }}</option>
                    </select>
                }>
                    {move || Suspend::new(async move {
                        let names = actions.await.unwrap_or_default();
                        let chosen = field("action");
                        view! {
                            <select id="f-action" name="action" prop:value=live("action") class=INPUT>
                                <option value="">"Any action"</option>
                                {names.into_iter().map(|a| {
                                    let selected = a == chosen;
                                    let label = a.clone();
                                    view! { <option value=a selected=selected>{label}</option> }
                                }).collect_view()}
                            </select>
                        }
                    })}
                </Transition>
            </div>
            <div>
                <label for="f-actor" class="block text-sm font-medium text-slate-700">"Actor"</label>
                <Transition fallback=move || view! { <input id="f-actor" name="actor_id" value=field("actor_id") class=INPUT /> }>
                    {move || Suspend::new(async move {
                        let users = actors.await.unwrap_or_default();
                        let chosen = field("actor_id");
                        view! {
                            <select id="f-actor" name="actor_id" prop:value=live("actor_id") class=INPUT>
                                <option value="">"Anyone"</option>
                                {users.into_iter().map(|u| {
                                    let selected = u.id == chosen;
                                    view! { <option value=u.id selected=selected>{u.email}</option> }
                                }).collect_view()}
                            </select>
                        }
                    })}
                </Transition>
            </div>
            <div>
                <label for="f-target" class="block text-sm font-medium text-slate-700">"Target"</label>
                <input id="f-target" name="target_id" list="audit-targets" placeholder="Pick or paste an id" value=field("target_id") prop:value=live("target_id") class=INPUT />
                <datalist id="audit-targets">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let mut seen = std::collections::BTreeMap::new();
                            if let Ok(Some(page)) = entries.await {
                                for e in page.items {
                                    if let (Some(id), Some(name)) = (e.target_id, e.target_name) {
                                        seen.insert(id, format!("{} {name}", e.target_type));
                                    }
                                }
                            }
                            seen.into_iter().map(|(id, label)| view! { <option value=id label=label></option> }).collect_view()
                        })}
                    </Transition>
                </datalist>
            </div>
            <div>
                <label for="f-from" class="block text-sm font-medium text-slate-700">"From (UTC)"</label>
                <input id="f-from" name="from" type="datetime-local" value=field("from") prop:value=live("from") class=INPUT />
            </div>
            <div>
                <label for="f-to" class="block text-sm font-medium text-slate-700">"To (UTC)"</label>
                <input id="f-to" name="to" type="datetime-local" value=field("to") prop:value=live("to") class=INPUT />
            </div>
            <div class="flex items-center gap-2 sm:col-span-3 lg:col-span-6">
                <input id="f-hide-sign-ins" name="hide_sign_ins" type="checkbox" value="1" class="h-5 w-5" checked=!field("hide_sign_ins").is_empty() prop:checked=move || query.with(|q| q.get("hide_sign_ins").is_some_and(|v| !v.is_empty())) />
                <label for="f-hide-sign-ins" class="text-sm text-slate-700">"Hide sign-ins and sign-outs"</label>
            </div>
            <div class="flex items-end gap-2">
                <button type="submit" class="rounded-md bg-sky-700 px-3 py-2 text-sm font-medium text-white hover:bg-sky-800">"Filter"</button>
                <a href="/audit" class="rounded-md px-3 py-2 text-sm text-slate-600 hover:bg-slate-100">"Clear"</a>
            </div>
        </Form>

        <section aria-label="Entries" class="mt-6">
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading entries…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(None) => view! { <p role="alert" class="rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">{AppError::Unauthorized.to_string()}</p> }.into_any(),
                        Ok(Some(page)) if page.items.is_empty() => view! {
                            <p class="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center text-sm text-slate-500">
                                "No entries match these filters."
                            </p>
                        }.into_any(),
                        Ok(Some(page)) => {
                            let next = page.next_cursor.map(|c| {
                                let mut q = query.get_untracked();
                                q.replace("cursor", c.to_string());
                                format!("/audit{}", q.to_query_string())
                            });
                            view! {
                                <ol class="space-y-2" data-testid="audit-entries">
                                    {page.items.into_iter().map(|e| view! { <Entry entry=e linked=true /> }).collect_view()}
                                </ol>
                                {next.map(|href| view! {
                                    <a href=href class="mt-4 inline-block rounded-md border border-slate-300 bg-white px-3 py-2 text-sm hover:bg-slate-50">"Older entries →"</a>
                                })}
                            }.into_any()
                        }
                        Err(e) => view! { <p role="alert" class="rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The fields an entry changed, each with its before and after marked as a deletion and
/// an insertion (and named in words, so colour is not the only signal); the fields it left
/// alone fold away under a count.
#[component]
fn Changes(changes: Vec<FieldChange>) -> impl IntoView {
    let (same, touched): (Vec<FieldChange>, Vec<FieldChange>) =
        changes.into_iter().partition(|c| c.change == "unchanged");
    let row = |c: FieldChange| {
        let tint = match c.change.as_str() {
            "added" => "bg-emerald-50",
            "removed" => "bg-rose-50",
            "changed" => "bg-amber-50",
            _ => "",
        };
        let path = if c.path.is_empty() {
            "(value)".to_owned()
        } else {
            c.path
        };
        // The view macro moves attribute values before the children read theirs.
        let (path_attr, change_attr) = (path.clone(), c.change.clone());
        let before = c.before.map(|v| {
            view! { <del class="break-all rounded bg-rose-100 px-1 text-rose-900 no-underline">{v}</del> }
        });
        let after = c.after.map(|v| {
            view! { <ins class="break-all rounded bg-emerald-100 px-1 text-emerald-900 no-underline">{v}</ins> }
        });
        view! {
            <tr class=tint data-testid="audit-change" data-path=path_attr data-change=change_attr>
                <th scope="row" class="px-2 py-1 align-top font-mono font-normal text-slate-800">
                    {path}
                    <span class="ml-2 rounded border border-slate-300 bg-white px-1 font-sans text-[0.65rem] uppercase text-slate-600">{c.change}</span>
                </th>
                <td class="px-2 py-1 align-top font-mono">{before}</td>
                <td class="px-2 py-1 align-top font-mono">{after}</td>
            </tr>
        }
    };
    let table = |rows: Vec<FieldChange>, caption: &'static str, testid: &'static str| {
        view! {
            <div class="relative mt-2 overflow-x-auto">
                <table class="w-full min-w-[28rem] text-left" data-testid=testid>
                    <caption class="sr-only">{caption}</caption>
                    <thead class="text-slate-500">
                        <tr>
                            <th scope="col" class="px-2 py-1 font-medium">"Field"</th>
                            <th scope="col" class="px-2 py-1 font-medium">"Before"</th>
                            <th scope="col" class="px-2 py-1 font-medium">"After"</th>
                        </tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100">{rows.into_iter().map(row).collect_view()}</tbody>
                </table>
            </div>
        }
    };
    let unchanged = (!same.is_empty()).then(|| {
        let label = match same.len() {
            1 => "1 field unchanged".to_owned(),
            n => format!("{n} fields unchanged"),
        };
        view! {
            <details class="mt-2" data-testid="audit-unchanged">
                <summary class="cursor-pointer text-slate-600 hover:text-slate-900">{label}</summary>
                {table(same, "Fields this change left as they were", "audit-unchanged-table")}
            </details>
        }
    });
    view! {
        {(!touched.is_empty()).then(|| table(touched, "Fields this change touched", "audit-diff"))}
        {unchanged}
    }
}

/// One audit entry, expandable to what it changed (also on a key's page).
#[component]
pub fn Entry(
    entry: AuditRow,
    /// Actor and target link to their own entries and pages (for admins and auditors).
    #[prop(optional)]
    linked: bool,
) -> impl IntoView {
    let has_diff = entry.before.is_some() || entry.after.is_some();
    let target_href = entry.target_href().filter(|_| linked);
    let target_text = entry.target_name.clone().map_or_else(
        || entry.target.clone(),
        |name| format!("{} {name}", entry.target_type),
    );
    let actor_href = entry
        .actor_id
        .clone()
        .filter(|_| linked)
        .map(|id| format!("/audit?actor_id={id}"));
    let actor_text = entry.actor.clone();
    let target_title = entry.target.clone();
    let hashes = format!("hash {} · previous {}", entry.hash, entry.prev_hash);
    let action_attr = entry.action.clone();
    let when = entry.at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let meta = format!(
        "from {} · request {}{}",
        entry.source_ip.unwrap_or_else(|| "—".into()),
        entry.request_id.unwrap_or_else(|| "—".into()),
        entry
            .client_request_id
            .map(|id| format!(" (the caller's id: {id})"))
            .unwrap_or_default()
    );
    let before = entry.before.unwrap_or_else(|| "—".into());
    let after = entry.after.unwrap_or_else(|| "—".into());
    let changes = entry.changes;
    view! {
        <li class="rounded-lg border border-slate-200 bg-white shadow-sm" data-testid="audit-entry" data-action=action_attr>
            <details class="group">
                <summary class="flex cursor-pointer flex-wrap items-center gap-x-4 gap-y-1 px-4 py-3 text-sm focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-500">
                    <span class="font-mono text-xs text-slate-500">{format!("#{}", entry.id)}</span>
                    <span class="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs">{entry.action}</span>
                    {match actor_href {
                        Some(href) => view! { <a href=href class="text-slate-900 underline decoration-slate-300 hover:decoration-slate-900" data-testid="audit-actor" title="This actor's entries">{actor_text}</a> }.into_any(),
                        None => view! { <span class="text-slate-900" data-testid="audit-actor">{actor_text}</span> }.into_any(),
                    }}
                    {match target_href {
                        Some(href) => view! { <a href=href class="text-slate-600 underline decoration-slate-300 hover:decoration-slate-900" data-testid="audit-target" title=target_title>{target_text}</a> }.into_any(),
                        None => view! { <span class="text-slate-600" data-testid="audit-target" title=target_title>{target_text}</span> }.into_any(),
                    }}
                    <time class="ml-auto text-xs text-slate-500">{when}</time>
                </summary>
                <div class="border-t border-slate-100 px-4 py-3 text-xs">
                    <p class="text-slate-500">{meta}</p>
                    <p class="mt-1 break-all font-mono text-[0.65rem] text-slate-400" data-testid="audit-hashes">{hashes}</p>
                    <Show when=move || has_diff fallback=|| view! { <p class="mt-2 text-slate-500">"No state recorded for this event."</p> }>
                        <Changes changes=changes.clone() />
                        <details class="mt-3" data-testid="audit-raw">
                            <summary class="cursor-pointer text-slate-600 hover:text-slate-900">"Raw before and after (JSON)"</summary>
                            <div class="mt-2 grid gap-3 md:grid-cols-2">
                                <div>
                                    <p class="font-medium text-slate-700">"Before"</p>
                                    <pre class="mt-1 overflow-x-auto rounded bg-slate-50 p-2">{before.clone()}</pre>
                                </div>
                                <div>
                                    <p class="font-medium text-slate-700">"After"</p>
                                    <pre class="mt-1 overflow-x-auto rounded bg-slate-50 p-2">{after.clone()}</pre>
                                </div>
                            </div>
                        </details>
                    </Show>
                </div>
            </details>
        </li>
    }
}
