//! Small shared pieces: class strings, times, status badges, empty and error states.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// A text input.
pub const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-500 aria-[invalid=true]:border-red-500";
/// A label above an input.
pub const LABEL: &str = "block text-sm font-medium text-slate-700";
/// The main action.
pub const PRIMARY: &str = "inline-flex items-center justify-center gap-2 rounded-md bg-sky-700 px-3 py-2 text-sm font-medium text-white shadow-sm hover:bg-sky-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500 disabled:cursor-not-allowed disabled:opacity-60";
/// A secondary action.
pub const SECONDARY: &str = "inline-flex items-center justify-center gap-2 rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-800 shadow-sm hover:bg-slate-50 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500 disabled:cursor-not-allowed disabled:opacity-60";
/// A destructive action.
pub const DANGER: &str = "inline-flex items-center justify-center gap-2 rounded-md bg-red-700 px-3 py-2 text-sm font-medium text-white shadow-sm hover:bg-red-800 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-500 disabled:cursor-not-allowed disabled:opacity-60";
/// A white card.
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white shadow-sm";

/// A time to the minute, in UTC.
pub fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An optional time, or a dash.
pub fn when_or(at: Option<&DateTime<Utc>>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), when)
}

/// The distance from `now` to `at` in words: "in 3 days", "5 minutes ago".
pub fn relative(at: &DateTime<Utc>, now: &DateTime<Utc>) -> String {
    let seconds = (*at - *now).num_seconds();
    let n = seconds.abs();
    let amount = match n {
        0..60 => {
            return if seconds >= 0 {
                "in under a minute".into()
            } else {
                "just now".into()
            };
        }
        60..3600 => plural(n / 60, "minute"),
        3600..86_400 => plural(n / 3600, "hour"),
        _ => plural(n / 86_400, "day"),
    };
    if seconds >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A length of time in the largest whole unit: "30 days", "12 hours", "90 s".
pub fn duration_words(seconds: i64) -> String {
    match seconds {
        s if s > 0 && s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s > 0 && s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s > 0 && s % 60 == 0 => plural(s / 60, "minute"),
        s => format!("{s} s"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A number with thin spaces between thousands: 1 234 567.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A page's `<h1>`. After a client-side navigation it takes focus as it appears (the
/// page's data may arrive later than the URL changes), so screen readers announce the new
/// page and Tab continues from its top; on a page loaded as is, focus stays where the
/// browser puts it.
#[component]
pub fn PageHeading(
    class: &'static str,
    #[prop(optional)] testid: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let heading = NodeRef::<leptos::html::H1>::new();
    let navigations = use_context::<crate::components::layout::Navigations>();
    Effect::new(move |_| {
        if navigations.is_some_and(|n| n.0.get() > 0)
            && let Some(h) = heading.get()
        {
            let _ = h.focus();
        }
    });
    view! {
        <h1 node_ref=heading tabindex="-1" class=format!("{class} focus:outline-none") data-testid=testid>
            {children()}
        </h1>
    }
}

/// A key status as a badge: a word and a symbol, so colour is never the only signal.
#[component]
pub fn StatusBadge(#[prop(into)] status: String, #[prop(optional)] grace: bool) -> impl IntoView {
    let (class, symbol, text) = match (status.as_str(), grace) {
        ("active", true) => (
            "bg-amber-100 text-amber-900 ring-amber-300",
            "◐",
            "in grace",
        ),
        ("active", _) => (
            "bg-emerald-100 text-emerald-900 ring-emerald-300",
            "●",
            "active",
        ),
        ("disabled", _) => (
            "bg-slate-100 text-slate-800 ring-slate-300",
            "❚❚",
            "disabled",
        ),
        ("expired", _) => (
            "bg-orange-100 text-orange-900 ring-orange-300",
            "◷",
            "expired",
        ),
        ("revoked", _) => ("bg-red-100 text-red-900 ring-red-300", "✕", "revoked"),
        _ => ("bg-slate-100 text-slate-800 ring-slate-300", "?", "unknown"),
    };
    view! {
        <span
            class=format!("inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset {class}")
            data-testid="status-badge"
            data-status=text
            data-key-status=status
        >
            <span aria-hidden="true">{symbol}</span>
            {text}
        </span>
    }
}

/// A horizontal gauge of `percent` (0 to 100), drawn as SVG: its width is an attribute,
/// not an inline style, which the Content-Security-Policy forbids. The caller gives the
/// accessible name and values (`role="meter"`) on its wrapper.
#[component]
pub fn Gauge(
    percent: u8,
    #[prop(into)] fill: String,
    #[prop(optional)] thin: bool,
) -> impl IntoView {
    let height = if thin { "h-1.5" } else { "h-3" };
    view! {
        <svg viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true" class=format!("{height} w-full overflow-hidden rounded-full")>
            <rect width="100" height="4" class="fill-slate-200" />
            <rect width=percent.min(100).to_string() height="4" class=fill />
        </svg>
    }
}

/// A term and its value in a `<dl>`.
#[component]
pub fn Field(label: &'static str, children: Children) -> impl IntoView {
    view! {
        <div>
            <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
            <dd class="mt-1 text-slate-900">{children()}</dd>
        </div>
    }
}

/// A designed empty state: what is missing and what to do.
#[component]
pub fn Empty(
    #[prop(into)] title: String,
    #[prop(into)] hint: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="rounded-lg border border-dashed border-slate-300 bg-white px-6 py-10 text-center" data-testid="empty-state">
            <p class="font-medium text-slate-800">{title}</p>
            <p class="mt-1 text-sm text-slate-500">{hint}</p>
            {children.map(|c| view! { <div class="mt-4">{c()}</div> })}
        </div>
    }
}

/// A failure, said plainly, with the server's message.
#[component]
pub fn ErrorNote(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <p role="alert" class="rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">
            <span aria-hidden="true">"⚠ "</span>
            {message}
        </p>
    }
}

/// A loading placeholder of the given height, announced to screen readers.
#[component]
pub fn Loading(#[prop(into)] label: String) -> impl IntoView {
    view! {
        <div class="animate-pulse rounded-lg border border-slate-200 bg-white px-5 py-8 text-sm text-slate-500" role="status">
            {label}
        </div>
    }
}

/// Runs `then` each time `action` succeeds (closing its dialog, clearing a selection,
/// reloading what it changed).
pub fn on_success<A, O>(action: ServerAction<A>, then: impl Fn() + Send + Sync + 'static)
where
    A: leptos::server_fn::ServerFn<Output = O> + Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + 'static,
    A::Error: Clone + Send + Sync + 'static,
{
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(_))) {
            then();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(-1000), "-1\u{202f}000");
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        assert_eq!(
            relative(&(now + chrono::Duration::days(3)), &now),
            "in 3 days"
        );
        assert_eq!(
            relative(&(now - chrono::Duration::minutes(1)), &now),
            "1 minute ago"
        );
        assert_eq!(relative(&now, &now), "in under a minute");
        assert_eq!(
            relative(&(now - chrono::Duration::hours(5)), &now),
            "5 hours ago"
        );
    }
}
