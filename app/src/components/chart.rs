//! The usage chart: stacked bars by outcome, drawn as SVG on the server. Once hydrated,
//! pointing at (or tabbing to) a bar shows its values; every bar also carries a `<title>`
//! for the browser's own tooltip, and the numbers are one click away as a table.

use leptos::prelude::*;

use crate::components::ui::count;
use crate::keys::UsagePoint;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;

/// The outcomes in stacking order: name, fill class, legend swatch class.
const SERIES: [(&str, &str, &str); 5] = [
    ("valid", "fill-emerald-500", "bg-emerald-500"),
    ("rate limited", "fill-amber-400", "bg-amber-400"),
    ("quota exceeded", "fill-orange-600", "bg-orange-600"),
    ("forbidden", "fill-violet-500", "bg-violet-500"),
    (
        "revoked, disabled or expired",
        "fill-slate-400",
        "bg-slate-400",
    ),
];

fn values(p: &UsagePoint) -> [i64; 5] {
    [
        p.valid,
        p.rate_limited,
        p.quota_exceeded,
        p.forbidden,
        p.other,
    ]
}

fn describe(p: &UsagePoint, label: &str) -> String {
    let parts: Vec<String> = SERIES
        .iter()
        .zip(values(p))
        .filter(|(_, v)| *v > 0)
        .map(|((name, _, _), v)| format!("{} {name}", count(v)))
        .collect();
    if parts.is_empty() {
        format!("{label}: no verifications")
    } else {
        format!(
            "{label}: {} verifications ({})",
            count(p.total()),
            parts.join(", ")
        )
    }
}

/// A stacked bar chart of `points`; `hourly` picks the bucket labels.
#[component]
pub fn UsageChart(
    points: Vec<UsagePoint>,
    hourly: bool,
    #[prop(into)] title: String,
    #[prop(into)] testid: String,
) -> impl IntoView {
    let label = move |p: &UsagePoint| {
        if hourly {
            p.at.format("%b %-d, %H:00 UTC").to_string()
        } else {
            p.at.format("%b %-d UTC").to_string()
        }
    };
    let total: i64 = points.iter().map(UsagePoint::total).sum();
    let peak = points
        .iter()
        .map(UsagePoint::total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = points.len().max(1) as f64;
    let slot = WIDTH / n;
    let bar = (slot * 0.8).max(1.0);
    let hovered = RwSignal::new(None::<usize>);
    let descriptions: Vec<String> = points.iter().map(|p| describe(p, &label(p))).collect();
    let summary = format!("{} verifications in all", count(total));
    let readout = {
        let descriptions = descriptions.clone();
        move || match hovered.get() {
            Some(i) => descriptions.get(i).cloned().unwrap_or_default(),
            None => summary.clone(),
        }
    };
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = i as f64 * slot + (slot - bar) / 2.0;
            let mut y = HEIGHT;
            let segments = SERIES
                .iter()
                .zip(values(p))
                .filter(|(_, v)| *v > 0)
                .map(|((_, fill, _), v)| {
                    let h = (v as f64 / peak * HEIGHT).max(1.0);
                    y -= h;
                    view! { <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar:.1}") height=format!("{h:.1}") class=*fill /> }
                })
                .collect_view();
            let text = descriptions[i].clone();
            let aria = text.clone();
            view! {
                <g
                    tabindex="0"
                    role="img"
                    aria-label=aria
                    class="outline-none focus:opacity-80 hover:opacity-80"
                    on:mouseenter=move |_| hovered.set(Some(i))
                    on:focus=move |_| hovered.set(Some(i))
                    on:mouseleave=move |_| hovered.set(None)
                    on:blur=move |_| hovered.set(None)
                    data-testid="chart-bar"
                >
                    <title>{text}</title>
                    // The whole slot answers to the pointer, not only the painted part.
                    <rect x=format!("{:.1}", i as f64 * slot) y="0" width=format!("{slot:.1}") height=format!("{HEIGHT}") class="fill-transparent" />
                    {segments}
                </g>
            }
        })
        .collect_view();
    let first = points.first().map(&label).unwrap_or_default();
    let last = points.last().map(&label).unwrap_or_default();
    let rows = points
        .into_iter()
        .map(|p| {
            let cells = values(&p).map(|v| view! { <td class="px-2 py-1 text-right tabular-nums">{count(v)}</td> });
            view! { <tr><th scope="row" class="px-2 py-1 text-left font-normal">{label(&p)}</th>{cells.into_iter().collect_view()}</tr> }
        })
        .collect_view();
    view! {
        <figure class="space-y-2" data-testid=testid>
            <figcaption class="flex flex-wrap items-baseline justify-between gap-2">
                <span class="text-sm font-medium text-slate-800">{title}</span>
                <span class="text-xs text-slate-600" aria-live="polite" data-testid="chart-readout">{readout}</span>
            </figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" class="h-40 w-full rounded bg-slate-50" aria-label=format!("{} (peak {})", "Verifications by outcome", count(peak as i64))>
                <line x1="0" y1=format!("{HEIGHT}") x2=format!("{WIDTH}") y2=format!("{HEIGHT}") class="stroke-slate-300" />
                {bars}
            </svg>
            <div class="flex justify-between text-xs text-slate-500">
                <span>{first}</span>
                <span>{last}</span>
            </div>
            <ul class="flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600">
                {SERIES.iter().map(|(name, _, swatch)| view! {
                    <li class="inline-flex items-center gap-1">
                        <span class=format!("inline-block h-2.5 w-2.5 rounded-sm {swatch}") aria-hidden="true"></span>
                        {*name}
                    </li>
                }).collect_view()}
            </ul>
            <details class="text-xs">
                <summary class="cursor-pointer text-sky-800 hover:underline">"Show as a table"</summary>
                <div class="mt-2 max-h-64 overflow-auto">
                    <table class="w-full">
                        <thead>
                            <tr class="text-slate-500">
                                <th scope="col" class="px-2 py-1 text-left">"Bucket"</th>
                                {SERIES.iter().map(|(name, _, _)| view! { <th scope="col" class="px-2 py-1 text-right">{*name}</th> }).collect_view()}
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </details>
        </figure>
    }
}
