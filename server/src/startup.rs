//! Start-up and shutdown: database (given or embedded), migrations, secrets, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use leptos::config::{Env, LeptosOptions};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;

use crate::config::{Profile, Settings};
use crate::embedded_pg::{ClientTool, EmbeddedPgError, EmbeddedPostgres};
use locksmith_core::audit::AuditService;
use locksmith_core::db::Schema;
use locksmith_core::findings::{Detector, FindingService};
use locksmith_core::identity::gate::SignInGate;
use locksmith_core::identity::{Actor, SessionService, UserService};
use locksmith_core::keys::{KeyHasher, KeyService, KeyspaceService};
use locksmith_core::leaks::{GithubKeys, LeakService};
use locksmith_core::lifecycle::Lifecycle;
use locksmith_core::notify::{MailSettings, NotificationService, Notifier};
use locksmith_core::retention::Retention;
use locksmith_core::verify::rate::{RateLimits, SharedRates};
use locksmith_core::verify::{VerifyConfig, VerifyService};
use locksmith_core::webhooks::{
    DeliverySettings, DeliveryWorker, SecretSealer, TraceHeaders, WebhookPolicy, WebhookService,
};
use secrecy::ExposeSecret as _;

use crate::auth::JwtKeys;
use crate::auth::jwt::ACCESS_TTL;
use crate::http::rate_limit::ApiLimits;
use crate::reload::{Live, Reloader};
use crate::state::{AppState, AuthConfig};
use crate::{http, secrets};

