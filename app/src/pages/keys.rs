//! The keys list: search, filters, order and counts in the URL, cursor pagination, live
//! keys by default (revoked and expired on request), 24-hour traffic and quota at a
//! glance, and bulk actions on the selected keys (disable, enable, extend expiry,
//! revoke), each after a confirmation that names the keys. On a phone the rows are cards
//! and the filters fold behind a button.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{A, Form};
use leptos_router::hooks::use_query_map;

use crate::auth::Protected;
use crate::components::dialog::Dialog;
use crate::components::ui::PageHeading;
use crate::components::ui::{
    CARD, DANGER, Empty, ErrorNote, INPUT, LABEL, Loading, PRIMARY, SECONDARY, StatusBadge, count,
    on_success, relative, when, when_or,
};
use crate::error::AppError;
use crate::keys::{
    ChangeKeys, Choice, ColumnOrder, KeyFilters, KeyFormOptions, KeyPage, KeyRow, LookupKey,
    RevokeKeys, key_options, list_keys, looks_like_a_secret,
};

/// The keys page, for every signed-in user (owners see their own keys).
#[component]
pub fn KeysPage() -> impl IntoView {
    // The list is made here, outside the guard, which may render its content more than
    // once on the server: a second fetch could see other people's changes and disagree
    // with the data sent for hydration (see `pages::home`).
    let query = use_query_map();
    let bulk = ServerAction::<RevokeKeys>::new();
    let change = ServerAction::<ChangeKeys>::new();
    let keys = Resource::new(
        move || {
            (
                query.with(filters),
                bulk.version().get(),
                change.version().get(),
            )
        },
        |(f, _, _)| list_keys(f),
    );
    let options = options_for(&[]);
    view! {
        <Protected>
            <KeysList keys bulk change options />
        </Protected>
    }
}

/// The key forms' choices (keyspaces, owners, the owner's policy), made in the page
/// component for the same reason as the list: they change while other people work. Asked
/// for only when the session user has one of `roles` (any role when empty), so a visitor
/// who may not see the page costs no call.
pub(crate) fn options_for(
    roles: &'static [&'static str],
) -> Resource<Result<KeyFormOptions, AppError>> {
    let user = expect_context::<crate::auth::UserResource>();
    Resource::new(
        || (),
        move |()| crate::auth::for_roles(user, roles, key_options()),
    )
}

fn filters(q: &leptos_router::params::ParamsMap) -> KeyFilters {
    let get = |k: &str| q.get(k).unwrap_or_default();
    KeyFilters {
        q: get("q"),
        keyspace_id: get("keyspace_id"),
        owner_id: get("owner_id"),
        status: get("status"),
        sort: get("sort"),
        cursor: get("cursor"),
        all: !get("all").is_empty(),
    }
}

const STATUSES: [&str; 4] = ["active", "disabled", "expired", "revoked"];

