//! Users: admins create users, change roles, disable accounts and set owner policy;
//! auditors (who read everything) see the same list, read-only.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::ui::PageHeading;
use crate::error::AppError;

use crate::auth::Protected;
use crate::components::dialog::Dialog;
use crate::components::ui::on_success;
use crate::users::{CreateUser, SetOwnerPolicy, UpdateUser, UserRow, list_users};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-500";
const BUTTON: &str = "rounded-md bg-sky-700 px-3 py-2 text-sm font-medium text-white shadow-sm hover:bg-sky-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500 disabled:opacity-60";

/// The users page, for admins and (read-only) auditors.
#[component]
pub fn UsersPage() -> impl IntoView {
    // Made outside the guard, which may render its content twice on the server (see
    // `pages::home`). The list reloads after every change (one round trip).
    let user = expect_context::<crate::auth::UserResource>();
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let policy = ServerAction::<SetOwnerPolicy>::new();
    let users = Resource::new(
        move || {
            (
                create.version().get(),
                update.version().get(),
                policy.version().get(),
            )
        },
        move |_| crate::auth::for_roles(user, &["admin", "auditor"], list_users()),
    );
    // Read once the guard let the page through (the session user is loaded by then).
    let editable =
        Signal::derive(move || matches!(user.get(), Some(Ok(Some(u))) if u.role == "admin"));
    view! {
        <Protected roles=&["admin", "auditor"]>
            <Users create update policy users editable />
        </Protected>
    }
}