/// Why Locksmith could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The embedded PostgreSQL could not be started.
    #[error("embedded PostgreSQL: {0}")]
    EmbeddedPg(#[from] EmbeddedPgError),
    /// Connecting or migrating failed.
    #[error("database: {0}")]
    Database(#[from] locksmith_core::Error),
    /// The Redis of `LOCKSMITH_REDIS_URL` could not be reached.
    #[error("LOCKSMITH_REDIS_URL: cannot connect to Redis: {0}")]
    Redis(String),
    /// The SMTP settings cannot be used.
    #[error("{0}")]
    Mail(String),
    /// Binding the port, or reading/writing the data dir.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The database Locksmith talks to, and the private cluster behind it if any.
pub struct Database {
    /// The connection pool.
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the embedded cluster when none is given;
    /// retries an unreachable server for `LOCKSMITH_DB_STARTUP_TIMEOUT_SECS`.
    pub async fn open(settings: &Settings) -> Result<Self, StartupError> {
        let (options, embedded): (PgConnectOptions, _) = match settings.database.connect_options() {
            Some(options) => (options, None),
            None => {
                let pg = EmbeddedPostgres::start(&settings.data_dir).await?;
                (pg.connect_options(), Some(pg))
            }
        };
        let pool = match settings
            .database
            .pool
            .connect_with_retry(options, settings.database.startup_timeout)
            .await
        {
            Ok(pool) => pool,
            Err(err) => {
                if let Some(pg) = embedded {
                    let _ = pg.release().await;
                }
                return Err(err.into());
            }
        };
        Ok(Self { pool, embedded })
    }

    /// A PostgreSQL client tool and how it reaches this database: the embedded cluster's
    /// own binaries and socket, or the tool on `PATH` with `DATABASE_URL` (its password
    /// in `PGPASSWORD`, the rest as `--dbname`).
    pub fn client_tool(&self, settings: &Settings, tool: &str) -> ClientTool {
        if let Some(pg) = &self.embedded {
            return pg.client_tool(tool);
        }
        let mut client = ClientTool {
            program: PathBuf::from(tool),
            env: Vec::new(),
            dbname: None,
        };
        if let Some(Ok(mut url)) = settings
            .database
            .url
            .as_ref()
            .map(|url| url::Url::parse(url.expose_secret()))
        {
            if let Some(password) = url.password() {
                let password = percent_encoding::percent_decode_str(password)
                    .decode_utf8_lossy()
                    .into_owned();
                client.env.push(("PGPASSWORD", password));
            }
            let _ = url.set_password(None);
            // libpq reads a connection URI from `--dbname` (not from `PGDATABASE`).
            client.dbname = Some(url.to_string());
        }
        client
    }

    /// Closes the pool, then leaves the embedded cluster, which stops it unless another
    /// Locksmith process (a server beside a one-shot command) still uses it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(pg) = self.embedded
            && let Err(err) = pg.release().await
        {
            tracing::error!(error = %err, "stopping the embedded PostgreSQL failed");
        }
    }
}

/// A bound, ready-to-run server. Tests build it on port 0 and read the port back.
pub struct Application {
    listener: TcpListener,
    router: Router,
    verify: VerifyService,
    deliveries: DeliveryWorker,
    lifecycle: Lifecycle,
    notifier: Option<Notifier>,
    retention: Retention,
    /// Unusual-use detection and how often it runs (`None`: off).
    detector: Option<(Detector, Duration)>,
    audit: AuditService,
    schema: Schema,
    live: Live,
    limits: Arc<ApiLimits>,
    sessions: SessionService,
    users: UserService,
}

impl Application {
    /// Binds the listener and builds the router over `pool`.
    pub async fn build(settings: &Settings, pool: PgPool) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartupError::Io {
                    context: format!(
                        "cannot listen on {} (LOCKSMITH_HOST/LOCKSMITH_PORT)",
                        settings.listen
                    ),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Io {
            context: "reading the bound address".into(),
            source,
        })?;
        let leptos_options = LeptosOptions::builder()
            .output_name("locksmith")
            .site_root(settings.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(match settings.profile {
                Profile::Production => Env::PROD,
                Profile::Development => Env::DEV,
            })
            .build();
        // Install the recorder before the first request, so nothing counted before the
        // first scrape is lost.
        http::metrics::handle();
        // Resolved here so that a missing or unreadable secret stops start-up, not a request.
        let secrets =
            secrets::resolve(&settings.secrets, &settings.data_dir).map_err(|source| {
                StartupError::Io {
                    context: format!("secrets in {}", settings.data_dir.join("secrets").display()),
                    source,
                }
            })?;
        locksmith_core::identity::password::warm_up();
        let hasher = KeyHasher::new(&secrets.key_pepper);
        let sealer = SecretSealer::new(&secrets.key_pepper);
        let pool_for_lifecycle = pool.clone();
        let notifier = match &settings.webhooks.smtp_url {
            None => None,
            Some(url) => Some(
                Notifier::new(
                    pool.clone(),
                    &MailSettings {
                        url: url.clone(),
                        from: settings.webhooks.smtp_from.clone(),
                        portal: settings.public_url.as_ref().map(|u| u.to_string()),
                    },
                )
                .map_err(StartupError::Mail)?,
            ),
        };
        let deliveries = DeliveryWorker::new(
            pool.clone(),
            sealer.clone(),
            DeliverySettings {
                allow_private: settings.webhooks.allow_private,
                disable_after: settings.webhooks.disable_after,
                concurrency: settings.webhooks.concurrency,
                retries: settings.webhooks.retries.clone(),
                trace_headers: TraceHeaders::new(http::trace_context::trace_headers),
            },
        );
        let verify_config = verify_config(settings).await?;
        let sign_in = Arc::new(SignInGate::new(
            settings.limits.lockout,
            settings.limits.per_address,
            settings.limits.hashing,
        ));
        let state = AppState {
            leptos_options: Arc::new(leptos_options),
            keys: KeyService::new(pool.clone(), hasher.clone()),
            leaks: LeakService::new(
                pool.clone(),
                hasher.clone(),
                settings.findings.github_keys.clone().map(GithubKeys::new),
            ),
            findings: FindingService::new(pool.clone()),
            keyspaces: KeyspaceService::new(pool.clone(), hasher.clone()),
            users: UserService::new(pool.clone()),
            audit: AuditService::new(pool.clone()),
            sessions: SessionService::new(pool.clone(), Arc::clone(&sign_in), settings.refresh),
            verify: VerifyService::new(pool.clone(), hasher, verify_config),
            dashboard: locksmith_core::dashboard::Dashboard::new(pool.clone()),
            notifications: NotificationService::new(
                pool.clone(),
                settings.webhooks.smtp_url.is_some(),
            ),
            webhooks: WebhookService::new(
                pool.clone(),
                sealer.clone(),
                WebhookPolicy {
                    require_https: settings.webhooks.require_https,
                    allow_private: settings.webhooks.allow_private,
                },
            ),
            schema: Schema::new(pool),
            auth: Arc::new(AuthConfig {
                jwt: JwtKeys::new(&secrets.jwt, ACCESS_TTL),
            }),
            limits: Arc::new(ApiLimits::new(settings.limits.per_caller)),
            sign_in,
        };
        tokio::spawn(forget_idle_limits(
            Arc::downgrade(&state.limits),
            Arc::downgrade(&state.sign_in),
        ));
        // The one costly dashboard answer, computed before anyone asks for it.
        state.dashboard.warm_up();
        let live = Live::new(settings);
        let limits = Arc::clone(&state.limits);
        Ok(Self {
            notifier,
            lifecycle: Lifecycle::new(
                pool_for_lifecycle.clone(),
                &settings.webhooks.expiry_reminders,
            ),
            detector: settings.findings.every.map(|every| {
                (
                    Detector::new(pool_for_lifecycle.clone(), settings.findings.rules),
                    every,
                )
            }),
            retention: Retention::new(pool_for_lifecycle, settings.retention),
            schema: state.schema.clone(),
            audit: state.audit.clone(),
            deliveries,
            verify: state.verify.clone(),
            sessions: state.sessions.clone(),
            users: state.users.clone(),
            router: http::router(state, settings, &secrets, &live),
            live,
            limits,
            listener,
        })
    }

    /// What applies settings reloaded on `SIGHUP` to this instance.
    pub fn reloader(&self, settings: &Settings, config_file: Option<PathBuf>) -> Reloader {
        Reloader::new(
            self.live.clone(),
            Arc::clone(&self.limits),
            self.retention.clone(),
            settings.clone(),
            config_file,
        )
    }

    /// The verification service (tests read its quota ledger).
    pub fn verify(&self) -> VerifyService {
        self.verify.clone()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Cache invalidations for verification, for as long as this instance serves.
        let verify = self.verify.clone();
        let invalidations = tokio::spawn(async move { verify.listen_for_invalidations().await });
        // Expired sessions, tokens and idle sign-in counters, removed hourly.
        let janitor = tokio::spawn(purge_expired_periodically(self.sessions.clone()));
        // The audit chain, checked and its head published hourly (log, metrics, event).
        let head = tokio::spawn(watch_audit_trail(self.audit.clone()));
        // Readiness, for the `readiness_ok` metric.
        let readiness = tokio::spawn(http::ops::watch_readiness(self.schema.clone()));
        // Usage folded and aged out, old history and (if asked) dead keys removed, hourly.
        let (stop_retention, retention_stopped) = tokio::sync::oneshot::channel();
        let retention = tokio::spawn(self.retention.run_periodically(retention_stopped));
        // Usage and quota leases, written back every second.
        let (stop_flusher, flusher_stopped) = tokio::sync::oneshot::channel();
        let flusher = tokio::spawn(flush_verification_periodically(
            self.verify.clone(),
            flusher_stopped,
        ));
        // Webhook deliveries, until the last requests are served.
        let (stop_deliveries, deliveries_stopped) = tokio::sync::oneshot::channel();
        let deliveries = tokio::spawn(self.deliveries.run(deliveries_stopped));
        // Expiry, grace and quota reminders, checked every minute.
        let (stop_lifecycle, lifecycle_stopped) = tokio::sync::oneshot::channel();
        let lifecycle = tokio::spawn(self.lifecycle.run(lifecycle_stopped));
        // Unusual use, looked for every few minutes (when on).
        let (stop_detector, detector_stopped) = tokio::sync::oneshot::channel();
        let detector = self
            .detector
            .map(|(detector, every)| tokio::spawn(detector.run(every, detector_stopped)));
        // Email notifications, when SMTP is configured.
        let (stop_notifier, notifier_stopped) = tokio::sync::oneshot::channel();
        let notifier = self.notifier.map(|n| tokio::spawn(n.run(notifier_stopped)));
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown({
            // Invalidation streams never end by themselves: they end as shutdown starts.
            let verify = self.verify.clone();
            async move {
                shutdown.await;
                verify.changes().close();
            }
        })
        .await;
        // Stopped between two flushes, never in the middle of one.
        let _ = stop_flusher.send(());
        let _ = flusher.await;
        // The last requests are done: nothing counted or leased may be lost.
        match self.verify.shut_down().await {
            Ok(()) => tracing::debug!("verification usage written and quota leases returned"),
            Err(err) => tracing::error!(
                error = %err,
                "could not write the last verification usage or return quota leases"
            ),
        }
        // Attempts in flight finish (or are made again after their lease).
        let _ = stop_notifier.send(());
        if let Some(notifier) = notifier {
            let _ = notifier.await;
        }
        let _ = stop_lifecycle.send(());
        let _ = lifecycle.await;
        let _ = stop_detector.send(());
        if let Some(detector) = detector {
            let _ = detector.await;
        }
        let _ = stop_deliveries.send(());
        let _ = deliveries.await;
        invalidations.abort();
        let _ = invalidations.await;
        let _ = stop_retention.send(());
        let _ = retention.await;
        janitor.abort();
        let _ = janitor.await;
        head.abort();
        let _ = head.await;
        readiness.abort();
        let _ = readiness.await;
        served
    }
}

/// Verification settings, with the Redis connection when one is configured.
async fn verify_config(settings: &Settings) -> Result<VerifyConfig, StartupError> {
    let rates = match &settings.verify.redis_url {
        None => RateLimits::default(),
        Some(url) => {
            let connect = SharedRates::connect(url.expose_secret());
            let shared = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .map_err(|_| StartupError::Redis("no answer within 10 s".into()))?
                // The error names the problem; the URL (which may hold a password) is
                // never shown.
                .map_err(|e| StartupError::Redis(format!("{:?}", e.kind())))?;
            RateLimits::shared(shared)
        }
    };
    Ok(VerifyConfig {
        degraded_for: settings.verify.degraded_for,
        unknown_keys: settings.verify.unknown_keys,
        rates,
        log_per_key: settings.verify.log_per_key,
    })
}

/// Every second, writes verification usage and gives back expired quota leases; while
/// the database is away, keeps the usage for later (warning once per outage). Ends when
/// `stop` fires, between two flushes.
async fn flush_verification_periodically(
    verify: VerifyService,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = &mut stop => return,
        }
        ticks += 1;
        let flushed = verify.flush().await;
        if flushed.is_err() {
            metrics::counter!("verify_usage_flush_failures_total").increment(1);
        }
        match flushed {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("verification usage written again");
            }
            Ok(()) => {}
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "cannot write verification usage; keeping it for later");
            }
            Err(_) => {}
        }
        if ticks.is_multiple_of(60) {
            verify.forget_idle();
        }
    }
}

