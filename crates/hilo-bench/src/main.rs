//! `hilo-bench`: load scenarios against a running hilo server over its public API. Each
//! scenario prints one JSON line (for scripts and `docs/benchmarks.md`) and a one-line
//! summary for people. Errors are counted and reported, never left out of the figures.
//!
//! The scenarios register their own accounts (`b<run id>_<n>`), so the server must allow
//! open registration; run it against a throwaway data dir.
#![forbid(unsafe_code)]

mod api;
mod cpu;
mod scenarios;
mod stats;

use clap::{Parser, Subcommand};

/// Load generator for hilo (and, for comparison, Matrix servers).
#[derive(Debug, Parser)]
#[command(name = "hilo-bench", version)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The API the server speaks.
    #[arg(long, value_enum, default_value_t = api::Protocol::Hilo)]
    protocol: api::Protocol,
    /// The server's process id(s): report the server CPU time spent in each measured window
    /// (read from /proc, so the server must run on this machine).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Count the CPU time of every `postgres` process as the server's too.
    #[arg(long)]
    postgres_cpu: bool,
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
    /// Receivers on live streams, senders at a fixed total rate: send→receive latency, lost
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
        /// Seconds to wait for late deliveries before counting them lost.
        #[arg(long, default_value_t = 30)]
        drain: u64,
    },
    /// One group with every member connected, one sender at a fixed rate: per-delivery
    /// latency.
    Fanout {
        /// Members, the sender included.
        #[arg(long, default_value_t = 50)]
        members: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        /// Seconds to send for.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Seconds to wait for late deliveries before counting them lost.
        #[arg(long, default_value_t = 30)]
        drain: u64,
    },
    /// Pages back through a long conversation: per-page latency.
    History {
        /// Messages in the conversation.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Messages per page.
        #[arg(long, default_value_t = 50)]
        page: usize,
        /// Times to page through the whole conversation.
        #[arg(long, default_value_t = 3)]
        passes: usize,
    },
    /// Message search by a user in some conversations over a store of many messages, with
    /// queries from the commonest words to rare ones.
    Search(scenarios::SearchLoad),
    /// Listing the inbox of a user with many conversations: the first page, again and
    /// again, while messages arrive; and every page once.
    Inbox(scenarios::InboxLoad),
    /// K idle connected clients: the server's memory per connection.
    Idle {
        /// The server's process id (read from /proc: the server must run on this machine).
        #[arg(long)]
        pid: u32,
        /// Connections to hold.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Accounts the connections are spread over.
        #[arg(long, default_value_t = 100)]
        accounts: usize,
        /// Seconds to let the server settle before each reading.
        #[arg(long, default_value_t = 5)]
        settle: u64,
    },
    /// Simulated people with a client open, added in steps until the p99 of any action
    /// passes the limit or more than 0.1 % of actions fail: the supported users.
    Users {
        /// Users in the first step.
        #[arg(long, default_value_t = 500)]
        start: usize,
        /// Users added per step.
        #[arg(long, default_value_t = 500)]
        step: usize,
        /// Most users to ramp to.
        #[arg(long, default_value_t = 20_000)]
        max: usize,
        /// Measured seconds per step.
        #[arg(long, default_value_t = 30)]
        step_seconds: u64,
        /// Mean seconds between one user's actions.
        #[arg(long, default_value_t = 5.0)]
        think: f64,
        /// Users per team (one group per team, direct conversations between teammates).
        #[arg(long, default_value_t = 10)]
        team: usize,
        /// A step fails when the p99 of any action exceeds this many milliseconds.
        #[arg(long, default_value_t = 200.0)]
        p99_limit_ms: f64,
    },
    /// The machine's ceiling: requests per second of a trivial endpoint.
    HttpRate {
        /// The path to GET.
        #[arg(long, default_value = "/healthz")]
        path: String,
        /// Concurrent connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds to run for.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The machine's ceiling: durable SQLite inserts per second with group commit, into a
    /// new file (no server involved).
    SqliteInserts {
        /// The database file to create.
        #[arg(long)]
        path: std::path::PathBuf,
        /// Concurrent writers.
        #[arg(long, default_value_t = 32)]
        writers: usize,
        /// Seconds to run for.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let api = api::Api::new(&cli.server, cli.protocol)
        .with_cpu(cpu::CpuProbe::new(cli.server_pids, cli.postgres_cpu));
    let seconds = std::time::Duration::from_secs;
    let result = match cli.scenario {
        Scenario::SendSeq { messages } => scenarios::send_seq(&api, messages).await,
        Scenario::SendConc { senders, messages } => {
            scenarios::send_conc(&api, senders, messages).await
        }
        Scenario::E2e {
            pairs,
            rate,
            seconds: s,
            drain,
        } => scenarios::e2e(&api, pairs, rate, s, seconds(drain)).await,
        Scenario::Fanout {
            members,
            rate,
            seconds: s,
            drain,
        } => scenarios::fanout(&api, members, rate, s, seconds(drain)).await,
        Scenario::History {
            messages,
            page,
            passes,
        } => scenarios::history(&api, messages, page, passes).await,
        Scenario::Search(load) => scenarios::search(&api, load).await,
        Scenario::Inbox(load) => scenarios::inbox(&api, load).await,
        Scenario::Idle {
            pid,
            connections,
            accounts,
            settle,
        } => scenarios::idle(&api, pid, connections, accounts, seconds(settle)).await,
        Scenario::Users {
            start,
            step,
            max,
            step_seconds,
            think,
            team,
            p99_limit_ms,
        } => {
            let ramp = scenarios::Ramp {
                start,
                step,
                max,
                step_seconds,
                think_seconds: think,
                team,
                p99_limit_ms,
            };
            scenarios::users(&api, ramp).await
        }
        Scenario::HttpRate {
            path,
            connections,
            seconds: s,
        } => scenarios::http_rate(&api, &path, connections, s).await,
        Scenario::SqliteInserts {
            path,
            writers,
            seconds: s,
        } => scenarios::sqlite_inserts(&path, writers, s).await,
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
