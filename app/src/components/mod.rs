//! Components shared by the pages.

pub mod chart;
pub mod dialog;
pub mod findings;
pub mod layout;
pub mod secret;
pub mod status_page;
pub mod test_call;
pub mod ui;

/// Loads `path` as a whole new page (not a client-side navigation), so that everything on
/// it renders for the new session; used after signing in and out.
pub fn load_page(path: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
}
