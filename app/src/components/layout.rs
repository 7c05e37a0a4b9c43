//! The frame of every page: header with navigation, content, footer.

use leptos::prelude::*;

/// A navigation entry.
struct NavItem {
    href: &'static str,
    label: &'static str,
    /// Served by the API rather than the portal: a plain link, opened in a new tab.
    external: bool,
    /// The roles that see it; the server refuses the others anyway.
    roles: &'static [&'static str],
}

const EVERYONE: &[&str] = &["admin", "auditor", "owner"];
const READERS: &[&str] = &["admin", "auditor"];

const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "Overview",
        external: false,
        roles: EVERYONE,
    },
    NavItem {
        href: "/keys",
        label: "Keys",
        external: false,
        roles: EVERYONE,
    },
    NavItem {
        href: "/keyspaces",
        label: "Keyspaces",
        external: false,
        roles: READERS,
    },
    NavItem {
        href: "/webhooks",
        label: "Webhooks",
        external: false,
        roles: EVERYONE,
    },
    NavItem {
        href: "/users",
        label: "Users",
        external: false,
        roles: READERS,
    },
    NavItem {
        href: "/audit",
        label: "Audit log",
        external: false,
        roles: READERS,
    },
    NavItem {
        href: "/readyz",
        label: "Readiness",
        external: true,
        roles: READERS,
    },
    NavItem {
        href: "/metrics",
        label: "Metrics",
        external: true,
        roles: READERS,
    },
];

/// Header, navigation and content area. (The WASM entry point marks `<body>` once the
/// page is hydrated.)
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let user = expect_context::<crate::auth::UserResource>();
    // On a phone the navigation folds behind a Menu button; it folds again on navigation.
    let menu_open = RwSignal::new(false);
    let location = leptos_router::hooks::use_location();
    // Counts client-side navigations (not the first page load): each page's heading
    // takes focus when it appears after one (`ui::PageHeading`), so that a screen reader
    // announces the new page and Tab continues from there.
    let navigations = Navigations(RwSignal::new(0));
    provide_context(navigations);
    Effect::new(move |previous: Option<String>| {
        let path = location.pathname.get();
        if previous.is_some_and(|p| p != path) {
            menu_open.set(false);
            navigations.0.update(|n| *n += 1);
        }
        path
    });
    let nav_class = move || {
        format!(
            "{} w-full flex-col gap-1 text-sm sm:flex sm:w-auto sm:flex-row sm:flex-wrap",
            if menu_open.get() { "flex" } else { "hidden" }
        )
    };
    view! {
        <div class="flex min-h-screen flex-col">
            <a
                href="#main"
                class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-slate-900"
            >
                "Skip to content"
            </a>
            <header class="bg-slate-900 text-white shadow" data-testid="site-header">
                <div class="mx-auto flex max-w-6xl flex-wrap items-center gap-x-8 gap-y-2 px-4 py-3">
                    <a href="/" class="flex items-center gap-2 text-lg font-semibold tracking-tight">
                        <KeyIcon />
                        "Locksmith"
                    </a>
                    <button
                        type="button"
                        class="order-last ml-auto min-h-[2.75rem] rounded border border-slate-600 px-3 text-sm sm:hidden"
                        aria-controls="main-nav"
                        aria-expanded=move || menu_open.get().to_string()
                        data-testid="menu-button"
                        on:click=move |_| menu_open.update(|o| *o = !*o)
                    >
                        "Menu"
                    </button>
                    <nav id="main-nav" aria-label="Main" class=nav_class>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                let role = user.await.ok().flatten().map(|u| u.role).unwrap_or_default();
                                NAV.iter()
                                    .filter(|item| item.roles.contains(&role.as_str()))
                                    .map(|item| view! { <NavLink item /> })
                                    .collect_view()
                            })}
                        </Transition>
                    </nav>
                    <UserMenu />
                </div>
            </header>
            <main id="main" class="mx-auto w-full max-w-6xl flex-1 px-4 py-8">
                {children()}
            </main>
            <footer class="border-t border-slate-200 bg-white">
                <div class="mx-auto max-w-6xl px-4 py-4 text-xs text-slate-500">
                    "Locksmith — self-hosted API key management"
                </div>
            </footer>
        </div>
    }
}

#[component]
fn NavLink(item: &'static NavItem) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let href = item.href;
    let current = move || {
        let path = location.pathname.get();
        path == href || (href != "/" && path.starts_with(&format!("{href}/")))
    };
    view! {
        <a
            href=href
            target=item.external.then_some("_blank")
            rel=item.external.then_some("noopener")
            aria-current=move || current().then_some("page")
            class="rounded px-3 py-1.5 text-slate-300 hover:bg-slate-800 hover:text-white focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-400 aria-[current=page]:bg-slate-800 aria-[current=page]:text-white"
        >
            {item.label}
        </a>
    }
}

/// Who is signed in, with a sign-out button; nothing for anonymous visitors.
#[component]
fn UserMenu() -> impl IntoView {
    let user = expect_context::<crate::auth::UserResource>();
    let logout = ServerAction::<crate::auth::Logout>::new();
    Effect::new(move |_| {
        if matches!(logout.value().get(), Some(Ok(()))) {
            super::load_page("/login");
        }
    });
    view! {
        <div class="ml-auto flex items-center gap-3 text-sm">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    user.await.ok().flatten().map(|u| {
                        view! {
                            <span class="text-slate-300" data-testid="signed-in-as">
                                {u.display_name.clone().unwrap_or_else(|| u.email.clone())}
                                <span class="ml-2 rounded bg-slate-700 px-1.5 py-0.5 text-xs uppercase tracking-wide text-slate-200">
                                    {u.role.clone()}
                                </span>
                            </span>
                            <ActionForm action=logout>
                                <button
                                    type="submit"
                                    class="rounded px-3 py-1.5 text-slate-300 hover:bg-slate-800 hover:text-white focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-400"
                                >
                                    "Sign out"
                                </button>
                            </ActionForm>
                        }
                    })
                })}
            </Transition>
        </div>
    }
}

#[component]
fn KeyIcon() -> impl IntoView {
    view! {
        <svg aria-hidden="true" viewBox="0 0 24 24" class="h-6 w-6 fill-none stroke-amber-400" stroke-width="2">
            <circle cx="8" cy="15" r="4" />
            <path d="M10.8 12.2 19 4m-3 3 2 2m-4 0 2 2" stroke-linecap="round" />
        </svg>
    }
}

/// How many client-side navigations this page has seen (0: it was loaded as is).
#[derive(Debug, Clone, Copy)]
pub struct Navigations(pub RwSignal<u32>);
