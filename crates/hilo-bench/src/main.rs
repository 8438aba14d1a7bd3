//! `hilo-bench`: load scenarios against a running hilo server over its public API. Each
//! scenario prints one JSON line (for scripts and `docs/benchmarks.md`) and a one-line
//! summary for people. Errors are counted and reported, never left out of the figures.
//!
//! The scenarios register their own accounts (`b<run id>_<n>`), so the server must allow
//! open registration; run it against a throwaway data dir.
#![forbid(unsafe_code)]

mod api;
mod scenarios;
mod stats;

use clap::{Parser, Subcommand};

/// Load generator for hilo.
#[derive(Debug, Parser)]
#[command(name = "hilo-bench", version)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One sender, N messages one after another.
    SendSeq {
        /// Messages to send.
        #[arg(long, default_value_t = 1000)]
        messages: usize,
    },
    /// C senders at once, each in a conversation of its own.
    SendConc {
        /// Concurrent senders.
        #[arg(long, default_value_t = 32)]
        senders: usize,
        /// Messages per sender.
        #[arg(long, default_value_t = 100)]
        messages: usize,
    },
    /// Receivers on WebSockets, senders at a fixed total rate: send→receive latency, lost
    /// and duplicated deliveries.
    E2e {
        /// Sender/receiver pairs, each with its own direct conversation.
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Messages per second, over all pairs.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Seconds to send for.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let api = api::Api::new(&cli.server);
    let result = match cli.scenario {
        Scenario::SendSeq { messages } => scenarios::send_seq(&api, messages).await,
        Scenario::SendConc { senders, messages } => {
            scenarios::send_conc(&api, senders, messages).await
        }
        Scenario::E2e {
            pairs,
            rate,
            seconds,
        } => scenarios::e2e(&api, pairs, rate, seconds).await,
    };
    match result {
        Ok(report) => {
            println!("{}", report.json);
            eprintln!("{}", report.human);
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
