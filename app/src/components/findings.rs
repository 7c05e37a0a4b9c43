//! A list of findings (leaks, unusual use) with their evidence and an Acknowledge
//! button: on a key's page, and on the overview's "Needs attention".

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::ui::{SECONDARY, when};
use crate::findings::{AcknowledgeFinding, FindingRow};

/// A severity as a badge: a word and a symbol, so colour is never the only signal.
#[component]
fn SeverityBadge(severity: String) -> impl IntoView {
    let (class, symbol) = match severity.as_str() {
        "high" => ("bg-red-100 text-red-900 ring-red-300", "▲"),
        "medium" => ("bg-amber-100 text-amber-900 ring-amber-300", "◆"),
        _ => ("bg-sky-100 text-sky-900 ring-sky-300", "●"),
    };
    view! {
        <span class=format!("inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset {class}") data-testid="finding-severity">
            <span aria-hidden="true">{symbol}</span>
            {severity}
        </span>
    }
}

/// The findings, newest first; those not yet acknowledged get a button when the viewer
/// may acknowledge them.
#[component]
pub fn FindingList(
    findings: Vec<FindingRow>,
    may_acknowledge: bool,
    acknowledge: ServerAction<AcknowledgeFinding>,
    /// Name the key of each finding (on the overview).
    #[prop(optional)]
    show_key: bool,
) -> impl IntoView {
    view! {
        <ul class="divide-y divide-slate-100" data-testid="findings">
            {findings.into_iter().map(|f| {
                let id = StoredValue::new(f.id.clone());
                let done = f.action.as_str() != "none";
                let acknowledged = f.acknowledged_at;
                view! {
                    <li class="py-3" data-testid="finding" data-kind=f.kind.clone() data-finding-id=f.id.clone()>
                        <div class="flex flex-wrap items-center gap-2">
                            <SeverityBadge severity=f.severity.clone() />
                            <span class="font-medium text-slate-900" data-testid="finding-title">{f.title.clone()}</span>
                            {show_key.then(|| view! {
                                <A href=format!("/keys/{}", f.key_id) attr:class="text-sm text-sky-800 hover:underline">
                                    {format!("{} ({}…)", f.key_name, f.key_start)}
                                </A>
                            })}
                            <span class="text-xs text-slate-500">{format!("found {}", when(&f.detected_at))}</span>
                            {done.then(|| view! {
                                <span class="rounded bg-red-50 px-1.5 py-0.5 text-xs text-red-900 ring-1 ring-red-200" data-testid="finding-action">
                                    {format!("key {} by policy", f.action)}
                                </span>
                            })}
                            {match acknowledged {
                                Some(at) => view! { <span class="ml-auto text-xs text-slate-500" data-testid="finding-acknowledged">{format!("✓ acknowledged {}", when(&at))}</span> }.into_any(),
                                None if may_acknowledge => view! {
                                    <button type="button" class=format!("ml-auto {SECONDARY}") data-testid="acknowledge"
                                        on:click=move |_| { acknowledge.dispatch(AcknowledgeFinding { id: id.get_value() }); }>
                                        "Acknowledge"
                                    </button>
                                }.into_any(),
                                None => view! { <span class="ml-auto text-xs font-medium text-amber-800">"needs attention"</span> }.into_any(),
                            }}
                        </div>
                        <p class="mt-1 break-words text-sm text-slate-700" data-testid="finding-summary">{f.summary.clone()}</p>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
