//! Command line: `hilo serve` and `hilo admin …`. Every subcommand goes through the same
//! service methods as the API; none touches SQL.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::{self, BuildOptions};
use crate::config::{Config, ServeArgs, StoreArgs};

/// hilo: self-hosted unified messaging.
#[derive(Debug, Parser)]
#[command(name = "hilo", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Operator tasks on the database (safe while the server runs).
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        task: AdminTask,
    },
}

#[derive(Debug, Subcommand)]
enum AdminTask {
    /// Create an account; the password is read from the first line of standard input.
    CreateUser {
        /// Username.
        username: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Make an existing account an administrator.
    MakeAdmin {
        /// Username.
        username: String,
    },
    /// Print a single-use invite code (valid 7 days).
    CreateInvite,
    /// Set a new password (read from standard input) and log out every session.
    ResetPassword {
        /// Username.
        username: String,
    },
    /// Write a consistent copy of the database to FILE while the server keeps running.
    Backup {
        /// Destination; must not exist.
        file: std::path::PathBuf,
    },
    /// DKIM keys that sign outbound mail.
    Dkim {
        /// What to do.
        #[command(subcommand)]
        action: DkimAction,
    },
}

#[derive(Debug, Subcommand)]
enum DkimAction {
    /// Make a key (Ed25519) in the data dir, and print the DNS record that publishes it
    /// and the settings that use it.
    Generate {
        /// The selector: the key is published at `<selector>._domainkey.<mail domain>`.
        #[arg(long, default_value = "hilo")]
        selector: String,
        /// The domain it signs for [default: the configured mail domain].
        #[arg(long)]
        domain: Option<String>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Libraries that log what passes through them at their `trace` and `debug` levels: the
/// WebSocket library logs every frame it receives, and a first frame can carry a bearer
/// token (and any frame, someone's message). They are held to `info` whatever `HILO_LOG`
/// asks for, so no secret reaches the log at any level.
const PAYLOAD_LOGGERS: [&str; 2] = ["tungstenite", "tokio_tungstenite"];

/// The log filter for `spec` (`HILO_LOG`'s syntax, e.g. `info` or `hilo_http=debug`), with
/// [`PAYLOAD_LOGGERS`] held to `info`.
pub fn log_filter(spec: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in PAYLOAD_LOGGERS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

fn init_logging(json: bool) {
    let spec = std::env::var("HILO_LOG").unwrap_or_else(|_| "info".to_owned());
    let filter = log_filter(&spec);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            init_logging(config.json_logs);
            let app = app::build(&config, BuildOptions::default()).await?;
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let smtp = TcpListener::bind(config.smtp_listen)
                .await
                .with_context(|| format!("cannot listen for mail on {}", config.smtp_listen))?;
            app.serve_mail(smtp)?;
            let shutdown = app.shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                shutdown.cancel();
            });
            app::serve(app, listener).await
        }
        Command::Admin { store, task } => {
            let config = Config::load_store(&store)?;
            init_logging(config.json_logs);
            if let AdminTask::Dkim {
                action: DkimAction::Generate { selector, domain },
            } = &task
            {
                let domain = domain.as_deref().unwrap_or(&config.mail_domain);
                return dkim_generate(&config, selector, domain);
            }
            let app = app::build(&config, BuildOptions::default()).await?;
            let result = admin(&app, task).await;
            app.close().await;
            result
        }
    }
}

/// Writes a new DKIM key to `<data dir>/dkim-<selector>.key` and prints how to use it.
fn dkim_generate(config: &Config, selector: &str, domain: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !selector.is_empty()
            && selector.len() <= 63
            && selector
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "the selector is a DNS label: letters, digits and hyphens"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let path = config.data_dir.join(format!("dkim-{selector}.key"));
    anyhow::ensure!(
        !path.exists(),
        "{} already exists; choose another selector",
        path.display()
    );
    let pkcs8 = hilo_mail::DkimKey::generate()?;
    let key = hilo_mail::DkimKey::new(&pkcs8, domain, selector)?;
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(&pkcs8)?;
    }
    println!("DKIM key written to {} (keep it private)", path.display());
    println!();
    println!("Publish this TXT record:");
    println!("  {}  TXT  \"{}\"", key.record_name(), key.record_value());
    println!();
    println!("Then sign outbound mail with it, in the config file:");
    println!("  [mail]");
    println!("  dkim_key = \"{}\"", path.display());
    println!("  dkim_selector = \"{selector}\"");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn admin(app: &app::App, task: AdminTask) -> anyhow::Result<()> {
    let hilo = &app.hilo;
    match task {
        AdminTask::CreateUser { username, admin } => {
            let password = read_password()?;
            let user = hilo
                .admin_create_user(&username, &password, admin)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} (id {}){}",
                user.username,
                user.id,
                if user.is_admin { ", admin" } else { "" }
            );
        }
        AdminTask::MakeAdmin { username } => {
            let user = hilo
                .admin_make_admin(&username)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} is now an admin", user.username);
        }
        AdminTask::CreateInvite => {
            let (code, _) = hilo
                .create_invite(None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{code}");
        }
        AdminTask::ResetPassword { username } => {
            let password = read_password()?;
            let user = hilo
                .admin_reset_password(&username, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "password of {} reset; every session logged out",
                user.username
            );
        }
        AdminTask::Dkim { .. } => unreachable!("handled before the store opens"),
        AdminTask::Backup { file } => {
            anyhow::ensure!(
                !file.exists(),
                "{} already exists; choose a new file",
                file.display()
            );
            let path = file
                .to_str()
                .context("the backup path must be valid UTF-8")?;
            hilo.backup(path).await.map_err(|e| match e {
                // The store's own words say what to do instead (PostgreSQL: pg_dump).
                hilo_service::Error::Store(store) => anyhow::anyhow!("backup failed: {store}"),
                other => anyhow::anyhow!("backup failed: {other}"),
            })?;
            println!("backup written to {}", file.display());
        }
    }
    Ok(())
}
