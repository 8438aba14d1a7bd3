//! The composition root: the only place that picks implementations (SQLite or PostgreSQL
//! store, in-process or NATS bus, system clock, UUIDv7 ids) and wires them into the service and the router. `main`
//! and the integration tests both start the server through [`build`] and [`serve`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hilo_bus::nats::NatsBus;
use hilo_bus::{Bus, LocalBus};
use hilo_http::Metrics;
use hilo_service::{Hilo, PasswordHasher, ServiceConfig, SystemClock, UuidV7};
use hilo_store::{CommitObserver, Store};
use hilo_store_postgres::{PostgresOptions, PostgresStore};
use hilo_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// How long shutdown waits for in-flight requests before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A wired server, not yet listening.
pub struct App {
    /// The service.
    pub hilo: Hilo,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    store: Arc<dyn Store>,
    sqlite: Option<Arc<SqliteStore>>,
    metrics: Arc<Metrics>,
    /// How often the serving node sweeps attachments (operator commands never do).
    attachment_sweep: Duration,
    /// How received mail is checked and sent mail signed.
    mail: crate::config::MailConfig,
    /// Where outbound mail goes.
    smtp_relay: Option<String>,
    /// The SMS providers.
    sms: crate::config::SmsConfig,
}

/// Options that only tests change.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Cheap password hashing (tests only: production always uses OWASP parameters).
    pub fast_password_hashing: bool,
}

/// Opens the store (creating the data dir and applying migrations) and wires the service.
pub async fn build(config: &Config, options: BuildOptions) -> anyhow::Result<App> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let metrics = Arc::new(Metrics::new());
    let (store, sqlite) = open_store(config, metrics.clone()).await?;
    let hasher = if options.fast_password_hashing {
        PasswordHasher::for_tests()
    } else {
        PasswordHasher::new()
    };
    let service = ServiceConfig {
        registration: config.registration,
        mail_domain: config.mail_domain.clone(),
        attachment_max_bytes: config.attachment_max_bytes,
        limits: config.limits,
    };
    let blobs = open_blobs(config)?;
    let bus: Arc<dyn Bus> = match &config.nats {
        None => Arc::new(LocalBus::new()),
        Some(url) => Arc::new(
            NatsBus::connect(url, &config.nats_prefix)
                .await
                .map_err(|e| anyhow::anyhow!("{e} (at {})", crate::config::redact_url(url)))?,
        ),
    };
    let hilo = Hilo::new(
        store.clone(),
        blobs,
        bus,
        Arc::new(SystemClock),
        Arc::new(UuidV7),
        hasher,
        service,
    );
    hilo.prepare().await?;
    Ok(App {
        mail: config.mail.clone(),
        smtp_relay: config.smtp_relay.clone(),
        sms: config.sms.clone(),
        attachment_sweep: config.attachment_sweep,
        hilo,
        shutdown: CancellationToken::new(),
        store,
        sqlite,
        metrics,
    })
}

/// The SMS providers as the service uses them; status callbacks go to the configured
/// public URL, or else to `listen`.
fn sms_gateway(
    sms: &crate::config::SmsConfig,
    listen: SocketAddr,
) -> anyhow::Result<hilo_service::SmsGateway> {
    let mut providers = Vec::new();
    for provider in &sms.providers {
        let client: Arc<dyn hilo_sms::Provider> = Arc::new(
            hilo_sms::twilio::Client::new(
                provider
                    .api_base
                    .as_deref()
                    .unwrap_or(hilo_sms::twilio::API_BASE),
                &provider.account_sid,
                provider.auth_token.as_deref().unwrap_or_default(),
            )
            .map_err(anyhow::Error::msg)?,
        );
        providers.push(hilo_service::SmsProvider {
            id: provider.id.clone(),
            client,
            numbers: provider.numbers.clone(),
            owners: provider
                .owners
                .iter()
                .map(|(n, u)| (n.clone(), u.clone()))
                .collect(),
        });
    }
    if !providers.is_empty() {
        tracing::info!(providers = providers.len(), "SMS providers configured");
    }
    Ok(hilo_service::SmsGateway {
        providers,
        public_url: sms.public_url.clone(),
        callback_base: sms
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}")),
        texts_per_number_minute: sms.texts_per_number_minute.unwrap_or(60),
        texts_per_account_day: sms.texts_per_account_day.unwrap_or(200),
    })
}

/// Where attachments' bytes go: the configured S3 bucket, or the data dir's
/// `attachments` folder.
fn open_blobs(config: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    if let Some(s3) = &config.s3 {
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s3.bucket)
            .with_region(&s3.region);
        if let Some(endpoint) = &s3.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(id) = &s3.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder
            .build()
            .with_context(|| format!("cannot use the S3 bucket {}", s3.bucket))?;
        return Ok(Arc::new(store));
    }
    let folder = config.data_dir.join("attachments");
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let store = object_store::local::LocalFileSystem::new_with_prefix(&folder)
        .with_context(|| format!("cannot use {} for attachments", folder.display()))?;
    Ok(Arc::new(store))
}