#[component]
fn Users(
    create: ServerAction<CreateUser>,
    update: ServerAction<UpdateUser>,
    policy: ServerAction<SetOwnerPolicy>,
    users: Resource<Result<Vec<UserRow>, AppError>>,
    editable: Signal<bool>,
) -> impl IntoView {
    let create_error = move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    // The last failed change to a row, whichever form it came from.
    let update_error = move || {
        let failed = |e: AppError| e.to_string();
        update
            .value()
            .get()
            .and_then(Result::err)
            .map(failed)
            .or_else(|| policy.value().get().and_then(Result::err).map(failed))
    };
    let created = move || create.value().get().and_then(Result::ok).map(|u| u.email);
    // Clear the form once the user exists: the initial password must not linger in it.
    let create_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_)))
            && let Some(form) = create_form.get()
        {
            form.reset();
        }
    });
    view! {
        <Title text="Users" />
        <PageHeading class="text-2xl font-bold tracking-tight">"Users"</PageHeading>
        <p class="mt-1 text-sm text-slate-600">"Who may sign in, with which role, and what owners may do with their keys."</p>
        <Show when=move || !editable.get()>
            <p class="mt-2 text-sm text-slate-600" data-testid="read-only">"You can read this list; only admins change users."</p>
        </Show>

        <Show when=move || editable.get()>
        <section aria-labelledby="new-user" class="mt-6 rounded-lg border border-slate-200 bg-white p-5 shadow-sm">
            <h2 id="new-user" class="font-semibold">"New user"</h2>
            <ActionForm action=create node_ref=create_form attr:class="mt-4 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
                <div>
                    <label for="new-email" class="block text-sm font-medium text-slate-700">"Email"</label>
                    <input id="new-email" name="email" type="email" required autocomplete="off" class=INPUT />
                </div>
                <div>
                    <label for="new-password" class="block text-sm font-medium text-slate-700">"Initial password"</label>
                    <input id="new-password" name="password" type="password" required minlength="12" autocomplete="new-password" class=INPUT aria-describedby="new-password-rules" />
                    <p id="new-password-rules" class="mt-1 text-xs text-slate-500" data-testid="password-rules">"At least 12 characters; not a common password and not the email. A passphrase of a few words is good."</p>
                </div>
                <div>
                    <label for="new-role" class="block text-sm font-medium text-slate-700">"Role"</label>
                    <select id="new-role" name="role" class=INPUT>
                        <option value="owner">"Owner — manages own keys"</option>
                        <option value="auditor">"Auditor — reads everything"</option>
                        <option value="admin">"Admin — everything"</option>
                    </select>
                </div>
                <div>
                    <label for="new-name" class="block text-sm font-medium text-slate-700">"Display name (optional)"</label>
                    <input id="new-name" name="display_name" type="text" class=INPUT />
                </div>
                <div>
                    <label for="new-max-keys" class="block text-sm font-medium text-slate-700">"Key limit (owners; empty: none)"</label>
                    <input id="new-max-keys" name="max_keys" type="number" min="0" class=INPUT />
                </div>
                <div>
                    <label for="new-scopes" class="block text-sm font-medium text-slate-700">"Allowed scopes (comma-separated; empty: any)"</label>
                    <input id="new-scopes" name="allowed_scopes" type="text" placeholder="read:orders, write:orders" class=INPUT />
                </div>
                <div class="flex items-center gap-3 sm:col-span-2 lg:col-span-3">
                    <button type="submit" class=BUTTON disabled=move || create.pending().get()>"Create user"</button>
                    <Show when=move || create_error().is_some()>
                        <p role="alert" data-testid="create-error" class="text-sm text-red-700">{create_error}</p>
                    </Show>
                    <Show when=move || created().is_some()>
                        <p role="status" class="text-sm text-emerald-700">{move || format!("Created {}.", created().unwrap_or_default())}</p>
                    </Show>
                </div>
            </ActionForm>
        </section>
        </Show>

        <Show when=move || update_error().is_some()>
            <p role="alert" class="mt-4 rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">{update_error}</p>
        </Show>

        <section aria-labelledby="all-users" class="relative mt-6 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
            <h2 id="all-users" class="sr-only">"All users"</h2>
            <Transition fallback=|| view! { <p class="p-5 text-sm text-slate-500">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! { <UserTable users=list update policy editable=editable.get_untracked() /> }.into_any(),
                        Err(e) => view! { <p role="alert" class="p-5 text-sm text-red-700">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserTable(
    users: Vec<UserRow>,
    update: ServerAction<UpdateUser>,
    policy: ServerAction<SetOwnerPolicy>,
    editable: bool,
) -> impl IntoView {
    view! {
        <table class="min-w-full divide-y divide-slate-200 text-sm" data-testid="users-table">
            <thead class="bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
                <tr>
                    <th scope="col" class="px-4 py-3">"User"</th>
                    <th scope="col" class="px-4 py-3">"Role"</th>
                    <th scope="col" class="px-4 py-3">"Status"</th>
                    <th scope="col" class="px-4 py-3">"Owner policy"</th>
                    <th scope="col" class="px-4 py-3">"Last sign-in"</th>
                    {editable.then(|| view! { <th scope="col" class="px-4 py-3"><span class="sr-only">"Actions"</span></th> })}
                </tr>
            </thead>
            <tbody class="divide-y divide-slate-100">
                {users.into_iter().map(|u| view! { <UserRowView user=u update policy editable /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn UserRowView(
    user: UserRow,
    update: ServerAction<UpdateUser>,
    policy: ServerAction<SetOwnerPolicy>,
    editable: bool,
) -> impl IntoView {
    let id = user.id.clone();
    let id_for_toggle = user.id.clone();
    let id_for_policy = user.id.clone();
    let max_keys_value = user.max_keys.map(|m| m.to_string()).unwrap_or_default();
    let scopes_value = user
        .allowed_scopes
        .as_ref()
        .map(|s| s.join(", "))
        .unwrap_or_default();
    let role_id = format!("role-{}", user.id);
    let role_label = format!("Role of {}", user.email);
    let email = user.email.clone();
    let email_attr = user.email.clone();
    let name = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.email.clone());
    let current_role = user.role.clone();
    let toggle_to = (!user.disabled).to_string();
    let toggle_text = if user.disabled { "Enable" } else { "Disable" };
    let disabling = !user.disabled;
    let disable_open = RwSignal::new(false);
    on_success(update, move || disable_open.set(false));
    let disable_title = format!("Disable {}?", user.email);
    let toggle_id = StoredValue::new(user.id.clone());
    let disable_text = format!(
        "{} will be signed out of the portal and every API token of theirs stops working, on every instance, at once. Their keys keep working; enable the account again to let them sign in.",
        user.email
    );
    let disable_text = StoredValue::new(disable_text);
    let last_login = user.last_login_at.map_or_else(
        || "Never".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let policy_text = policy_summary(&user);
    let quota_value = user
        .max_quota_limit
        .map(|q| q.to_string())
        .unwrap_or_default();
    let quota_period = user
        .max_quota_period
        .clone()
        .unwrap_or_else(|| "month".to_owned());
    let rate_value = user
        .max_rate_limit
        .map(|r| r.to_string())
        .unwrap_or_default();
    let window_value = user.max_rate_window.unwrap_or(60).to_string();
    // Exact, in the largest whole unit, as the form reads it back.
    let lifetime_value = user
        .max_key_lifetime_seconds
        .map(|s| match s {
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        })
        .unwrap_or_default();
    let may_change = user.may_change_limits;
    let is_owner = user.role == "owner";
    let (status_class, status_text) = if user.disabled {
        ("bg-slate-200 text-slate-700", "Disabled")
    } else {
        ("bg-emerald-100 text-emerald-800", "Active")
    };
    view! {
        <tr data-testid="user-row" data-email=email_attr>
            <td class="px-4 py-3">
                <div class="font-medium text-slate-900">{name}</div>
                <div class="text-xs text-slate-500">{email}</div>
            </td>
            <td class="px-4 py-3">
                {if !editable {
                    view! { <span data-testid="role">{current_role.clone()}</span> }.into_any()
                } else {
                view! {
                <ActionForm action=update attr:class="flex items-center gap-2">
                    <input type="hidden" name="id" value=id />
                    <label for=role_id.clone() class="sr-only">{role_label}</label>
                    <select id=role_id name="role" class="rounded-md border border-slate-300 px-2 py-1 text-sm">
                        {["owner", "auditor", "admin"].into_iter().map(|r| view! {
                            <option value=r selected=current_role == r>{r}</option>
                        }).collect_view()}
                    </select>
                    <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">"Save"</button>
                </ActionForm>
                }.into_any()
                }}
            </td>
            <td class="px-4 py-3">
                <span class=format!("rounded px-1.5 py-0.5 text-xs font-medium {status_class}")>{status_text}</span>
            </td>
            <td class="px-4 py-3 text-slate-700">
                {if !editable {
                    view! { <span data-testid="policy">{policy_text.clone()}</span> }.into_any()
                } else {
                view! {
                <details>
                    <summary class="cursor-pointer" data-testid="policy">{policy_text}</summary>
                    <ActionForm action=policy attr:class="mt-2 flex flex-wrap items-end gap-2">
                        <input type="hidden" name="id" value=id_for_policy />
                        <label class="text-xs">
                            "Key limit"
                            <input name="max_keys" type="number" min="0" value=max_keys_value class="mt-1 block w-24 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                        </label>
                        <label class="text-xs">
                            "Allowed scopes"
                            <input name="allowed_scopes" value=scopes_value class="mt-1 block w-48 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                        </label>
                        <fieldset class="flex flex-wrap items-end gap-2" data-testid="key-limits">
                            <legend class="w-full text-xs font-medium">"Their keys' limits (empty: no ceiling; new keys get the maximum)"</legend>
                            <label class="text-xs">
                                "Max quota"
                                <input name="limits[max_quota_limit]" inputmode="numeric" value=quota_value class="mt-1 block w-28 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                            </label>
                            <label class="text-xs">
                                "per"
                                <select name="limits[max_quota_period]" class="mt-1 block rounded-md border border-slate-300 px-2 py-1 text-sm">
                                    {["month", "day", "total"].into_iter().map(|p| view! { <option value=p selected=quota_period == p>{p}</option> }).collect_view()}
                                </select>
                            </label>
                            <label class="text-xs">
                                "Max rate"
                                <input name="limits[max_rate_limit]" inputmode="numeric" value=rate_value class="mt-1 block w-24 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                            </label>
                            <label class="text-xs">
                                "per (s)"
                                <input name="limits[max_rate_window]" inputmode="numeric" value=window_value class="mt-1 block w-20 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                            </label>
                            <label class="text-xs">
                                "Max key lifetime (30d, 12h)"
                                <input name="limits[max_key_lifetime]" value=lifetime_value class="mt-1 block w-24 rounded-md border border-slate-300 px-2 py-1 text-sm" />
                            </label>
                            <label class="text-xs">
                                "Owner may change them"
                                <select name="limits[may_change_limits]" class="mt-1 block rounded-md border border-slate-300 px-2 py-1 text-sm">
                                    <option value="no" selected=!may_change>"No: set by admins"</option>
                                    <option value="yes" selected=may_change>"Yes, within the maxima"</option>
                                </select>
                            </label>
                        </fieldset>
                        {(!is_owner).then(|| view! { <p class="w-full text-xs text-slate-500">"A policy binds owners only: admins and auditors are not bound by it."</p> })}
                        <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">"Save policy"</button>
                    </ActionForm>
                </details>
                }.into_any()
                }}
            </td>
            <td class="px-4 py-3 text-slate-600">{last_login}</td>
            {editable.then(|| view! {
            <td class="px-4 py-3 text-right">
                {if disabling {
                    // Disabling ends every session of the user at once: confirmed first.
                    view! {
                        <button type="button" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50" on:click=move |_| disable_open.set(true)>
                            {toggle_text}
                        </button>
                        <Dialog open=disable_open title=disable_title.clone() id="disable-user-dialog">
                            <p class="text-left text-slate-700">{disable_text.get_value()}</p>
                            <ActionForm action=update>
                                <input type="hidden" name="id" value=toggle_id.get_value() />
                                <input type="hidden" name="disabled" value="true" />
                                <button type="submit" class=crate::components::ui::DANGER>"Disable user"</button>
                            </ActionForm>
                        </Dialog>
                    }.into_any()
                } else {
                    view! {
                        <ActionForm action=update>
                            <input type="hidden" name="id" value=id_for_toggle.clone() />
                            <input type="hidden" name="disabled" value=toggle_to.clone() />
                            <button type="submit" class="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50">
                                {toggle_text}
                            </button>
                        </ActionForm>
                    }.into_any()
                }}
            </td>
            })}
        </tr>
    }
}

/// An owner policy in one line: keys, scopes and the ceiling on their keys' limits.
fn policy_summary(user: &UserRow) -> String {
    let mut parts = vec![
        user.max_keys.map_or_else(
            || "any number of keys".to_owned(),
            |m| format!("up to {m} keys"),
        ),
        user.allowed_scopes
            .as_ref()
            .map_or_else(|| "any scope".to_owned(), |s| s.join(", ")),
    ];
    if let (Some(limit), Some(period)) = (user.max_quota_limit, &user.max_quota_period) {
        let per = match period.as_str() {
            "day" => "a day",
            "total" => "in total",
            _ => "a month",
        };
        parts.push(format!("quota ≤ {limit} {per}"));
    }
    if let (Some(limit), Some(window)) = (user.max_rate_limit, user.max_rate_window) {
        parts.push(format!("rate ≤ {limit} per {window} s"));
    }
    if let Some(seconds) = user.max_key_lifetime_seconds {
        parts.push(format!(
            "keys live ≤ {}",
            crate::components::ui::duration_words(seconds)
        ));
    }
    parts.push(
        if user.may_change_limits {
            "owner sets limits"
        } else {
            "limits set by admins"
        }
        .to_owned(),
    );
    parts.join(" · ")
}
