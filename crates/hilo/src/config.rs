//! Configuration: built-in defaults, then the TOML file given with `--config`, then `HILO_*`
//! environment variables, then command-line flags (clap reads the last two, flags winning).
//! The raw layers are merged into [`RawConfig`] and validated into [`Config`], collecting
//! *every* problem so an operator fixes them in one go.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use hilo_service::RegistrationPolicy;
use serde::Deserialize;

/// Settings shared by every subcommand that opens the database.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "HILO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the database and attachments [default: ./hilo-data].
    #[arg(long, env = "HILO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://user@host:5432/db`) for several nodes sharing one
    /// database; unset: the embedded SQLite file in the data dir.
    #[arg(
        long,
        env = "HILO_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// `full` (default: fsync every commit, survives power loss) or `normal` (survives a
    /// process crash only).
    #[arg(long, env = "HILO_SQLITE_SYNCHRONOUS", value_name = "MODE")]
    pub sqlite_synchronous: Option<String>,
    /// Log format: `text` (default) or `json`.
    #[arg(long, env = "HILO_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// Settings of `hilo serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Store settings.
    #[command(flatten)]
    pub store: StoreArgs,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "HILO_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// NATS URL for fan-out between nodes; unset: in-process fan-out (one node).
    #[arg(
        long,
        env = "HILO_NATS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub nats: Option<String>,
    /// Subject prefix on NATS, so several hilo clusters can share one NATS [default: hilo].
    #[arg(long, env = "HILO_NATS_PREFIX", value_name = "PREFIX")]
    pub nats_prefix: Option<String>,
    /// Domain of users' own addresses [default: localhost].
    #[arg(long, env = "HILO_MAIL_DOMAIN", value_name = "DOMAIN")]
    pub mail_domain: Option<String>,
    /// Where mail for this server's addresses is received (SMTP) [default: 127.0.0.1:2525].
    #[arg(long, env = "HILO_SMTP_LISTEN", value_name = "ADDR")]
    pub smtp_listen: Option<String>,
    /// Outbound SMTP relay, `smtp://[user:pass@]host:port` (not available yet).
    #[arg(
        long,
        env = "HILO_SMTP_RELAY",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_relay: Option<String>,
    /// Where sender checks of received mail ask DNS: `system` (default), a name server
    /// `IP[:port]`, or `none` (only the `[[mail.dns_records]]` of the config file exist).
    #[arg(long, env = "HILO_MAIL_DNS", value_name = "DNS")]
    pub mail_dns: Option<String>,
    /// Who may register: `open` (default), `invite` or `closed`.
    #[arg(long, env = "HILO_REGISTRATION", value_name = "POLICY")]
    pub registration: Option<String>,
    /// Largest attachment in bytes [default: 26214400, 25 MiB].
    #[arg(long, env = "HILO_ATTACHMENT_MAX_BYTES", value_name = "BYTES")]
    pub attachment_max_bytes: Option<String>,
    /// Seconds between sweeps of unsent and deleted attachments [default: 3600].
    #[arg(long, env = "HILO_ATTACHMENT_SWEEP_SECS", value_name = "SECONDS")]
    pub attachment_sweep_secs: Option<String>,
    /// Failed logins one address may make per 10 minutes; 0: no limit [default: 100].
    #[arg(long, env = "HILO_LIMIT_LOGIN_FAILURES_PER_IP", value_name = "N")]
    pub limit_login_failures_per_ip: Option<String>,
    /// Failed logins to one username from one address before back-off; 0: none [default: 5].
    #[arg(long, env = "HILO_LIMIT_LOGIN_FREE_FAILURES", value_name = "N")]
    pub limit_login_free_failures: Option<String>,
    /// Accounts one address may create per hour; 0: no limit [default: 300].
    #[arg(long, env = "HILO_LIMIT_REGISTRATIONS_PER_IP", value_name = "N")]
    pub limit_registrations_per_ip: Option<String>,
    /// Messages one person may send per minute; 0: no limit [default: 3000].
    #[arg(long, env = "HILO_LIMIT_MESSAGES_PER_MINUTE", value_name = "N")]
    pub limit_messages_per_minute: Option<String>,
    /// S3 bucket for attachments; unset: a folder of the data dir.
    #[arg(long, env = "HILO_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 endpoint of an S3-compatible service [default: AWS].
    #[arg(long, env = "HILO_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "HILO_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "HILO_S3_ACCESS_KEY_ID", value_name = "ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (better given by environment than by flag).
    #[arg(
        long,
        env = "HILO_S3_SECRET_ACCESS_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,
}

