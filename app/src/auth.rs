//! Portal sign-in: the session user, the login/logout server functions and the guard that
//! keeps pages to the roles allowed to see them.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The session key holding the signed-in user's id (the session store also writes it
/// to its own column, so that disabling a user can delete their sessions).
pub const USER_ID_KEY: &str = "user_id";

/// The signed-in user as the portal sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// The user id.
    pub id: String,
    /// The sign-in email.
    pub email: String,
    /// `admin`, `auditor` or `owner`.
    pub role: String,
    /// A name to show.
    pub display_name: Option<String>,
}

/// The signed-in user, or `None`.
#[server(prefix = "/api", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<SessionUser>, AppError> {
    let user = server::session_user().await.map_err(AppError::respond)?;
    Ok(user.map(|u| server::view(&u)))
}

/// Signs in; on success the session id is rotated and the browser goes to the overview.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    server::login(email, password)
        .await
        .map_err(AppError::respond)
}

/// Signs out and ends the session.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    server::logout().await.map_err(AppError::respond)
}

/// The session user, loaded once per page and shared through context.
pub type UserResource = Resource<Result<Option<SessionUser>, AppError>>;

/// Whether the session user, once loaded, has one of `roles` (any role when empty).
/// Pages ask this before calling a guarded server function from a resource made outside
/// [`Protected`], so a visitor who may not see the page costs no call (and no status).
pub async fn has_role(user: UserResource, roles: &[&str]) -> bool {
    matches!(user.await, Ok(Some(u)) if roles.is_empty() || roles.contains(&u.role.as_str()))
}

/// What `fetch` answers when the session user has one of `roles` (any role when empty),
/// else `Forbidden` without asking the server: the body of a page's resource made outside
/// [`Protected`].
pub async fn for_roles<T>(
    user: UserResource,
    roles: &[&str],
    fetch: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    if has_role(user, roles).await {
        fetch.await
    } else {
        Err(AppError::Forbidden)
    }
}

