//! Webhooks (admins: every endpoint; owners: their own; auditors read): create an
//! endpoint with the events it wants (its signing secret shown once), send it a test,
//! read its delivery log with each attempt and answer, redeliver, switch it off and on,
//! rotate its secret, delete it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::auth::Protected;
use crate::components::dialog::Dialog;
use crate::components::secret::ShowOnce;
use crate::components::ui::{
    CARD, DANGER, Empty, ErrorNote, INPUT, LABEL, Loading, PRIMARY, PageHeading, SECONDARY,
    on_success, when,
};
use crate::error::AppError;
use crate::webhooks::{
    CreateWebhook, DeleteWebhook, DeliveryRow, EndpointRow, RedeliverWebhook, RotateWebhookSecret,
    SetEmailNotifications, SetWebhookEnabled, TestWebhook, WebhooksView, list_webhooks,
};

const ROLES: &[&str] = &["admin", "auditor", "owner"];

/// The webhooks page.
#[component]
pub fn WebhooksPage() -> impl IntoView {
    // Made outside the guard, which may render its content twice on the server (see
    // `pages::home`).
    let user = expect_context::<crate::auth::UserResource>();
    let actions = Actions {
        create: ServerAction::new(),
        enable: ServerAction::new(),
        test: ServerAction::new(),
        rotate: ServerAction::new(),
        delete: ServerAction::new(),
        redeliver: ServerAction::new(),
        email: ServerAction::new(),
        refresh: RwSignal::new(0),
    };
    let data = Resource::new(
        move || {
            (
                actions.create.version().get(),
                actions.enable.version().get(),
                actions.test.version().get(),
                actions.rotate.version().get(),
                actions.delete.version().get(),
                actions.redeliver.version().get(),
                actions.email.version().get(),
                actions.refresh.get(),
            )
        },
        move |_| crate::auth::for_roles(user, ROLES, list_webhooks()),
    );
    view! {
        <Protected roles=ROLES>
            <Webhooks actions data />
        </Protected>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreateWebhook>,
    enable: ServerAction<SetWebhookEnabled>,
    test: ServerAction<TestWebhook>,
    rotate: ServerAction<RotateWebhookSecret>,
    delete: ServerAction<DeleteWebhook>,
    redeliver: ServerAction<RedeliverWebhook>,
    email: ServerAction<SetEmailNotifications>,
    /// Bumped to read the log again (deliveries happen in the background).
    refresh: RwSignal<u32>,
}

#[component]
fn Webhooks(actions: Actions, data: Resource<Result<WebhooksView, AppError>>) -> impl IntoView {
    let secret = move || {
        let created = actions.create.value().get().and_then(Result::ok);
        let rotated = actions.rotate.value().get().and_then(Result::ok);
        created.or(rotated)
    };
    view! {
        <Title text="Webhooks" />
        <div class="flex flex-wrap items-baseline justify-between gap-2">
            <PageHeading class="text-2xl font-bold tracking-tight">"Webhooks"</PageHeading>
            <button type="button" class=SECONDARY data-testid="refresh-webhooks" on:click=move |_| actions.refresh.update(|n| *n += 1)>"Refresh log"</button>
        </div>
        <p class="mt-1 text-sm text-slate-600">"Locksmith POSTs every event an endpoint subscribes to, signed per the Standard Webhooks specification (headers webhook-id, webhook-timestamp, webhook-signature), and retries failed deliveries for about three days. Verify the signature with the endpoint's secret before trusting a delivery."</p>
        {move || secret().map(|s| view! {
            <div class="mt-6" data-testid="new-webhook-secret">
                <ShowOnce secret=s.secret what="signing secret" />
            </div>
        })}
        <Transition fallback=|| view! { <div class="mt-6"><Loading label="Loading webhooks…" /></div> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view_data) => {
                        let may_change = view_data.may_change;
                        view! {
                            <EmailPreference actions email=view_data.email available=view_data.email_available />
                            {may_change.then(|| view! { <NewEndpoint actions types=view_data.event_types.clone() owner=view_data.owner_view /> })}
                            {if view_data.endpoints.is_empty() {
                                view! { <div class="mt-6"><Empty title="No endpoints yet." hint="Add one above to hear about expiring, revoked and rotated keys as they happen." /></div> }.into_any()
                            } else {
                                view! {
                                    <div class="mt-6 space-y-6">
                                        {view_data.endpoints.into_iter().map(|e| view! { <Endpoint endpoint=e may_change actions /> }).collect_view()}
                                    </div>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                    Err(e) => view! { <div class="mt-6"><ErrorNote message=e.to_string() /></div> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The viewer's own email notifications.
#[component]
fn EmailPreference(actions: Actions, email: bool, available: bool) -> impl IntoView {
    let toggle = move |ev: leptos::ev::Event| {
        actions.email.dispatch(SetEmailNotifications {
            email: event_target_checked(&ev),
        });
    };
    view! {
        <section aria-labelledby="email-notifications" class=format!("mt-6 p-5 {CARD}") data-testid="email-preference">
            <h2 id="email-notifications" class="font-semibold">"Email notifications"</h2>
            <label class="mt-2 flex items-center gap-2 text-sm">
                <input type="checkbox" class="h-4 w-4" prop:checked=email on:change=toggle />
                "Email me when one of my keys is about to expire or expired, is still used at the end of its rotation's grace, was revoked by someone else, or used 80% or 100% of its quota"
            </label>
            {(!available).then(|| view! { <p class="mt-1 text-xs text-amber-800">"This installation sends no emails yet: an operator sets LOCKSMITH_SMTP_URL."</p> })}
            {move || actions.email.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3"><ErrorNote message=e.to_string() /></div> })}
        </section>
    }
}

/// The form of a new endpoint: URL, description, and every event or a choice of them.
#[component]
fn NewEndpoint(actions: Actions, types: Vec<String>, owner: bool) -> impl IntoView {
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let every = RwSignal::new(true);
    let chosen = RwSignal::new(Vec::<String>::new());
    on_success(actions.create, move || {
        url.set(String::new());
        description.set(String::new());
        every.set(true);
        chosen.set(Vec::new());
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        actions.create.dispatch(CreateWebhook {
            url: url.get_untracked(),
            description: description.get_untracked(),
            events: if every.get_untracked() {
                Vec::new()
            } else {
                chosen.get_untracked()
            },
        });
    };
    let scope = if owner {
        "Your endpoints receive the events of your own keys."
    } else {
        "Installation endpoints receive every event (of the types chosen)."
    };
    view! {
        <section aria-labelledby="new-webhook" class=format!("mt-6 p-5 {CARD}")>
            <h2 id="new-webhook" class="font-semibold">"New endpoint"</h2>
            <p class="mt-1 text-xs text-slate-500">{scope}</p>
            <form class="mt-3 grid gap-4" on:submit=submit>
                <div class="grid gap-4 sm:grid-cols-2">
                    <div>
                        <label for="wh-url" class=LABEL>"URL"</label>
                        <input id="wh-url" type="url" required maxlength="2000" class=INPUT placeholder="https://hooks.example.com/locksmith" prop:value=url on:input=move |ev| url.set(event_target_value(&ev)) />
                    </div>
                    <div>
                        <label for="wh-description" class=LABEL>"Description"</label>
                        <input id="wh-description" maxlength="500" class=INPUT placeholder="Pager for the payments team" prop:value=description on:input=move |ev| description.set(event_target_value(&ev)) />
                    </div>
                </div>
                <fieldset>
                    <legend class=LABEL>"Events"</legend>
                    <label class="mt-2 flex items-center gap-2 text-sm">
                        <input type="checkbox" class="h-4 w-4" prop:checked=every on:change=move |ev| every.set(event_target_checked(&ev)) />
                        "Every event"
                    </label>
                    <div class="mt-2 grid gap-1 sm:grid-cols-3" class:hidden=move || every.get()>
                        {types.into_iter().map(|t| {
                            let name = StoredValue::new(t.clone());
                            let toggle = move |ev: leptos::ev::Event| {
                                let on = event_target_checked(&ev);
                                let t = name.get_value();
                                chosen.update(|c| {
                                    c.retain(|x| *x != t);
                                    if on {
                                        c.push(t);
                                    }
                                });
                            };
                            view! {
                                <label class="flex items-center gap-2 font-mono text-xs">
                                    <input type="checkbox" class="h-4 w-4" value=t.clone() prop:checked=move || chosen.with(|c| c.contains(&name.get_value())) on:change=toggle />
                                    {t}
                                </label>
                            }
                        }).collect_view()}
                    </div>
                </fieldset>
                <div><button type="submit" class=PRIMARY>"Add endpoint"</button></div>
            </form>
            {move || actions.create.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3"><ErrorNote message=e.to_string() /></div> })}
        </section>
    }
}

#[component]
fn Endpoint(endpoint: EndpointRow, may_change: bool, actions: Actions) -> impl IntoView {
    let id = StoredValue::new(endpoint.id.clone());
    let deleting = RwSignal::new(false);
    on_success(actions.delete, move || deleting.set(false));
    let events = endpoint
        .events
        .clone()
        .map_or_else(|| "every event".to_owned(), |e| e.join(", "));
    let state = if endpoint.enabled {
        match endpoint.failing_since {
            Some(since) => view! { <span class="rounded-full bg-amber-100 px-2 py-0.5 text-xs text-amber-900 ring-1 ring-amber-300" data-testid="webhook-state">{format!("● failing since {}", when(&since))}</span> }.into_any(),
            None => view! { <span class="rounded-full bg-emerald-100 px-2 py-0.5 text-xs text-emerald-900 ring-1 ring-emerald-300" data-testid="webhook-state">"● enabled"</span> }.into_any(),
        }
    } else {
        let why = endpoint
            .disabled_reason
            .clone()
            .map_or_else(|| "○ disabled".to_owned(), |r| format!("○ disabled: {r}"));
        view! { <span class="rounded-full bg-slate-100 px-2 py-0.5 text-xs text-slate-700 ring-1 ring-slate-300" data-testid="webhook-state">{why}</span> }.into_any()
    };
    let enabled = endpoint.enabled;
    let title = format!("Delete the endpoint {}?", endpoint.url);
    view! {
        <section class=format!("p-5 {CARD}") data-testid="webhook" aria-label=format!("Endpoint {}", endpoint.url)>
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 class="break-all font-mono text-sm font-semibold">{endpoint.url.clone()}</h2>
                {state}
            </div>
            {(!endpoint.description.is_empty()).then(|| view! { <p class="mt-1 text-sm text-slate-700">{endpoint.description.clone()}</p> })}
            <p class="mt-1 text-xs text-slate-500">
                {format!("{} · {} · created {}", if endpoint.owner_id.is_some() { "an owner's endpoint" } else { "installation endpoint" }, events, when(&endpoint.created_at))}
                {endpoint.previous_secret_until.map(|u| format!(" · the previous secret is also sent until {}", when(&u)))}
            </p>
            {may_change.then(|| view! {
                <div class="mt-3 flex flex-wrap gap-2">
                    <button type="button" class=SECONDARY disabled=!enabled on:click=move |_| { actions.test.dispatch(TestWebhook { id: id.get_value() }); }>"Send test event"</button>
                    <button type="button" class=SECONDARY on:click=move |_| { actions.enable.dispatch(SetWebhookEnabled { id: id.get_value(), enabled: !enabled }); }>{if enabled { "Disable" } else { "Enable" }}</button>
                    <button type="button" class=SECONDARY on:click=move |_| { actions.rotate.dispatch(RotateWebhookSecret { id: id.get_value() }); }>"Rotate secret"</button>
                    <button type="button" class=DANGER on:click=move |_| deleting.set(true)>"Delete"</button>
                </div>
            })}
            <Dialog open=deleting title=title id="delete-webhook-dialog">
                <p class="text-slate-700">"Its pending deliveries and its log go with it. Events that happen afterwards are not sent anywhere unless another endpoint subscribes to them."</p>
                {move || actions.delete.value().get().and_then(Result::err).map(|e| view! { <ErrorNote message=e.to_string() /> })}
                <button type="button" class=DANGER on:click=move |_| { actions.delete.dispatch(DeleteWebhook { id: id.get_value() }); }>"Delete endpoint"</button>
            </Dialog>
            <h3 class="mt-4 text-sm font-medium text-slate-800">"Deliveries"</h3>
            {if endpoint.deliveries.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-500">"None yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="mt-2 divide-y divide-slate-100 rounded-md border border-slate-200">
                        {endpoint.deliveries.into_iter().map(|d| view! { <Delivery delivery=d endpoint=id may_change actions /> }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Delivery(
    delivery: DeliveryRow,
    endpoint: StoredValue<String>,
    may_change: bool,
    actions: Actions,
) -> impl IntoView {
    let delivery_id = StoredValue::new(delivery.id.clone());
    let (badge, tone) = match delivery.status.as_str() {
        "delivered" => (
            "✓ delivered",
            "bg-emerald-100 text-emerald-900 ring-emerald-300",
        ),
        "failed" => ("✕ failed", "bg-red-100 text-red-900 ring-red-300"),
        _ => ("… pending", "bg-amber-100 text-amber-900 ring-amber-300"),
    };
    let answer = match (delivery.response_status, &delivery.error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "not attempted yet".to_owned(),
    };
    let latency = delivery
        .latency_ms
        .map(|ms| format!(" in {ms} ms"))
        .unwrap_or_default();
    let next = delivery
        .next_attempt_at
        .filter(|_| delivery.status == "pending")
        .map(|at| format!(" · next attempt {}", when(&at)))
        .unwrap_or_default();
    view! {
        <li class="px-3 py-2 text-sm" data-testid="delivery">
            <div class="flex flex-wrap items-center gap-x-4 gap-y-1">
                <span class="font-mono text-xs font-medium" data-testid="delivery-type">{delivery.event_type.clone()}</span>
                <span class=format!("rounded-full px-2 py-0.5 text-xs ring-1 {tone}") data-testid="delivery-status">{badge}</span>
                <span class="text-xs text-slate-600" data-testid="delivery-answer">{format!("{answer}{latency} · {} attempt(s){next}", delivery.attempts)}</span>
                <span class="text-xs text-slate-500">{when(&delivery.created_at)}</span>
                {may_change.then(|| view! {
                    <button type="button" class=format!("ml-auto {SECONDARY}") on:click=move |_| { actions.redeliver.dispatch(RedeliverWebhook { id: endpoint.get_value(), delivery_id: delivery_id.get_value() }); }>"Redeliver"</button>
                })}
            </div>
            <details class="mt-1">
                <summary class="cursor-pointer text-xs text-sky-800 hover:underline">"Attempts and answer"</summary>
                <ol class="mt-1 list-decimal pl-5 text-xs text-slate-600">
                    {delivery.history.into_iter().map(|a| {
                        let what = match (a.response_status, a.error) {
                            (Some(s), _) => format!("HTTP {s}"),
                            (None, Some(e)) => e,
                            (None, None) => String::new(),
                        };
                        view! { <li>{format!("{} · {what} · {} ms", when(&a.at), a.latency_ms)}</li> }
                    }).collect_view()}
                </ol>
                <pre class="mt-1 max-h-40 overflow-auto whitespace-pre-wrap rounded bg-slate-50 p-2 text-xs text-slate-700" data-testid="delivery-body">{delivery.response_body.unwrap_or_default()}</pre>
                <p class="text-xs text-slate-500">{format!("Event id (the webhook-id header): {}", delivery.event_id)}</p>
            </details>
        </li>
    }
}