/// The TOML file. Every key is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// HTTP listen address.
    pub listen: Option<String>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Database URL.
    pub database: Option<String>,
    /// NATS URL.
    pub nats: Option<String>,
    /// NATS subject prefix.
    pub nats_prefix: Option<String>,
    /// Mail domain.
    pub mail_domain: Option<String>,
    /// SMTP listen address.
    pub smtp_listen: Option<String>,
    /// SMTP relay URL.
    pub smtp_relay: Option<String>,
    /// Registration policy.
    pub registration: Option<String>,
    /// SQLite synchronous mode.
    pub sqlite_synchronous: Option<String>,
    /// Log format.
    pub log_format: Option<String>,
    /// SMS settings.
    pub sms: Option<SmsConfig>,
    /// Mail settings.
    pub mail: Option<RawMail>,
    /// Largest attachment in bytes.
    pub attachment_max_bytes: Option<u64>,
    /// Seconds between attachment sweeps.
    pub attachment_sweep_secs: Option<u64>,
    /// Rate limits.
    pub limits: Option<RawLimits>,
    /// S3 bucket for attachments.
    pub s3_bucket: Option<String>,
    /// S3 endpoint.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: Option<String>,
    /// S3 access key id.
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    pub s3_secret_access_key: Option<String>,
}

/// `[limits]` in the TOML file; 0 turns a limit off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Failed logins one address may make per 10 minutes.
    pub login_failures_per_ip: Option<u64>,
    /// Failed logins to one username from one address before back-off.
    pub login_free_failures: Option<u64>,
    /// Longest back-off, in seconds.
    pub login_backoff_max_secs: Option<u64>,
    /// Accounts one address may create per hour.
    pub registrations_per_ip: Option<u64>,
    /// Messages one person may send per minute.
    pub messages_per_minute: Option<u64>,
}

/// `[mail]` in the TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    /// Where sender checks (SPF, DKIM, DMARC) ask DNS: `system` (default), a name server
    /// `IP` or `IP:port`, or `none` (only `dns_records` exist).
    pub dns: Option<String>,
    /// What a mail whose DMARC check fails becomes: `spam` (default) or `reject`ed.
    pub dmarc_failure: Option<String>,
    /// Records that answer before the resolver (`[[mail.dns_records]]`).
    #[serde(default)]
    pub dns_records: Vec<RawDnsRecord>,
    /// The DKIM key that signs outbound mail: a PKCS#8 file (`hilo admin dkim generate`
    /// writes one).
    pub dkim_key: Option<PathBuf>,
    /// The key's selector: its public half is published at
    /// `<selector>._domainkey.<mail domain>` [default: hilo].
    pub dkim_selector: Option<String>,
    /// The certificate chain (PEM, leaf first) the SMTP listener offers with STARTTLS;
    /// without it STARTTLS is not offered.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// How long an unread message waits, its reader away, before it is mailed in a
    /// digest [default: 900].
    pub digest_after_seconds: Option<u64>,
    /// Least time between two rounds of digests to one person [default: 3600].
    pub digest_every_seconds: Option<u64>,
}

/// One `[[mail.dns_records]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnsRecord {
    /// Its name.
    pub name: String,
    /// `TXT`, `A`, `AAAA` or `MX`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its value.
    pub value: String,
}

/// Validated mail settings.
#[derive(Clone)]
pub struct MailConfig {
    /// Where DNS answers come from.
    pub dns: hilo_mail::DnsMode,
    /// Records that answer first.
    pub dns_records: Vec<hilo_mail::DnsRecord>,
    /// Refuse (rather than file as spam) mail that fails DMARC.
    pub dmarc_reject: bool,
    /// The DKIM key (PKCS#8) and selector that sign outbound mail.
    pub dkim: Option<(Vec<u8>, String)>,
    /// What STARTTLS offers.
    pub tls: Option<hilo_mail::smtp::Tls>,
    /// When digests go out.
    pub digest: hilo_service::DigestTiming,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("dns", &self.dns)
            .field("dns_records", &self.dns_records.len())
            .field("dmarc_reject", &self.dmarc_reject)
            // The private key never: only which selector signs.
            .field(
                "dkim_selector",
                &self.dkim.as_ref().map(|(_, selector)| selector),
            )
            .field("starttls", &self.tls.is_some())
            .finish()
    }
}

