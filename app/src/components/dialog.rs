//! A modal confirmation: it says what will happen, takes the keyboard (Escape cancels,
//! focus starts inside it and Tab stays inside it) and gives focus back when it closes.

use leptos::ev::KeyboardEvent;
use leptos::html;
use leptos::prelude::*;

/// A dialog shown while `open` is true. `children` holds the body and the confirming
/// button; the dialog adds a Cancel button, which closes it.
#[component]
pub fn Dialog(
    open: RwSignal<bool>,
    #[prop(into)] title: Signal<String>,
    #[prop(into)] id: String,
    children: ChildrenFn,
) -> impl IntoView {
    let panel = NodeRef::<html::Div>::new();
    // The control that opened the dialog is marked, to give focus back to when it closes
    // (a mark in the page, not a stored element: nothing of the browser is kept in the
    // reactive graph, which the server drops on another thread).
    let opener_mark = format!("{id}-opener");
    Effect::new(move |was_open: Option<bool>| {
        let is_open = open.get();
        if is_open
            && was_open != Some(true)
            && let Some(active) = document().active_element()
        {
            let _ = active.set_attribute("data-dialog-opener", &opener_mark);
        }
        if !is_open
            && was_open == Some(true)
            && let Ok(Some(opener)) =
                document().query_selector(&format!("[data-dialog-opener=\"{opener_mark}\"]"))
        {
            let _ = opener.remove_attribute("data-dialog-opener");
            if let Some(opener) = wasm_focusable(opener) {
                let _ = opener.focus();
            }
        }
        is_open
    });
    // Focus moves into the dialog when it opens (its first field or button).
    Effect::new(move |_| {
        if open.get()
            && let Some(panel) = panel.get()
            && let Ok(Some(first)) = panel.query_selector("input, textarea, select, button")
            && let Some(first) = wasm_focusable(first)
        {
            let _ = first.focus();
        }
    });
    let on_key = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            open.set(false);
        } else if ev.key() == "Tab"
            && let Some(panel) = panel.get_untracked()
        {
            keep_focus_inside(&panel, &ev);
        }
    };
    let title_id = format!("{id}-title");
    let children = StoredValue::new(children);
    view! {
        <Show when=move || open.get()>
            <div class="fixed inset-0 z-40 flex items-end justify-center bg-slate-900/50 p-4 sm:items-center" on:keydown=on_key>
                <div
                    node_ref=panel
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby=title_id.clone()
                    data-testid=id.clone()
                    class="w-full max-w-md rounded-lg bg-white p-5 shadow-xl"
                >
                    <h2 id=title_id.clone() class="text-lg font-semibold">{move || title.get()}</h2>
                    // Text and fields take whole lines; the confirming button and Cancel share
                    // the last one.
                    <div class="mt-3 flex flex-wrap items-center gap-3 text-sm [&>*:not(button)]:basis-full" data-testid="dialog-body">
                        {children.read_value()()}
                        <button type="button" class=crate::components::ui::SECONDARY on:click=move |_| open.set(false)>
                            "Cancel"
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// Tab from the last control goes to the first, Shift+Tab from the first to the last.
fn keep_focus_inside(panel: &web_sys::HtmlDivElement, ev: &KeyboardEvent) {
    let Ok(nodes) = panel.query_selector_all("input, textarea, select, button, a[href]") else {
        return;
    };
    let controls: Vec<web_sys::HtmlElement> = (0..nodes.length())
        .filter_map(|i| nodes.item(i))
        .filter_map(|n| {
            use wasm_bindgen::JsCast;
            n.dyn_into::<web_sys::HtmlElement>().ok()
        })
        .collect();
    let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
        return;
    };
    let active = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element());
    let is = |el: &web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a.is_same_node(Some(el.as_ref())))
    };
    let target = if ev.shift_key() && is(first) {
        Some(last)
    } else if !ev.shift_key() && is(last) {
        Some(first)
    } else {
        None
    };
    if let Some(target) = target {
        ev.prevent_default();
        let _ = target.focus();
    }
}

fn wasm_focusable(el: web_sys::Element) -> Option<web_sys::HtmlElement> {
    use wasm_bindgen::JsCast;
    el.dyn_into::<web_sys::HtmlElement>().ok()
}