/// `locksmith serve`.
/// `locksmith serve`; `config_file` is read again on `SIGHUP`.
pub async fn serve(settings: Settings, config_file: Option<PathBuf>) -> Result<(), StartupError> {
    let database = Database::open(&settings).await?;
    let result = serve_with(&settings, &database, config_file).await;
    database.close().await;
    result
}

async fn serve_with(
    settings: &Settings,
    database: &Database,
    config_file: Option<PathBuf>,
) -> Result<(), StartupError> {
    Schema::new(database.pool.clone()).migrate().await?;
    let app = Application::build(settings, database.pool.clone()).await?;
    // Listening for SIGHUP before saying we listen: its default action would end us.
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let reloads = tokio::spawn(reload_on_sighup(
        hangups,
        app.reloader(settings, config_file),
    ));
    let addr = app.local_addr();
    tracing::info!(
        %addr,
        profile = ?settings.profile,
        embedded_database = settings.uses_embedded_database(),
        "Locksmith is listening on http://{addr}"
    );
    let proxies = &settings.http.trusted_proxies;
    if proxies.networks().is_empty() {
        tracing::info!(
            "client addresses are the TCP peers; behind a reverse proxy, set \
             LOCKSMITH_TRUSTED_PROXIES to its address so that lockouts and the audit trail \
             see the real clients"
        );
    } else {
        tracing::info!(
            trusted_proxies = ?proxies.networks(),
            "client addresses are read from the forwarded headers of these proxies"
        );
    }
    // Only a hint: a database that fails just now must not stop a server that is up.
    if !app.users.any_exists(Actor::SYSTEM).await.unwrap_or(true) {
        tracing::warn!(
            "no users yet: create the first admin with \
             `locksmith user create --email you@example.com --role admin --password-stdin` \
             (with the same LOCKSMITH_DATA_DIR or DATABASE_URL)"
        );
    }
    // The embedded cluster's supervisor; losing the cluster for good stops the server
    // like a signal does, and then fails it with the supervisor's reason.
    let (lost_tx, mut lost_rx) = tokio::sync::mpsc::channel::<EmbeddedPgError>(1);
    let supervisor = database.embedded.as_ref().map(|pg| {
        let supervisor = pg.supervisor();
        tokio::spawn(async move {
            let _ = lost_tx.send(supervisor.run().await).await;
        })
    });
    let lost = std::sync::Arc::new(std::sync::Mutex::new(None));
    let stop = {
        let lost = std::sync::Arc::clone(&lost);
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                Some(err) = lost_rx.recv() => {
                    tracing::error!(error = %err, "stopping: the embedded PostgreSQL is lost");
                    *lost.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(err);
                }
            }
        }
    };
    let served = app.run_until_stopped(stop).await;
    reloads.abort();
    // Before the cluster is stopped on purpose, or the supervisor would start it again.
    if let Some(supervisor) = supervisor {
        supervisor.abort();
        let _ = supervisor.await;
    }
    served.map_err(|source| StartupError::Io {
        context: "serving".into(),
        source,
    })?;
    if let Some(err) = lost
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        return Err(err.into());
    }
    tracing::info!("shut down gracefully");
    Ok(())
}