/// `[sms]` in the TOML file.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// `[[sms.providers]]`.
    #[serde(default)]
    pub providers: Vec<SmsProvider>,
    /// The server's address as the providers reach it (`https://hilo.example.org`): the
    /// webhooks are signed over it and status callbacks go to it [default: the URL each
    /// webhook was posted to, as its Host header says; callbacks to the listen address].
    pub public_url: Option<String>,
    /// Texts one of the server's numbers may send a minute [default: 60; 0: no limit].
    pub texts_per_number_minute: Option<u32>,
    /// Texts one account may send a day [default: 200; 0: no limit].
    pub texts_per_account_day: Option<u32>,
}

/// One SMS provider account.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsProvider {
    /// Id used in webhook paths (letters, digits, `-`, `_`).
    pub id: String,
    /// `twilio`.
    pub kind: String,
    /// Account SID.
    pub account_sid: String,
    /// Secret: never printed. Better given as `HILO_SMS_<ID>_AUTH_TOKEN` (the id in
    /// capitals, `-` as `_`), which wins over the file.
    pub auth_token: Option<String>,
    /// API base URL.
    pub api_base: Option<String>,
    /// Numbers owned, E.164.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Numbers with an owner: `{ "+15550001" = "username" }`. A text from a stranger to
    /// one of them reaches that account (as a message request); to a number nobody owns,
    /// only texts answering a conversation are taken.
    #[serde(default)]
    pub owners: std::collections::BTreeMap<String, String>,
}

impl SmsProvider {
    /// The environment variable that holds this provider's auth token.
    pub fn token_variable(&self) -> String {
        let id: String = self
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("HILO_SMS_{id}_AUTH_TOKEN")
    }
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.providers.iter().map(|p| p.id.as_str()).collect();
        f.debug_struct("SmsConfig")
            .field("providers", &ids)
            .finish()
    }
}

/// Validated configuration.
#[derive(Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// SQLite `synchronous=FULL`.
    pub synchronous_full: bool,
    /// Users' mail domain.
    pub mail_domain: String,
    /// Registration policy.
    pub registration: RegistrationPolicy,
    /// JSON logs.
    pub json_logs: bool,
    /// PostgreSQL URL; `None`: SQLite in the data dir.
    pub database: Option<String>,
    /// NATS URL for fan-out between nodes.
    pub nats: Option<String>,
    /// NATS subject prefix.
    pub nats_prefix: String,
    /// Where mail is received (SMTP).
    pub smtp_listen: SocketAddr,
    /// SMTP relay (accepted now, used when outbound mail lands).
    pub smtp_relay: Option<String>,
    /// SMS providers (accepted now, used when SMS lands).
    pub sms: SmsConfig,
    /// Mail settings.
    pub mail: MailConfig,
    /// Largest attachment in bytes.
    pub attachment_max_bytes: u64,
    /// Rate limits.
    pub limits: hilo_service::Limits,
    /// Time between attachment sweeps.
    pub attachment_sweep: std::time::Duration,
    /// Where attachments are kept: `None`, the data dir's `attachments` folder.
    pub s3: Option<S3Config>,
}

/// An S3-compatible bucket for attachments.
#[derive(Clone)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint (`None`: AWS).
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint.as_deref().map(redact_url))
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// Hides the password of `scheme://user:pass@host` and of a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme_end + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("synchronous_full", &self.synchronous_full)
            .field("mail_domain", &self.mail_domain)
            .field("registration", &self.registration)
            .field("database", &self.database.as_deref().map(redact_url))
            .field("nats", &self.nats.as_deref().map(redact_url))
            .field("nats_prefix", &self.nats_prefix)
            .field("smtp_listen", &self.smtp_listen)
            .field("smtp_relay", &self.smtp_relay.as_deref().map(redact_url))
            .field("sms", &self.sms)
            .field("mail", &self.mail)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("attachment_sweep", &self.attachment_sweep)
            .field("limits", &self.limits)
            .field("s3", &self.s3)
            .finish()
    }
}