#[component]
fn KeysList(
    keys: Resource<Result<Option<KeyPage>, AppError>>,
    bulk: ServerAction<RevokeKeys>,
    change: ServerAction<ChangeKeys>,
    options: Resource<Result<KeyFormOptions, AppError>>,
) -> impl IntoView {
    let query = use_query_map();
    let selected = RwSignal::new(Selection::new());
    // A whole key that reached the URL (submitted before the page could intercept it)
    // leaves the address bar, replacing this history entry.
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        let mut q = query.get();
        if !q.get("q").is_some_and(|v| looks_like_a_secret(&v)) {
            return;
        }
        // The server looked it up as a secret: once its answer is here, go to the key it
        // found, or to the list without it.
        let Some(answer) = keys.get() else {
            return;
        };
        q.remove("q");
        let to = match answer {
            Ok(Some(page)) if page.items.len() == 1 => format!("/keys/{}", page.items[0].id),
            _ => format!("/keys{}", q.to_query_string()),
        };
        navigate(
            &to,
            leptos_router::NavigateOptions {
                replace: true,
                ..Default::default()
            },
        );
    });
    // A new page or filter starts with nothing selected.
    Effect::new(move |_| {
        query.track();
        selected.set(Selection::new());
    });
    view! {
        <Title text="Keys" />
        <div class="flex flex-wrap items-end justify-between gap-4">
            <div>
                <PageHeading class="text-2xl font-bold tracking-tight">"Keys"</PageHeading>
                <p class="mt-1 text-sm text-slate-600">"Search, filter, sort and act on API keys."</p>
            </div>
            <div class="flex flex-wrap items-center gap-3">
                <A href="/keys/check" attr:class=SECONDARY attr:data-testid="check-key-link">"Is this my key?"</A>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        options.await.ok().filter(|o| o.may_change).map(|_| view! {
                            <A href="/keys/new" attr:class=PRIMARY>"+ New key"</A>
                        })
                    })}
                </Transition>
            </div>
        </div>
        <Transition fallback=|| view! { <Loading label="Loading filters…" /> }>
            {move || Suspend::new(async move {
                match options.await {
                    Ok(o) => view! { <Filters options=o /> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string() /> }.into_any(),
                }
            })}
        </Transition>
        <BulkBar selected bulk change options />
        <section aria-label="Keys" class="mt-4">
            <Transition fallback=|| view! { <Loading label="Loading keys…" /> }>
                {move || Suspend::new(async move {
                    let (may_change, setup) = options
                        .await
                        .map(|o| (o.may_change, o.keyspaces.is_empty().then_some(o.is_admin)))
                        .unwrap_or((false, None));
                    match keys.await {
                        Ok(Some(page)) => view! { <KeyTable page may_change no_keyspace=setup selected /> }.into_any(),
                        Ok(None) => view! { <ErrorNote message=AppError::Unauthorized.to_string() /> }.into_any(),
                        Err(e) => view! { <ErrorNote message=e.to_string() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Filters(options: KeyFormOptions) -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &str| query.get_untracked().get(name).unwrap_or_default();
    // The form is made once; its fields follow the URL (Clear, a chip, back, forward).
    let live = move |name: &'static str| move || query.with(|q| q.get(name).unwrap_or_default());
    let keyspace = field("keyspace_id");
    let owner = field("owner_id");
    let status = field("status");
    let sort = field("sort");
    let show_owners = !options.owners.is_empty();
    // A pasted whole key is a secret: it leaves the form's URL and is looked up by POST.
    let lookup = ServerAction::<LookupKey>::new();
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(Some(id))) = lookup.value().get() {
            navigate(&format!("/keys/{id}"), Default::default());
        }
    });
    let on_form_data = std::sync::Arc::new(move |data: &web_sys::FormData| {
        if let Some(q) = data.get("q").as_string()
            && looks_like_a_secret(&q)
        {
            data.delete("q");
            lookup.dispatch(LookupKey { key: q });
        }
    });
    let lookup_note = move || {
        match lookup.value().get() {
        Some(Ok(None)) => Some("No key you can see has this secret. It was looked up privately and is not in the address bar.".to_owned()),
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    }
    };
    // On a phone the filters fold behind a button (search stays reachable through it).
    let filters_open = RwSignal::new(false);
    let form_class = move || {
        format!(
            "mt-3 gap-4 p-4 sm:mt-6 sm:grid sm:grid-cols-2 lg:grid-cols-5 {CARD} {}",
            if filters_open.get() { "grid" } else { "hidden" }
        )
    };
    view! {
        <button
            type="button"
            class=format!("mt-6 w-full sm:hidden {SECONDARY}")
            aria-controls="key-filters"
            aria-expanded=move || filters_open.get().to_string()
            data-testid="filters-toggle"
            on:click=move |_| filters_open.update(|o| *o = !*o)
        >
            {move || if filters_open.get() { "Hide search and filters" } else { "Search and filters" }}
        </button>
        <Form method="GET" action="/keys" on_form_data attr:id="key-filters" attr:class=form_class attr:role="search">
            <div class="lg:col-span-2">
                <label for="f-q" class=LABEL>"Search"</label>
                <input id="f-q" name="q" type="search" placeholder="Name, start of a key, or a whole key" value=field("q") prop:value=live("q") class=INPUT aria-describedby="f-q-note" />
                <p id="f-q-note" class="mt-1 text-xs text-slate-600" data-testid="lookup-note" aria-live="polite">{lookup_note}</p>
            </div>
            <div>
                <label for="f-keyspace" class=LABEL>"Keyspace"</label>
                <select id="f-keyspace" name="keyspace_id" prop:value=live("keyspace_id") class=INPUT>
                    <option value="">"Any keyspace"</option>
                    {choices(options.keyspaces, &keyspace)}
                </select>
            </div>
            {show_owners.then(|| view! {
                <div>
                    <label for="f-owner" class=LABEL>"Owner"</label>
                    <select id="f-owner" name="owner_id" prop:value=live("owner_id") class=INPUT>
                        <option value="">"Any owner"</option>
                        {choices(options.owners, &owner)}
                    </select>
                </div>
            })}
            <div>
                <label for="f-status" class=LABEL>"Status"</label>
                <select id="f-status" name="status" prop:value=live("status") class=INPUT>
                    <option value="">"Any status"</option>
                    {STATUSES.into_iter().map(|s| view! { <option value=s selected=s == status>{s}</option> }).collect_view()}
                </select>
            </div>
            <div class="flex items-end gap-2 sm:col-span-2 lg:col-span-5">
                // Filtering keeps the order the headers chose (this form is made once, so
                // the order is read as the URL changes).
                <input type="hidden" name="sort" value=sort prop:value=live("sort") />
                <button type="submit" class=PRIMARY>"Apply filters"</button>
                <a href="/keys" class="rounded-md px-3 py-2 text-sm text-slate-700 hover:bg-slate-100">"Clear"</a>
            </div>
        </Form>
    }
}

/// The `<option>`s of a filter's select, `chosen` selected (as the server renders it).
fn choices(items: Vec<Choice>, chosen: &str) -> impl IntoView + use<> {
    items
        .into_iter()
        .map(|c| {
            let selected = c.id == chosen;
            view! { <option value=c.id selected=selected>{c.label}</option> }
        })
        .collect_view()
}

/// The selected keys: id to name (the confirmations list them by name).
type Selection = BTreeMap<String, String>;

/// What a bulk action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BulkMode {
    Disable,
    Enable,
    Extend,
    Revoke,
}