/// Every hour, deletes expired portal sessions, refresh tokens and token revocations, and
/// lockout counters that count nothing any more, so those tables stay as small as their
/// lifetimes.
async fn purge_expired_periodically(sessions: SessionService) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match sessions.purge().await {
            Ok(purged) => tracing::debug!(
                sessions = purged.portal_sessions,
                tokens = purged.tokens,
                lockout_counters = purged.counters,
                "purged expired rows"
            ),
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
    }
}

/// Reloads the settings on every `SIGHUP` (see [`crate::reload`]).
async fn reload_on_sighup(hangups: Option<tokio::signal::unix::Signal>, mut reloader: Reloader) {
    let Some(mut hangups) = hangups else {
        tracing::warn!("cannot listen for SIGHUP; settings reload only with a restart");
        return;
    };
    while hangups.recv().await.is_some() {
        reloader.reload();
    }
}

/// Every hour, checks the audit rows recorded since the last check (the whole chain at
/// start-up), setting `audit_chain_ok`, and publishes the trail's newest row: a log line
/// and `audit_chain_head_id` for the operator's tools, and an `audit.head` event (when it
/// moved) for webhook subscribers, so that rows later removed from the trail's end do not
/// go unnoticed.
async fn watch_audit_trail(audit: AuditService) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checked_up_to = None;
    loop {
        every.tick().await;
        match audit
            .verify_since(Actor::SYSTEM, checked_up_to.clone())
            .await
        {
            Ok(report) => match report.first_broken {
                None => {
                    metrics::gauge!("audit_chain_ok").set(1.0);
                    if report.last.is_some() {
                        checked_up_to = report.last;
                    }
                }
                Some(row) => {
                    metrics::gauge!("audit_chain_ok").set(0.0);
                    tracing::error!(
                        row,
                        "the audit chain is broken: row {row} does not match its content or \
                         its predecessor (run `locksmith audit verify`)"
                    );
                }
            },
            Err(e) => tracing::warn!(error = %e, "cannot check the audit chain"),
        }
        match audit.publish_head(Actor::SYSTEM).await {
            Ok(Some(head)) => {
                metrics::gauge!("audit_chain_head_id").set(head.last_id as f64);
                tracing::info!(
                    last_id = head.last_id,
                    hash = %head.hash,
                    at = %head.at,
                    "audit chain head"
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot publish the audit chain head"),
        }
    }
}

/// Every minute, drops rate-limit state of clients that have been quiet long enough to be
/// back at a full burst; ends when the application is dropped.
async fn forget_idle_limits(
    limits: std::sync::Weak<ApiLimits>,
    sign_in: std::sync::Weak<SignInGate>,
) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        match (limits.upgrade(), sign_in.upgrade()) {
            (Some(limits), Some(sign_in)) => {
                limits.forget_idle();
                sign_in.forget_idle();
            }
            _ => return,
        }
    }
}

/// `locksmith migrate`.
pub async fn migrate(settings: Settings) -> Result<(), StartupError> {
    let database = Database::open(&settings).await?;
    let schema = Schema::new(database.pool.clone());
    let result = schema.migrate().await;
    let status = match &result {
        Ok(()) => schema.status().await.ok(),
        Err(_) => None,
    };
    database.close().await;
    result?;
    tracing::info!(schema_version = ?status.and_then(|s| s.applied), "migrations applied");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