fn read_file(path: &Option<PathBuf>) -> anyhow::Result<RawConfig> {
    let Some(path) = path else {
        return Ok(RawConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl Config {
    /// Merges the file with flags and environment (which win) and validates the result.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = read_file(&args.store.config)?;
        let pick =
            |flag: &Option<String>, file: &Option<String>| flag.clone().or_else(|| file.clone());
        let raw = RawConfig {
            listen: pick(&args.listen, &file.listen),
            data_dir: args.store.data_dir.clone().or(file.data_dir),
            database: pick(&args.store.database, &file.database),
            nats: pick(&args.nats, &file.nats),
            nats_prefix: pick(&args.nats_prefix, &file.nats_prefix),
            mail_domain: pick(&args.mail_domain, &file.mail_domain),
            smtp_listen: pick(&args.smtp_listen, &file.smtp_listen),
            smtp_relay: pick(&args.smtp_relay, &file.smtp_relay),
            registration: pick(&args.registration, &file.registration),
            sqlite_synchronous: pick(&args.store.sqlite_synchronous, &file.sqlite_synchronous),
            log_format: pick(&args.store.log_format, &file.log_format),
            sms: file.sms,
            mail: match &args.mail_dns {
                None => file.mail,
                Some(dns) => Some(RawMail {
                    dns: Some(dns.clone()),
                    ..file.mail.unwrap_or_default()
                }),
            },
            attachment_max_bytes: file.attachment_max_bytes,
            attachment_sweep_secs: file.attachment_sweep_secs,
            limits: file.limits,
            s3_bucket: pick(&args.s3_bucket, &file.s3_bucket),
            s3_endpoint: pick(&args.s3_endpoint, &file.s3_endpoint),
            s3_region: pick(&args.s3_region, &file.s3_region),
            s3_access_key_id: pick(&args.s3_access_key_id, &file.s3_access_key_id),
            s3_secret_access_key: pick(&args.s3_secret_access_key, &file.s3_secret_access_key),
        };
        let mut problems = Vec::new();
        let mut number = |name: &str, flag: &Option<String>, file: Option<u64>| match flag {
            None => file,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("{name}: {text:?} is not a whole number"));
                    None
                }
            },
        };
        let raw = RawConfig {
            attachment_max_bytes: number(
                "attachment_max_bytes",
                &args.attachment_max_bytes,
                raw.attachment_max_bytes,
            ),
            attachment_sweep_secs: number(
                "attachment_sweep_secs",
                &args.attachment_sweep_secs,
                raw.attachment_sweep_secs,
            ),
            ..raw
        };
        let file_limits = raw.limits.clone().unwrap_or_default();
        let limits = RawLimits {
            login_failures_per_ip: number(
                "limits.login_failures_per_ip",
                &args.limit_login_failures_per_ip,
                file_limits.login_failures_per_ip,
            ),
            login_free_failures: number(
                "limits.login_free_failures",
                &args.limit_login_free_failures,
                file_limits.login_free_failures,
            ),
            registrations_per_ip: number(
                "limits.registrations_per_ip",
                &args.limit_registrations_per_ip,
                file_limits.registrations_per_ip,
            ),
            messages_per_minute: number(
                "limits.messages_per_minute",
                &args.limit_messages_per_minute,
                file_limits.messages_per_minute,
            ),
            ..file_limits
        };
        let raw = RawConfig {
            limits: Some(limits),
            ..raw
        };
        if !problems.is_empty() {
            anyhow::bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
        }
        validate(raw)
    }

    /// For subcommands that only open the store (`hilo admin …`).
    pub fn load_store(args: &StoreArgs) -> anyhow::Result<Config> {
        Config::load(&ServeArgs {
            store: args.clone(),
            ..Default::default()
        })
    }
}