impl BulkMode {
    fn verb(self) -> &'static str {
        match self {
            Self::Disable => "Disable",
            Self::Enable => "Enable",
            Self::Extend => "Extend the expiry of",
            Self::Revoke => "Revoke",
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Self::Disable => {
                "Calls with them will answer DISABLED on every instance within a second, until they are enabled again."
            }
            Self::Enable => "They will verify again on every instance within a second.",
            Self::Extend => {
                "Each key's expiry moves later by the time chosen (from now, for a key already expired); keys that never expire stay so."
            }
            Self::Revoke => {
                "They will stop working at once on every instance. Revocation cannot be undone."
            }
        }
    }
}

fn noun(n: usize) -> &'static str {
    if n == 1 { "key" } else { "keys" }
}

#[component]
fn BulkBar(
    selected: RwSignal<Selection>,
    bulk: ServerAction<RevokeKeys>,
    change: ServerAction<ChangeKeys>,
    options: Resource<Result<KeyFormOptions, AppError>>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let mode = RwSignal::new(BulkMode::Revoke);
    let reason = RwSignal::new(String::new());
    let days = RwSignal::new("30".to_owned());
    let n = move || selected.with(BTreeMap::len);
    let pending = move || bulk.pending().get() || change.pending().get();
    let ask = move |m: BulkMode| {
        mode.set(m);
        open.set(true);
    };
    let confirm = move |_| {
        let ids: Vec<String> = selected.get_untracked().into_keys().collect();
        match mode.get_untracked() {
            BulkMode::Revoke => {
                bulk.dispatch(RevokeKeys {
                    ids,
                    reason: reason.get_untracked(),
                });
            }
            m => {
                change.dispatch(ChangeKeys {
                    ids,
                    action: match m {
                        BulkMode::Disable => "disable",
                        BulkMode::Enable => "enable",
                        _ => "extend",
                    }
                    .to_owned(),
                    days: (m == BulkMode::Extend)
                        .then(|| days.get_untracked().parse().ok())
                        .flatten(),
                });
            }
        }
        open.set(false);
    };
    // After a successful bulk action nothing stays selected.
    on_success(bulk, move || selected.set(Selection::new()));
    on_success(change, move || selected.set(Selection::new()));
    let result = move || {
        let revoked = || {
            bulk.value().get().map(|r| match r {
                Ok(done) => {
                    let mut text = format!("✓ Revoked {} {}.", done.revoked, noun(done.revoked));
                    if done.already_revoked > 0 {
                        text.push_str(&format!(" {} were revoked already.", done.already_revoked));
                    }
                    view! { <p role="status" data-testid="bulk-result" class="text-sm text-emerald-800">{text}</p> }.into_any()
                }
                Err(e) => view! { <div data-testid="bulk-result"><ErrorNote message=e.to_string() /></div> }.into_any(),
            })
        };
        let changed = || {
            change.value().get().map(|r| match r {
                Ok(k) => {
                    let done = match mode.get_untracked() {
                        BulkMode::Disable => "Disabled",
                        BulkMode::Enable => "Enabled",
                        _ => "Extended the expiry of",
                    };
                    view! { <p role="status" data-testid="bulk-result" class="text-sm text-emerald-800">{format!("✓ {done} {k} {}.", noun(k))}</p> }.into_any()
                }
                Err(e) => view! { <div data-testid="bulk-result"><ErrorNote message=e.to_string() /></div> }.into_any(),
            })
        };
        if mode.get() == BulkMode::Revoke {
            revoked()
        } else {
            changed()
        }
    };
    let title = Signal::derive(move || format!("{} {} {}?", mode.get().verb(), n(), noun(n())));
    let button = move |m: BulkMode, label: &'static str, class: &'static str| {
        view! {
            <button type="button" class=class disabled=move || n() == 0 || pending() on:click=move |_| ask(m)>
                {move || format!("{label} ({})", n())}
            </button>
        }
    };
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                options.await.ok().filter(|o| o.may_change).map(|_| view! {
                    <div class="mt-4 flex min-h-10 flex-wrap items-center gap-2" data-testid="bulk-bar">
                        <span class="text-sm text-slate-700" data-testid="selected-count">
                            {move || match n() { 0 => "Select keys to act on several at once.".to_owned(), k => format!("{k} selected") }}
                        </span>
                        {button(BulkMode::Disable, "Disable selected", SECONDARY)}
                        {button(BulkMode::Enable, "Enable selected", SECONDARY)}
                        {button(BulkMode::Extend, "Extend selected", SECONDARY)}
                        {button(BulkMode::Revoke, "Revoke selected", DANGER)}
                        {result}
                    </div>
                })
            })}
        </Transition>
        <Dialog open title id="bulk-dialog">
            <p class="text-slate-700">{move || mode.get().consequence()}</p>
            <ul class="max-h-40 list-inside list-disc overflow-y-auto text-slate-800" data-testid="bulk-names" aria-label="The selected keys">
                {move || selected.get().into_values().map(|name| view! { <li>{name}</li> }).collect_view()}
            </ul>
            {move || match mode.get() {
                BulkMode::Revoke => Some(view! {
                    <div>
                        <label for="bulk-reason" class=LABEL>"Reason (recorded in the audit log)"</label>
                        <input id="bulk-reason" class=INPUT maxlength="500" prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) />
                    </div>
                }.into_any()),
                BulkMode::Extend => Some(view! {
                    <div>
                        <label for="bulk-days" class=LABEL>"Extend by"</label>
                        <select id="bulk-days" class=INPUT prop:value=move || days.get() on:change=move |ev| days.set(event_target_value(&ev))>
                            <option value="7">"7 days"</option>
                            <option value="30">"30 days"</option>
                            <option value="90">"90 days"</option>
                            <option value="365">"1 year"</option>
                        </select>
                    </div>
                }.into_any()),
                _ => None,
            }}
            <button type="button" class=move || if mode.get() == BulkMode::Revoke { DANGER } else { PRIMARY } on:click=confirm>
                {move || format!("{} {} {}", mode.get().verb(), n(), noun(n()))}
            </button>
        </Dialog>
    }
}