/// Opens the configured store: PostgreSQL when a database URL is set, otherwise the
/// embedded SQLite file in the data dir (also returned, for tests that inspect it).
async fn open_store(
    config: &Config,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<SqliteStore>>)> {
    if let Some(url) = &config.database {
        let store = PostgresStore::connect(url, PostgresOptions::default())
            .await
            .map_err(|e| {
                let cause = match &e {
                    hilo_store::StoreError::Unavailable(cause)
                    | hilo_store::StoreError::Other(cause) => cause.to_string(),
                    other => other.to_string(),
                };
                anyhow::anyhow!(
                    "cannot open the PostgreSQL database at {}: {cause}",
                    crate::config::redact_url(url)
                )
            })?;
        return Ok((Arc::new(store), None));
    }
    let observer: Arc<dyn CommitObserver> = metrics;
    let path = config.data_dir.join("hilo.db");
    let options = SqliteOptions {
        synchronous_full: config.synchronous_full,
        ..SqliteOptions::default()
    };
    let store = Arc::new(
        SqliteStore::open(&path, options, Some(observer))
            .await
            .with_context(|| format!("cannot open database {}", path.display()))?,
    );
    Ok((store.clone(), Some(store)))
}

impl App {
    /// The axum router over this app.
    pub fn router(&self) -> axum::Router {
        hilo_http::router(
            self.hilo.clone(),
            self.metrics.clone(),
            self.shutdown.clone(),
        )
    }

    /// Receives mail on `listener` (SMTP) for this server's addresses until shutdown.
    pub fn serve_mail(&self, listener: TcpListener) -> anyhow::Result<()> {
        let address = listener.local_addr()?;
        tracing::info!(smtp_address = %address, "hilo is receiving mail");
        let domain = self.hilo.config().mail_domain.clone();
        let checks = hilo_mail::Authenticator::new(&self.mail.dns, &self.mail.dns_records, &domain)
            .context("cannot set up sender checks")?;
        let intake = self
            .hilo
            .mail_intake(Arc::new(checks), self.mail.dmarc_reject);
        let relay = match &self.smtp_relay {
            Some(url) => Some(hilo_mail::send::Relay::new(url).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let dkim = match &self.mail.dkim {
            Some((key, selector)) => Some(
                hilo_mail::DkimKey::new(key, &domain, selector)
                    .context("cannot read the DKIM key")?,
            ),
            None => None,
        };
        let outbound = Arc::new(hilo_service::Outbound { relay, dkim });
        self.hilo.send_mail_in_background(outbound.clone());
        self.hilo
            .send_digests_in_background(outbound, self.mail.digest);
        let mut smtp = hilo_mail::SmtpConfig::new(domain);
        smtp.tls = self.mail.tls.clone();
        tokio::spawn(hilo_mail::smtp::serve(
            listener,
            smtp,
            Arc::new(intake),
            self.shutdown.clone(),
        ));
        Ok(())
    }

    /// Closes the store (flushing the writer).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The SQLite store, for tests that inspect the file; `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&SqliteStore> {
        self.sqlite.as_deref()
    }
}

/// Serves until `app.shutdown` is cancelled, then stops accepting, lets in-flight requests
/// finish (up to a grace period), closes every event stream with a close frame, and closes
/// the store.
pub async fn serve(app: App, listener: TcpListener) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "hilo is listening");
    if app.store.count_users().await.unwrap_or(1) == 0 {
        tracing::info!(
            "no account exists yet: the first account to register becomes the server admin"
        );
    }
    app.hilo.run_background(app.attachment_sweep);
    app.hilo
        .send_sms_in_background(Arc::new(sms_gateway(&app.sms, address)?));
    let router = app.router();
    let shutdown = app.shutdown.clone();
    // Event frames are small and written one at a time: with Nagle's algorithm on, a frame
    // written while the previous one is unacknowledged waits for that ACK (up to the
    // client's delayed-ACK timer), which shows up as tens of milliseconds of latency.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await });
    let mut server = std::pin::pin!(server.into_future());
    let result = tokio::select! {
        result = &mut server => result,
        () = async { app.shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("in-flight requests did not finish within the grace period");
            Ok(())
        }
    };
    // Streams watch the same token and close themselves; give them a moment to send their
    // close frames before the store goes away.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while app.hilo.open_streams() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.close().await;
    tracing::info!("hilo stopped");
    result.context("server error")
}