/// Renders `children` only for a signed-in user whose role is in `roles` (all roles when
/// empty). Anonymous visitors are sent to the sign-in page; other roles get a 403 page.
#[component]
pub fn Protected(
    #[prop(optional)] roles: &'static [&'static str],
    children: ChildrenFn,
) -> impl IntoView {
    let user = expect_context::<UserResource>();
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) if roles.is_empty() || roles.contains(&u.role.as_str()) => {
                        children.read_value()().into_any()
                    }
                    Ok(Some(_)) => view! { <crate::pages::forbidden::Forbidden /> }.into_any(),
                    Ok(None) | Err(AppError::Unauthorized) => {
                        view! { <leptos_router::components::Redirect path="/login" /> }.into_any()
                    }
                    Err(e) => view! {
                        <p role="alert" class="rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800">
                            {e.to_string()}
                        </p>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[cfg(feature = "ssr")]
pub mod server {
    //! Session handling on the server.

    use std::net::SocketAddr;

    use chrono::{DateTime, Utc};
    use leptos::prelude::*;
    use locksmith_core::audit::Origin;
    use locksmith_core::identity::login::LoginError;
    use locksmith_core::identity::users::User;
    use locksmith_core::identity::{Actor, Role, SessionService};
    use secrecy::SecretString;
    use tower_sessions::Session;
    use uuid::Uuid;

    use super::SessionUser;
    use crate::error::AppError;

    const USER_ID: &str = super::USER_ID_KEY;
    /// The sign-in time to the microsecond: for the absolute timeout, and to compare with
    /// the user's `sessions_valid_after`.
    const SIGNED_IN_AT_MICROS: &str = "signed_in_at_us";
    /// The sign-in time in whole seconds, as sessions from before `SIGNED_IN_AT_MICROS`
    /// hold it (read, no longer written).
    const SIGNED_IN_AT: &str = "signed_in_at";
    /// A session ends this long after sign-in, however active (idle expiry is the
    /// cookie's, set by the session layer).
    pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 3600;

    /// One of the core's services, as the server provided it for this request.
    pub(crate) fn service<T: Clone + Send + Sync + 'static>() -> Result<T, AppError> {
        use_context::<T>().ok_or(AppError::Internal)
    }

    async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>()
            .await
            .map_err(|_| AppError::Internal)
    }

    fn store_err(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "session store failed");
        AppError::Internal
    }

    /// Where the request came from, for audit rows.
    pub async fn origin() -> Origin {
        let source_ip = leptos_axum::extract::<axum::extract::ConnectInfo<SocketAddr>>()
            .await
            .ok()
            .map(|axum::extract::ConnectInfo(addr)| addr.ip());
        let ids = use_context::<http::request::Parts>().and_then(|p| {
            p.extensions
                .get::<locksmith_core::audit::RequestIds>()
                .cloned()
        });
        Origin {
            source_ip,
            request_id: ids.as_ref().map(|ids| ids.server.clone()),
            client_request_id: ids.and_then(|ids| ids.client),
        }
    }

    /// Redirects a plain HTML form post (no JavaScript) to `path`. A hydrated page is not
    /// redirected by the server: it reloads itself once, so that there is exactly one
    /// navigation.
    fn redirect_plain_form(path: &str) {
        let plain_form = use_context::<http::request::Parts>().is_some_and(|p| {
            p.headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
        });
        if plain_form {
            leptos_axum::redirect(path);
        }
    }

    /// The DTO of a user.
    pub fn view(user: &User) -> SessionUser {
        SessionUser {
            id: user.id.to_string(),
            email: user.email.clone(),
            role: user.role.as_str().to_owned(),
            display_name: user.display_name.clone(),
        }
    }

    /// The signed-in user, read fresh from the database (a disabled account, ended
    /// sessions or a changed role take effect at once). Ends sessions past the absolute
    /// timeout.
    pub async fn session_user() -> Result<Option<User>, AppError> {
        user_of(&session().await?, &service()?).await
    }

    /// The user of `session`, as [`session_user`] reads it, for handlers outside Leptos
    /// (the CSV export).
    pub async fn user_of(
        session: &Session,
        sessions: &SessionService,
    ) -> Result<Option<User>, AppError> {
        let Some(id) = session.get::<Uuid>(USER_ID).await.map_err(store_err)? else {
            return Ok(None);
        };
        let since = match session
            .get::<i64>(SIGNED_IN_AT_MICROS)
            .await
            .map_err(store_err)?
        {
            Some(micros) => DateTime::from_timestamp_micros(micros),
            None => DateTime::from_timestamp(
                session
                    .get::<i64>(SIGNED_IN_AT)
                    .await
                    .map_err(store_err)?
                    .unwrap_or(0),
                0,
            ),
        }
        .unwrap_or_default();
        if (Utc::now() - since).num_seconds() > ABSOLUTE_TIMEOUT_SECS {
            session.flush().await.map_err(store_err)?;
            return Ok(None);
        }
        match sessions.portal_holder(id, since).await? {
            Some(user) => Ok(Some(user)),
            None => {
                session.flush().await.map_err(store_err)?;
                Ok(None)
            }
        }
    }

    /// The origin a browser used to reach this page, as services would (for the
    /// portal's sample calls).
    pub fn base_url() -> String {
        let parts = use_context::<http::request::Parts>();
        let header = |name: &str| {
            parts
                .as_ref()
                .and_then(|p| p.headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let host = header("host").unwrap_or_else(|| "localhost".into());
        let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
        format!("{scheme}://{host}")
    }

    /// The signed-in user if their role is one of `roles`.
    pub async fn require(roles: &[Role]) -> Result<User, AppError> {
        let user = session_user().await?.ok_or(AppError::Unauthorized)?;
        if roles.is_empty() || roles.contains(&user.role) {
            Ok(user)
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub(super) async fn login(email: String, password: String) -> Result<(), AppError> {
        let sessions: SessionService = service()?;
        let origin = origin().await;
        let user = match sessions
            .sign_in(&email, SecretString::from(password), &origin)
            .await
        {
            Ok(user) => user,
            Err(LoginError::InvalidCredentials) => return Err(AppError::InvalidCredentials),
            Err(LoginError::Locked { until }) => {
                let minutes = ((until - Utc::now()).num_seconds() + 59) / 60;
                return Err(AppError::Locked {
                    minutes: minutes.max(1),
                    until: until.format("%H:%M UTC").to_string(),
                });
            }
            Err(LoginError::RateLimited(wait)) => {
                return Err(AppError::RateLimited {
                    seconds: wait.as_secs(),
                });
            }
            Err(LoginError::Busy(wait)) => {
                return Err(AppError::Busy {
                    seconds: wait.as_secs(),
                });
            }
            Err(LoginError::Core(e)) => return Err(e.into()),
        };
        let session = session().await?;
        // A new id at sign-in: a session id planted before sign-in is worthless after it.
        session.cycle_id().await.map_err(store_err)?;
        session.insert(USER_ID, user.id).await.map_err(store_err)?;
        session
            .insert(SIGNED_IN_AT_MICROS, Utc::now().timestamp_micros())
            .await
            .map_err(store_err)?;
        redirect_plain_form("/");
        Ok(())
    }

    pub(super) async fn logout() -> Result<(), AppError> {
        let user = session_user().await?;
        session().await?.flush().await.map_err(store_err)?;
        if let Some(user) = user {
            service::<SessionService>()?
                .sign_out_portal(Actor::from(&user), &origin().await)
                .await?;
        }
        redirect_plain_form("/login");
        Ok(())
    }
}