#[component]
fn KeyTable(
    page: KeyPage,
    may_change: bool,
    /// `Some(is_admin)` when there is no keyspace yet: a key cannot be created before one.
    no_keyspace: Option<bool>,
    selected: RwSignal<Selection>,
) -> impl IntoView {
    let query = use_query_map();
    let counts = page.counts;
    let current_status = query.get_untracked().get("status").unwrap_or_default();
    let showing_all = query
        .get_untracked()
        .get("all")
        .is_some_and(|a| !a.is_empty());
    // "live" (the default: active and disabled), "all", or one status.
    let current_view = if !current_status.is_empty() {
        current_status.clone()
    } else if showing_all {
        "all".to_owned()
    } else {
        "live".to_owned()
    };
    let chip = move |status: &'static str, label: &'static str, n: i64| {
        let mut q = query.get_untracked();
        q.remove("cursor");
        q.remove("all");
        match status {
            "live" => {
                q.remove("status");
            }
            "all" => {
                q.remove("status");
                q.replace("all", "1".to_owned());
            }
            _ => q.replace("status", status.to_owned()),
        }
        let href = format!("/keys{}", q.to_query_string());
        let current = current_view == status;
        view! {
            <a
                href=href
                aria-current=current.then_some("true")
                class="rounded-full border border-slate-300 bg-white px-3 py-1 text-xs text-slate-700 hover:bg-slate-50 aria-[current=true]:border-sky-700 aria-[current=true]:bg-sky-50 aria-[current=true]:font-semibold aria-[current=true]:text-sky-900"
            >
                {format!("{label} {}", count(n))}
            </a>
        }
    };
    let chips = view! {
        <div class="mb-3 flex flex-wrap items-center justify-between gap-2">
            <nav aria-label="Counts" class="flex flex-wrap gap-2" data-testid="status-counts">
                {chip("live", "Live", counts.active + counts.disabled)}
                {chip("all", "Show all", counts.total())}
                {chip("active", "Active", counts.active)}
                {chip("disabled", "Disabled", counts.disabled)}
                {chip("expired", "Expired", counts.expired)}
                {chip("revoked", "Revoked", counts.revoked)}
            </nav>
            <p class="text-xs text-slate-600" data-testid="order">{format!("Order: {}", page.order)}</p>
        </div>
    };
    let columns = page.columns;
    let header = move |column: &'static str, label: &'static str| {
        let order = columns.iter().find(|c| c.column == column).cloned();
        view! { <SortHeader label order /> }
    };
    if page.items.is_empty() {
        let q = query.get_untracked();
        let filtered = ["q", "keyspace_id", "owner_id", "status", "all"]
            .iter()
            .any(|k| q.get(k).is_some_and(|v| !v.is_empty()));
        return view! {
            {chips}
            {if filtered {
                view! { <Empty title="No keys match these filters." hint="Try another search or clear the filters." /> }.into_any()
            } else {
                match no_keyspace {
                    Some(true) => view! {
                        <Empty title="No keys yet." hint="Keys belong to a keyspace (one per API or service): create one first, then the key.">
                            <A href="/keyspaces" attr:class=PRIMARY>"Create a keyspace"</A>
                        </Empty>
                    }.into_any(),
                    Some(false) => view! {
                        <Empty title="No keys yet." hint="There is no keyspace yet: ask an admin to create one for your API, then create your key here." />
                    }.into_any(),
                    None => view! {
                        <Empty title="No keys yet." hint="Create a key for a service or a customer; its secret is shown once.">
                            {may_change.then(|| view! { <A href="/keys/new" attr:class=PRIMARY>"Create the first key"</A> })}
                        </Empty>
                    }.into_any(),
                }
            }}
        }
        .into_any();
    }
    let ids: Vec<(String, String)> = page
        .items
        .iter()
        .filter(|k| k.status != "revoked")
        .map(|k| (k.id.clone(), k.name.clone()))
        .collect();
    let all_ids = StoredValue::new(ids);
    let all_selected = move || {
        all_ids.with_value(|ids| {
            !ids.is_empty() && selected.with(|s| ids.iter().all(|(id, _)| s.contains_key(id)))
        })
    };
    let toggle_all = move |_| {
        let on = !all_selected();
        all_ids.with_value(|ids| {
            selected.update(|s| {
                for (id, name) in ids {
                    if on {
                        s.insert(id.clone(), name.clone());
                    } else {
                        s.remove(id);
                    }
                }
            });
        });
    };
    let now = page.now;
    let next = page.next_cursor.map(|c| {
        let mut q = query.get_untracked();
        q.replace("cursor", c);
        format!("/keys{}", q.to_query_string())
    });
    let first_page = query.get_untracked().get("cursor").is_some().then(|| {
        let mut q = query.get_untracked();
        q.remove("cursor");
        format!("/keys{}", q.to_query_string())
    });
    view! {
        {chips}
        // On a phone each row is a card (no sideways scrolling); from `md` on, a table.
        <div class=format!("relative md:overflow-x-auto {CARD}")>
            <table class="block w-full text-left text-sm md:table md:min-w-[52rem]" data-testid="keys-table">
                <thead class="hidden border-b border-slate-200 bg-slate-50 text-xs uppercase tracking-wide text-slate-600 md:table-header-group">
                    <tr>
                        {may_change.then(|| view! {
                            <th scope="col" class="w-10 px-3 py-2">
                                <input type="checkbox" aria-label="Select every key on this page" prop:checked=all_selected on:change=toggle_all class="h-4 w-4" />
                            </th>
                        })}
                        {header("name", "Name")}
                        <th scope="col" class="px-3 py-2">"Status"</th>
                        <th scope="col" class="px-3 py-2">"Keyspace"</th>
                        <th scope="col" class="px-3 py-2">"Owner"</th>
                        {header("created", "Created")}
                        {header("last_used", "Last used")}
                        <th scope="col" class="px-3 py-2">"24 h"</th>
                        <th scope="col" class="px-3 py-2">"Quota"</th>
                        {header("expires", "Expires")}
                    </tr>
                </thead>
                <tbody class="block divide-y divide-slate-100 md:table-row-group">
                    {page.items.into_iter().map(|k| view! { <Row key=k may_change selected now /> }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="mt-4 flex gap-3">
            {first_page.map(|href| view! { <a href=href class=SECONDARY>"← First page"</a> })}
            {next.map(|href| view! { <a href=href class=SECONDARY data-testid="next-page">"Next page →"</a> })}
        </div>
    }
    .into_any()
}

/// A column header that orders the list by its column: a link, so it works before the
/// WASM loads; the current order is in `aria-sort` and shown as an arrow and in words.
#[component]
fn SortHeader(label: &'static str, order: Option<ColumnOrder>) -> impl IntoView {
    let query = use_query_map();
    let Some(order) = order else {
        return view! { <th scope="col" class="px-3 py-2">{label}</th> }.into_any();
    };
    let mut q = query.get_untracked();
    q.remove("cursor");
    q.replace("sort", order.next.clone());
    let href = format!("/keys{}", q.to_query_string());
    let (arrow, hint) = match order.current.as_deref() {
        Some("ascending") => ("▲", "sorted ascending; click to reverse"),
        Some(_) => ("▼", "sorted descending; click to reverse"),
        None => ("↕", "click to sort"),
    };
    view! {
        <th scope="col" class="px-3 py-2" aria-sort=order.current.clone()>
            <a
                href=href
                data-sort=order.column
                class="inline-flex items-center gap-1 whitespace-nowrap rounded uppercase hover:text-slate-900 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-500 data-[current=true]:text-slate-900"
                data-current=order.current.is_some().then_some("true")
            >
                {label}
                <span aria-hidden="true" class="text-[0.7rem]">{arrow}</span>
                <span class="sr-only">{format!(", {hint}")}</span>
            </a>
        </th>
    }
    .into_any()
}

#[component]
fn Row(
    key: KeyRow,
    may_change: bool,
    selected: RwSignal<Selection>,
    now: chrono::DateTime<chrono::Utc>,
) -> impl IntoView {
    let id = key.id.clone();
    let revoked = key.status == "revoked";
    let grace = key.in_grace(now);
    let check_id = id.clone();
    let checked = move || selected.with(|s| s.contains_key(&check_id));
    let toggle_id = id.clone();
    let toggle_name = key.name.clone();
    let toggle = move |_| {
        selected.update(|s| {
            if s.remove(&toggle_id).is_none() {
                s.insert(toggle_id.clone(), toggle_name.clone());
            }
        });
    };
    let label = format!("Select {}", key.name);
    let exhausted = key.quota.as_ref().is_some_and(|q| q.remaining == 0);
    let quota = key.quota.as_ref().map_or_else(
        || "—".to_owned(),
        |q| format!("{} / {}", count(q.used), count(q.limit)),
    );
    let expires = key.expires_at.map_or_else(
        || ("never".to_owned(), String::new()),
        |at| (relative(&at, &now), when(&at)),
    );
    // A cell that is a labelled line of a card on a phone and a table cell from `md` on.
    const CELL: &str = "flex justify-between gap-3 px-3 py-1 md:table-cell md:py-2";
    let label_of = |text: &'static str| view! { <span class="text-xs text-slate-500 md:hidden" aria-hidden="true">{text}</span> };
    view! {
        <tr class="block py-2 hover:bg-slate-50 md:table-row md:py-0" data-testid="key-row" data-key-id=id.clone()>
            {may_change.then(|| view! {
                <td class="float-right px-3 py-1 md:float-none md:table-cell md:py-2">
                    <input type="checkbox" aria-label=label disabled=revoked prop:checked=checked on:change=toggle class="h-6 w-6 md:h-4 md:w-4" />
                </td>
            })}
            <td class="block px-3 py-1 md:table-cell md:py-2">
                <a href=format!("/keys/{id}") class="inline-block min-h-6 font-medium text-sky-800 hover:underline focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-500">{key.name}</a>
                <div class="font-mono text-xs text-slate-500">{format!("{}…", key.start)}</div>
                {key.rotated_to.clone().map(|to| view! {
                    <a href=format!("/keys/{to}") class="inline-block min-h-6 text-xs text-sky-800 underline" data-testid="rotated-to">"→ replaced by a new key"</a>
                })}
                {key.rotated_from.clone().map(|from| view! {
                    <a href=format!("/keys/{from}") class="inline-block min-h-6 text-xs text-slate-600 underline" data-testid="rotated-from">"← replaces an older key"</a>
                })}
            </td>
            <td class=CELL>
                {label_of("Status")}
                <span class="flex flex-wrap justify-end gap-1 md:justify-start">
                    <StatusBadge status=key.status grace />
                    {exhausted.then(|| view! { <span class="rounded-full bg-red-100 px-2 py-0.5 text-xs font-medium text-red-900 ring-1 ring-inset ring-red-300" data-testid="chip-quota-exhausted">"quota exhausted"</span> })}
                    {(!key.outside_policy.is_empty()).then(|| view! { <span class="rounded-full bg-violet-100 px-2 py-0.5 text-xs font-medium text-violet-900 ring-1 ring-inset ring-violet-300" title=format!("Outside the owner's policy: {}", key.outside_policy.join(", ")) data-testid="chip-outside-policy">"outside policy"</span> })}
                </span>
            </td>
            <td class=format!("{CELL} text-slate-700")>{label_of("Keyspace")}<span>{key.keyspace}</span></td>
            <td class=format!("{CELL} text-slate-700")>{label_of("Owner")}<span class="break-all">{key.owner}</span></td>
            <td class=format!("{CELL} whitespace-nowrap text-slate-600")>{label_of("Created")}<span>{when(&key.created_at)}</span></td>
            <td class=format!("{CELL} whitespace-nowrap text-slate-600")>{label_of("Last used")}<span>{when_or(key.last_used_at.as_ref(), "never")}</span></td>
            <td class=format!("{CELL} whitespace-nowrap tabular-nums text-slate-700") data-testid="verifications-24h">{label_of("24 h")}<span>{count(key.verifications_24h)}</span></td>
            <td class=format!("{CELL} whitespace-nowrap tabular-nums text-slate-700") data-testid="quota-cell">{label_of("Quota")}<span>{quota}</span></td>
            <td class=format!("{CELL} whitespace-nowrap text-slate-600") data-testid="expires-cell">{label_of("Expires")}<span title=expires.1>{expires.0}</span></td>
        </tr>
    }
}
