//! The scenarios. Setup (accounts, conversations) is outside the measured window.

mod ceiling;
mod delivery;
mod history;
mod idle;
mod inbox;
mod search;
mod send;
mod users;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::api::{Account, Api};
use crate::stats::round;

pub use ceiling::{http_rate, sqlite_inserts};
pub use delivery::{e2e, fanout};
pub use history::history;
pub use idle::idle;
pub use inbox::{InboxLoad, inbox};
pub use search::{SearchLoad, search};
pub use send::{send_conc, send_seq};
pub use users::{Ramp, users};

/// What a scenario prints.
pub struct Report {
    /// One JSON line.
    pub json: Value,
    /// One line for people.
    pub human: String,
}

/// A prefix for this run's usernames, so runs against one server never collide.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("b{:x}", nanos & 0xffff_ffff_ffff)
}

/// Setup requests in flight at once (registration hashes a password: keep the server busy,
/// not swamped).
const SETUP_CONCURRENCY: usize = 8;

/// `n` fresh accounts named `<run>_<tag><i>`, registered a few at a time.
async fn accounts(api: &Api, run: &str, tag: &str, n: usize) -> anyhow::Result<Vec<Account>> {
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("{run}_{tag}{i}");
            async move { api.register(&name).await }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// `n` pairs of fresh accounts with a direct conversation each: (sender, receiver, id).
async fn pairs(api: &Api, n: usize) -> anyhow::Result<Vec<(Account, Account, String)>> {
    let run = run_id();
    let senders = accounts(api, &run, "s", n).await?;
    let receivers = accounts(api, &run, "r", n).await?;
    futures::stream::iter(senders.into_iter().zip(receivers))
        .map(|(sender, receiver)| {
            let api = api.clone();
            async move {
                let id = api.direct(&sender, &receiver).await?;
                Ok((sender, receiver, id))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

pub(crate) fn rate(count: usize, elapsed: Duration) -> f64 {
    round(count as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// `n` groups, group `i` made by `who(i)`'s owner with its members; their ids in order.
async fn groups(
    api: &Api,
    n: usize,
    who: impl Fn(usize) -> (Account, Vec<Account>),
) -> anyhow::Result<Vec<String>> {
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let (owner, members) = who(i);
            async move { api.group(&owner, &format!("g{i}"), &members).await }
        })
        .buffered(SETUP_CONCURRENCY * 2)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Sends at a steady rate in the background while a scenario measures something else, the
/// way other people's messages keep arriving: (conversation, sender) pairs taken in turn.
struct Background {
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<(u64, u64)>>,
}

fn background_sends(api: &Api, targets: Vec<(String, Account)>, per_second: u32) -> Background {
    let stop = CancellationToken::new();
    if per_second == 0 || targets.is_empty() {
        return Background {
            cancel: stop,
            task: None,
        };
    }
    let (api, token) = (api.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_second)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut sent, mut errors) = (0u64, 0u64);
        for n in 0.. {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            let (id, sender) = &targets[n % targets.len()];
            match api
                .send(
                    sender,
                    id,
                    &format!("bg{n}"),
                    &format!("background message {n}"),
                )
                .await
            {
                Ok(()) => sent += 1,
                Err(_) => errors += 1,
            }
        }
        (sent, errors)
    });
    Background {
        cancel: stop,
        task: Some(task),
    }
}

impl Background {
    /// Stops the sends: `{"sent", "errors"}`.
    async fn stop(self) -> Value {
        self.cancel.cancel();
        let (sent, errors) = match self.task {
            Some(task) => task.await.unwrap_or((0, 1)),
            None => (0, 0),
        };
        json!({"sent": sent, "errors": errors})
    }
}
