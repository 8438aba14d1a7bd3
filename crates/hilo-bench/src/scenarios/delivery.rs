//! `e2e` and `fanout`: senders at a fixed offered rate, receivers on live event streams.
//! Every message's text names it, so each receiver's deliveries are timed (send start →
//! arrival) and checked against what it should have received: lost and duplicated
//! deliveries are counted, never hidden in the percentiles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Report, accounts, pairs, rate, run_id};
use crate::api::{Account, Api, Events};
use crate::stats::{Samples, round};

/// What one delivery run measured.
struct Outcome {
    sent: usize,
    achieved: f64,
    lost: usize,
    duplicated: usize,
    /// Streams that ended before the run did.
    broken_streams: usize,
    /// Per-delivery latency; `errors` holds the failed sends.
    latency: Samples,
    /// Server CPU from the first send to the last delivery (or the drain deadline).
    cpu: serde_json::Value,
}

impl Outcome {
    fn json(&self) -> serde_json::Value {
        json!({"achieved_per_second": self.achieved, "sent": self.sent, "lost": self.lost, "duplicated": self.duplicated, "broken_streams": self.broken_streams, "latency": self.latency.summary(), "server_cpu": self.cpu})
    }

    fn human(&self, label: &str, offered: u32) -> String {
        format!(
            "{label}: {} sent at {} msg/s ({offered} offered), {} send errors, {} lost, {} duplicated, {} broken streams; delivery p50 {} ms, p99 {} ms, max {} ms",
            self.sent,
            self.achieved,
            self.latency.errors,
            self.lost,
            self.duplicated,
            self.broken_streams,
            round(self.latency.quantile_ms(0.5)),
            round(self.latency.quantile_ms(0.99)),
            round(self.latency.quantile_ms(1.0))
        )
    }
}

/// A receiver's record: (message name, arrival).
type Arrivals = Vec<(String, Instant)>;

/// Runs `receivers` (each a stream and the conversation it watches) while `senders` (each
/// an account and its conversation, used round-robin) send `per_second` messages a second
/// for `seconds`; then waits up to `drain` for the last deliveries.
async fn run(
    api: &Api,
    receivers: Vec<(Events, String)>,
    senders: Vec<(Account, String)>,
    per_second: u32,
    seconds: u64,
    drain: Duration,
) -> anyhow::Result<Outcome> {
    let stop = CancellationToken::new();
    let progress = Arc::new(AtomicUsize::new(0));
    let mut watching: HashMap<String, usize> = HashMap::new();
    let mut tasks = Vec::new();
    for (mut events, conversation) in receivers {
        *watching.entry(conversation.clone()).or_default() += 1;
        let (stop, progress) = (stop.clone(), progress.clone());
        tasks.push((
            conversation,
            tokio::spawn(async move {
                let mut arrivals = Arrivals::new();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return (arrivals, false),
                        delivery = events.next_message() => match delivery {
                            Ok(d) => {
                                arrivals.push((d.text, Instant::now()));
                                progress.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => return (arrivals, true),
                        },
                    }
                }
            }),
        ));
    }

    // Each send is its own task, so a slow answer never lowers the offered rate.
    let sent: Arc<Mutex<HashMap<String, (Instant, String)>>> = Arc::default();
    let send_errors = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)));
    let total = (u64::from(per_second) * seconds) as usize;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let run = run_id();
    let mut sends = Vec::with_capacity(total);
    let cpu = api.cpu_window();
    let started = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let (sender, conversation) = senders[n % senders.len()].clone();
        let (api, sent, send_errors) = (api.clone(), sent.clone(), send_errors.clone());
        let name = format!("{run}-{n}");
        sends.push(tokio::spawn(async move {
            let at = Instant::now();
            sent.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), (at, conversation.clone()));
            if api
                .send(&sender, &conversation, &name, &name)
                .await
                .is_err()
            {
                send_errors.fetch_add(1, Ordering::Relaxed);
                // A failed send may still have been stored: it is not counted either way.
                sent.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
            }
        }));
    }
    for send in sends {
        send.await?;
    }
    let offered_for = started.elapsed();
    let sent = std::mem::take(&mut *sent.lock().unwrap_or_else(|e| e.into_inner()));
    let expected: usize = sent
        .values()
        .map(|(_, c)| watching.get(c).copied().unwrap_or(0))
        .sum();
    let deadline = Instant::now() + drain;
    while progress.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let cpu = cpu.finish(sent.len(), started.elapsed());

    let mut outcome = Outcome {
        sent: sent.len(),
        achieved: rate(sent.len(), offered_for),
        lost: 0,
        duplicated: 0,
        broken_streams: 0,
        latency: Samples::default(),
        cpu,
    };
    outcome.latency.errors = send_errors.load(Ordering::Relaxed) as u64;
    for (conversation, task) in tasks {
        let (arrivals, broken) = task.await?;
        outcome.broken_streams += usize::from(broken);
        let mut times: HashMap<&str, usize> = HashMap::new();
        for (name, arrived) in &arrivals {
            // Only what was sent in the watched conversation counts (and must arrive).
            let Some((at, _)) = sent.get(name).filter(|(_, c)| *c == conversation) else {
                continue;
            };
            let count = times.entry(name).or_default();
            *count += 1;
            if *count == 1 {
                outcome.latency.record(arrived.duration_since(*at));
            } else {
                outcome.duplicated += 1;
            }
        }
        outcome.lost += sent
            .iter()
            .filter(|(name, (_, c))| *c == conversation && !times.contains_key(name.as_str()))
            .count();
    }
    Ok(outcome)
}

pub async fn e2e(
    api: &Api,
    pairs_n: usize,
    per_second: u32,
    seconds: u64,
    drain: Duration,
) -> anyhow::Result<Report> {
    let pairs = pairs(api, pairs_n.max(1)).await?;
    let mut receivers = Vec::new();
    for (_, receiver, id) in &pairs {
        receivers.push((api.events(receiver).await?, id.clone()));
    }
    let senders = pairs
        .iter()
        .map(|(s, _, id)| (s.clone(), id.clone()))
        .collect();
    let outcome = run(api, receivers, senders, per_second, seconds, drain).await?;
    let mut json =
        json!({"scenario": "e2e", "pairs": pairs.len(), "offered_per_second": per_second});
    merge(&mut json, outcome.json());
    Ok(Report {
        human: outcome.human("e2e", per_second),
        json,
    })
}

pub async fn fanout(
    api: &Api,
    members: usize,
    per_second: u32,
    seconds: u64,
    drain: Duration,
) -> anyhow::Result<Report> {
    anyhow::ensure!(members >= 2, "a group needs at least 2 members");
    let tag = run_id();
    let people = accounts(api, &tag, "m", members).await?;
    let (sender, others) = people.split_first().expect("at least two");
    let group = api.group(sender, &format!("fanout {tag}"), others).await?;
    let mut receivers = Vec::new();
    for member in others {
        receivers.push((api.events(member).await?, group.clone()));
    }
    let outcome = run(
        api,
        receivers,
        vec![(sender.clone(), group)],
        per_second,
        seconds,
        drain,
    )
    .await?;
    let mut json =
        json!({"scenario": "fanout", "members": members, "offered_per_second": per_second});
    merge(&mut json, outcome.json());
    Ok(Report {
        human: outcome.human(&format!("fanout ({members} members)"), per_second),
        json,
    })
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}