fn validate(raw: RawConfig) -> anyhow::Result<Config> {
    let mut problems = Vec::new();
    let listen = raw
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
        .parse::<SocketAddr>()
        .unwrap_or_else(|_| {
            problems.push(format!(
                "listen: {:?} is not an address like 127.0.0.1:8080",
                raw.listen.as_deref().unwrap_or("")
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
    let smtp_listen = raw
        .smtp_listen
        .as_deref()
        .unwrap_or("127.0.0.1:2525")
        .parse::<SocketAddr>()
        .unwrap_or_else(|_| {
            problems.push(format!(
                "smtp_listen: {:?} is not an address like 127.0.0.1:2525",
                raw.smtp_listen.as_deref().unwrap_or("")
            ));
            SocketAddr::from(([127, 0, 0, 1], 2525))
        });
    let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from("./hilo-data"));
    match raw.database.as_deref() {
        None => {}
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {}
        Some(url) => problems.push(format!(
            "database: {} is not a postgres:// URL; leave it unset for the embedded SQLite",
            redact_url(url)
        )),
    }
    if let Some(url) = raw.nats.as_deref() {
        let scheme_ok =
            url.starts_with("nats://") || url.starts_with("tls://") || !url.contains("://");
        if !scheme_ok || url.trim().is_empty() {
            problems.push(format!(
                "nats: {} is not a NATS URL like nats://127.0.0.1:4222",
                redact_url(url)
            ));
        }
    }
    let nats_prefix = raw.nats_prefix.unwrap_or_else(|| "hilo".to_owned());
    let prefix_ok = !nats_prefix.is_empty()
        && nats_prefix.len() <= 64
        && nats_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !prefix_ok {
        problems.push(format!(
            "nats_prefix: {nats_prefix:?} must be 1 to 64 of A-Z a-z 0-9 _ -"
        ));
    }
    if let Some(relay) = raw.smtp_relay.as_deref()
        && !relay.starts_with("smtp://")
        && !relay.starts_with("smtps://")
    {
        problems.push(format!(
            "smtp_relay: {} is not smtp://[user:pass@]host:port",
            redact_url(relay)
        ));
    }
    let mail_domain = raw
        .mail_domain
        .unwrap_or_else(|| "localhost".to_owned())
        .to_ascii_lowercase();
    let valid_domain = !mail_domain.is_empty()
        && mail_domain.len() <= 253
        && mail_domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid_domain {
        problems.push(format!("mail_domain: {mail_domain:?} is not a domain name"));
    }
    let registration = match raw.registration.as_deref().unwrap_or("open") {
        "open" => RegistrationPolicy::Open,
        "invite" => RegistrationPolicy::Invite,
        "closed" => RegistrationPolicy::Closed,
        other => {
            problems.push(format!(
                "registration: {other:?} is not open, invite or closed"
            ));
            RegistrationPolicy::Open
        }
    };
    let synchronous_full = match raw.sqlite_synchronous.as_deref().unwrap_or("full") {
        "full" => true,
        "normal" => false,
        other => {
            problems.push(format!(
                "sqlite_synchronous: {other:?} is not full or normal"
            ));
            true
        }
    };
    let json_logs = match raw.log_format.as_deref().unwrap_or("text") {
        "text" => false,
        "json" => true,
        other => {
            problems.push(format!("log_format: {other:?} is not text or json"));
            false
        }
    };
    let mail = mail_config(raw.mail.unwrap_or_default(), &mut problems);
    if let Some(relay) = raw.smtp_relay.as_deref()
        && let Err(error) = hilo_mail::send::Relay::new(relay)
    {
        problems.push(format!("{} ({})", error, redact_url(relay)));
    }
    let sms = sms_config(raw.sms.unwrap_or_default(), &mut problems);
    let attachment_max_bytes = raw.attachment_max_bytes.unwrap_or(25 * 1024 * 1024);
    if attachment_max_bytes == 0 || attachment_max_bytes > 5 * 1024 * 1024 * 1024 {
        problems.push(format!(
            "attachment_max_bytes: {attachment_max_bytes} is not between 1 and 5 GiB"
        ));
    }
    let sweep_secs = raw.attachment_sweep_secs.unwrap_or(3600);
    if sweep_secs == 0 || sweep_secs > 86_400 {
        problems.push(format!(
            "attachment_sweep_secs: {sweep_secs} is not between 1 and 86400"
        ));
    }
    let limits = {
        let raw = raw.limits.clone().unwrap_or_default();
        let defaults = hilo_service::Limits::default();
        let mut count = |name: &str, value: Option<u64>, default: u32| match value {
            None => default,
            Some(n) => u32::try_from(n).unwrap_or_else(|_| {
                problems.push(format!("limits.{name}: {n} is too large"));
                default
            }),
        };
        let backoff_secs = raw
            .login_backoff_max_secs
            .unwrap_or(defaults.login_backoff_max.as_secs());
        hilo_service::Limits {
            login_failures_per_ip: count(
                "login_failures_per_ip",
                raw.login_failures_per_ip,
                defaults.login_failures_per_ip,
            ),
            login_free_failures: count(
                "login_free_failures",
                raw.login_free_failures,
                defaults.login_free_failures,
            ),
            login_backoff_max: std::time::Duration::from_secs(backoff_secs.clamp(1, 86_400)),
            registrations_per_ip: count(
                "registrations_per_ip",
                raw.registrations_per_ip,
                defaults.registrations_per_ip,
            ),
            messages_per_minute: count(
                "messages_per_minute",
                raw.messages_per_minute,
                defaults.messages_per_minute,
            ),
        }
    };
    let s3 = match raw.s3_bucket {
        None => {
            if raw.s3_endpoint.is_some() || raw.s3_access_key_id.is_some() {
                problems.push("s3_endpoint and s3_access_key_id need s3_bucket".to_owned());
            }
            None
        }
        Some(bucket) if bucket.trim().is_empty() => {
            problems.push("s3_bucket is empty".to_owned());
            None
        }
        Some(bucket) => Some(S3Config {
            bucket,
            endpoint: raw.s3_endpoint,
            region: raw.s3_region.unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: raw.s3_access_key_id,
            secret_access_key: raw.s3_secret_access_key,
        }),
    };
    if !problems.is_empty() {
        anyhow::bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
    }
    Ok(Config {
        listen,
        data_dir,
        synchronous_full,
        mail_domain,
        registration,
        json_logs,
        database: raw.database,
        nats: raw.nats,
        nats_prefix,
        smtp_listen,
        smtp_relay: raw.smtp_relay,
        sms,
        mail,
        attachment_max_bytes,
        attachment_sweep: std::time::Duration::from_secs(sweep_secs),
        limits,
        s3,
    })
}

/// Checks `[sms]`: provider ids for paths, one of each; tokens (the environment's win);
/// API URLs; numbers in E.164, each held by one provider; owners among the numbers.
fn sms_config(mut sms: SmsConfig, problems: &mut Vec<String>) -> SmsConfig {
    let mut ids = std::collections::BTreeSet::new();
    let mut numbers = std::collections::BTreeSet::new();
    if let Some(url) = &sms.public_url {
        let trimmed = url.trim_end_matches('/').to_owned();
        if !(trimmed.starts_with("https://") || trimmed.starts_with("http://"))
            || trimmed.contains(char::is_whitespace)
        {
            problems.push(format!("sms.public_url: {url:?} is not an http(s) URL"));
        }
        sms.public_url = Some(trimmed);
    }
    for provider in &mut sms.providers {
        let at = format!("sms.providers[{}]", provider.id);
        if provider.id.is_empty()
            || provider.id.len() > 64
            || !provider
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push(format!(
                "{at}.id: use letters, digits, - and _ (at most 64)"
            ));
        }
        if !ids.insert(provider.id.clone()) {
            problems.push(format!("{at}.id: used twice"));
        }
        if provider.kind != "twilio" {
            problems.push(format!("{at}.kind: {:?} is not twilio", provider.kind));
        }
        if provider.account_sid.trim().is_empty() {
            problems.push(format!("{at}.account_sid: missing"));
        }
        if let Ok(token) = std::env::var(provider.token_variable()) {
            provider.auth_token = Some(token);
        }
        if provider.auth_token.as_deref().is_none_or(str::is_empty) {
            problems.push(format!(
                "{at}.auth_token: missing (set {} or auth_token)",
                provider.token_variable()
            ));
        }
        if let Some(base) = &provider.api_base
            && !(base.starts_with("https://") || base.starts_with("http://"))
        {
            problems.push(format!("{at}.api_base: {base:?} is not an http(s) URL"));
        }
        for number in &mut provider.numbers {
            match hilo_core::validate::phone_number(number) {
                Ok(normal) => *number = normal,
                Err(_) => problems.push(format!("{at}.numbers: {number:?} is not E.164")),
            }
            if !numbers.insert(number.clone()) {
                problems.push(format!("{at}.numbers: {number} is held twice"));
            }
        }
        let mut owners = std::collections::BTreeMap::new();
        for (number, username) in &provider.owners {
            let normal = hilo_core::validate::phone_number(number).unwrap_or_default();
            if !provider.numbers.contains(&normal) {
                problems.push(format!("{at}.owners: {number} is not one of its numbers"));
            }
            owners.insert(normal, username.to_ascii_lowercase());
        }
        provider.owners = owners;
    }
    sms
}

fn mail_config(raw: RawMail, problems: &mut Vec<String>) -> MailConfig {
    use hilo_mail::{DnsMode, DnsRecord, RecordType};
    let dns = match raw.dns.as_deref().map(str::trim) {
        None | Some("system") => DnsMode::System,
        Some("none") => DnsMode::None,
        Some(server) => match server.parse::<SocketAddr>().or_else(|_| {
            server
                .parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        }) {
            Ok(address) => DnsMode::Server(address),
            Err(_) => {
                problems.push(format!(
                    "mail.dns: {server:?} is not system, none, or a name server address"
                ));
                DnsMode::System
            }
        },
    };
    let dmarc_reject = match raw.dmarc_failure.as_deref() {
        None | Some("spam") => false,
        Some("reject") => true,
        Some(other) => {
            problems.push(format!(
                "mail.dmarc_failure: {other:?} is not spam or reject"
            ));
            false
        }
    };
    let mut dns_records = Vec::new();
    for (n, record) in raw.dns_records.into_iter().enumerate() {
        let kind = match record.kind.to_ascii_uppercase().as_str() {
            "TXT" => RecordType::Txt,
            "A" => RecordType::A,
            "AAAA" => RecordType::Aaaa,
            "MX" => RecordType::Mx,
            other => {
                problems.push(format!(
                    "mail.dns_records[{n}].type: {other:?} is not TXT, A, AAAA or MX"
                ));
                continue;
            }
        };
        dns_records.push(DnsRecord {
            name: record.name,
            kind,
            value: record.value,
        });
    }
    // The records are read now, so a bad one is reported with the rest.
    if let Err(error) = hilo_mail::auth::check_records(&dns_records) {
        problems.push(format!("mail.dns_records: {error}"));
    }
    let selector = raw.dkim_selector.unwrap_or_else(|| "hilo".to_owned());
    let selector_ok = !selector.is_empty()
        && selector.len() <= 63
        && selector
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !selector_ok {
        problems.push(format!(
            "mail.dkim_selector: {selector:?} is not a DNS label (letters, digits, hyphens)"
        ));
    }
    let dkim = raw.dkim_key.and_then(|path| {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|key| {
                hilo_mail::DkimKey::new(&key, "localhost", &selector)
                    .map(|_| key)
                    .map_err(|e| e.to_string())
            }) {
            Ok(key) => Some((key, selector.clone())),
            Err(error) => {
                problems.push(format!("mail.dkim_key: {}: {error}", path.display()));
                None
            }
        }
    });
    let tls = match (raw.tls_cert, raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let read = |path: &PathBuf| {
                std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
            };
            match read(&cert)
                .and_then(|chain| Ok((chain, read(&key)?)))
                .and_then(|(chain, key)| hilo_mail::smtp::Tls::from_pem(&chain, &key))
            {
                Ok(tls) => Some(tls),
                Err(error) => {
                    problems.push(format!("mail.tls_cert, mail.tls_key: {error}"));
                    None
                }
            }
        }
        _ => {
            problems.push("mail.tls_cert and mail.tls_key go together".to_owned());
            None
        }
    };
    let mut digest = hilo_service::DigestTiming::default();
    for (name, value, field) in [
        (
            "digest_after_seconds",
            raw.digest_after_seconds,
            &mut digest.after,
        ),
        (
            "digest_every_seconds",
            raw.digest_every_seconds,
            &mut digest.every,
        ),
    ] {
        match value {
            None => {}
            Some(seconds @ 1..=604_800) => *field = std::time::Duration::from_secs(seconds),
            Some(other) => problems.push(format!(
                "mail.{name}: {other} is not between 1 and 604800 (a week)"
            )),
        }
    }
    MailConfig {
        dns,
        dns_records,
        dmarc_reject,
        dkim,
        tls,
        digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let raw = RawConfig {
            listen: Some("nope".into()),
            registration: Some("maybe".into()),
            mail_domain: Some("bad domain".into()),
            ..Default::default()
        };
        let error = validate(raw)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("listen"), "{error}");
        assert!(error.contains("registration"), "{error}");
        assert!(error.contains("mail_domain"), "{error}");
    }

    #[test]
    fn defaults_and_file_layers() {
        let config = validate(RawConfig::default()).ok();
        let config = config.as_ref();
        assert_eq!(
            config.map(|c| c.listen.to_string()),
            Some("127.0.0.1:8080".into())
        );
        assert_eq!(
            config.map(|c| c.registration),
            Some(RegistrationPolicy::Open)
        );
        let file: RawConfig = toml::from_str("listen = \"127.0.0.1:9000\"\nregistration = \"invite\"\n[[sms.providers]]\nid = \"t\"\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"secret\"\nnumbers = [\"+15550001\"]\n").unwrap_or_default();
        let config = validate(file).ok();
        assert_eq!(config.as_ref().map(|c| c.listen.port()), Some(9000));
        assert!(!format!("{config:?}").contains("secret"));
        assert!(
            toml::from_str::<RawConfig>("lisen = \"x\"").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn secrets_in_urls_are_redacted() {
        assert_eq!(
            redact_url("smtp://me:hunter2@mail.example:587"),
            "smtp://me:***@mail.example:587"
        );
        assert_eq!(
            redact_url("smtp://mail.example:25"),
            "smtp://mail.example:25"
        );
        assert_eq!(
            redact_url("postgres://hilo@db/hilo?password=s3cret&sslmode=require"),
            "postgres://hilo@db/hilo?password=***&sslmode=require"
        );
    }
}

#[cfg(test)]
mod mail_tests {
    use super::*;

    #[test]
    fn mail_settings_are_read_and_their_problems_reported_together() {
        let file: RawConfig = toml::from_str(
            "[mail]\ndns = \"127.0.0.1:5353\"\ndmarc_failure = \"reject\"\n[[mail.dns_records]]\nname = \"example.org\"\ntype = \"txt\"\nvalue = \"v=spf1 -all\"\n",
        )
        .expect("toml");
        let config = validate(file).expect("valid");
        assert_eq!(
            config.mail.dns,
            hilo_mail::DnsMode::Server("127.0.0.1:5353".parse().expect("address"))
        );
        assert!(config.mail.dmarc_reject);
        assert_eq!(config.mail.dns_records.len(), 1);

        let file: RawConfig = toml::from_str(
            "[mail]\ndns = \"somewhere\"\ndmarc_failure = \"ignore\"\n[[mail.dns_records]]\nname = \"a\"\ntype = \"SRV\"\nvalue = \"x\"\n[[mail.dns_records]]\nname = \"_dmarc.b\"\ntype = \"TXT\"\nvalue = \"nonsense\"\n",
        )
        .expect("toml");
        let error = validate(file).expect_err("refused").to_string();
        for expected in [
            "mail.dns:",
            "mail.dmarc_failure:",
            "mail.dns_records[0].type",
            "_dmarc.b",
        ] {
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn sms_providers_are_read_and_their_problems_reported_together() {
        let file: RawConfig = toml::from_str(
            "[sms]\npublic_url = \"https://hilo.example.org/\"\ntexts_per_account_day = 5\n[[sms.providers]]\nid = \"tw\"\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"secret-token\"\nnumbers = [\"+1 (555) 000-0001\", \"+15550000002\"]\nowners = { \"+15550000002\" = \"Olga\" }\n",
        )
        .expect("toml");
        let config = validate(file).expect("valid");
        let provider = &config.sms.providers[0];
        assert_eq!(provider.numbers, ["+15550000001", "+15550000002"]);
        assert_eq!(
            provider.owners.get("+15550000002").map(String::as_str),
            Some("olga")
        );
        assert_eq!(
            config.sms.public_url.as_deref(),
            Some("https://hilo.example.org")
        );
        assert_eq!(config.sms.texts_per_account_day, Some(5));
        assert_eq!(provider.token_variable(), "HILO_SMS_TW_AUTH_TOKEN");
        assert!(
            !format!("{config:?}").contains("secret-token"),
            "{config:?}"
        );

        let file: RawConfig = toml::from_str(
            "[sms]\npublic_url = \"ftp://x\"\n[[sms.providers]]\nid = \"a b\"\nkind = \"vonage\"\naccount_sid = \"\"\nnumbers = [\"555\", \"+15550000001\"]\nowners = { \"+15559999999\" = \"x\" }\n[[sms.providers]]\nid = \"b\"\nkind = \"twilio\"\naccount_sid = \"AC2\"\nauth_token = \"t\"\nnumbers = [\"+15550000001\"]\n",
        )
        .expect("toml");
        let error = validate(file).expect_err("refused").to_string();
        for expected in [
            "sms.public_url",
            "sms.providers[a b].id",
            "sms.providers[a b].kind",
            "sms.providers[a b].account_sid",
            "sms.providers[a b].auth_token: missing (set HILO_SMS_A_B_AUTH_TOKEN",
            "\"555\" is not E.164",
            "+15559999999 is not one of its numbers",
            "+15550000001 is held twice",
        ] {
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn starttls_needs_a_certificate_and_its_key() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../hilo-mail/tests/tls");
        let file: RawConfig = toml::from_str(&format!(
            "[mail]\ntls_cert = \"{fixtures}/cert.pem\"\ntls_key = \"{fixtures}/key.pem\"\n"
        ))
        .expect("toml");
        let config = validate(file).expect("valid");
        assert!(config.mail.tls.is_some());
        assert!(format!("{:?}", config.mail).contains("starttls: true"));
        let lone: RawConfig =
            toml::from_str(&format!("[mail]\ntls_cert = \"{fixtures}/cert.pem\"\n")).expect("toml");
        let error = validate(lone).expect_err("refused").to_string();
        assert!(error.contains("go together"), "{error}");
        let swapped: RawConfig = toml::from_str(&format!(
            "[mail]\ntls_cert = \"{fixtures}/key.pem\"\ntls_key = \"{fixtures}/cert.pem\"\n"
        ))
        .expect("toml");
        let error = validate(swapped).expect_err("refused").to_string();
        assert!(error.contains("mail.tls_cert"), "{error}");
    }
}
