//! The scenarios. Setup (accounts, conversations) is outside the measured window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Account, Api, next_event};
use crate::stats::{Samples, round};

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

/// `n` pairs of fresh accounts with a direct conversation each: (sender, receiver, id).
async fn pairs(api: &Api, n: usize) -> anyhow::Result<Vec<(Account, Account, String)>> {
    let run = run_id();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let sender = api.register(&format!("{run}_s{i}")).await?;
        let receiver = api.register(&format!("{run}_r{i}")).await?;
        let id = api.direct(&sender, &receiver).await?;
        out.push((sender, receiver, id));
    }
    Ok(out)
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    round(count as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// The people's line of a send scenario.
fn send_line(label: &str, samples: &Samples, per_second: f64) -> String {
    format!(
        "{label}: {} sent, {} errors, {per_second} msg/s, p50 {} ms, p99 {} ms",
        samples.count(),
        samples.errors,
        round(samples.quantile_ms(0.5)),
        round(samples.quantile_ms(0.99))
    )
}

/// Sends `messages` one after another and times each.
async fn send_many(api: &Api, me: &Account, conversation: &str, messages: usize) -> Samples {
    let mut samples = Samples::default();
    for n in 0..messages {
        let started = Instant::now();
        match api
            .send(me, conversation, &format!("t{n}"), "benchmark message")
            .await
        {
            Ok(_) => samples.record(started.elapsed()),
            Err(_) => samples.errors += 1,
        }
    }
    samples
}

pub async fn send_seq(api: &Api, messages: usize) -> anyhow::Result<Report> {
    let (sender, _, id) = pairs(api, 1).await?.remove(0);
    let started = Instant::now();
    let samples = send_many(api, &sender, &id, messages).await;
    let elapsed = started.elapsed();
    let per_second = rate(samples.count(), elapsed);
    Ok(Report {
        human: send_line("send-seq", &samples, per_second),
        json: json!({"scenario": "send-seq", "messages": messages, "per_second": per_second, "latency": samples.summary()}),
    })
}

pub async fn send_conc(api: &Api, senders: usize, messages: usize) -> anyhow::Result<Report> {
    let pairs = pairs(api, senders).await?;
    let started = Instant::now();
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|(sender, _, id)| {
            let api = api.clone();
            tokio::spawn(async move { send_many(&api, &sender, &id, messages).await })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    let elapsed = started.elapsed();
    let per_second = rate(samples.count(), elapsed);
    Ok(Report {
        human: send_line(
            &format!("send-conc ({senders} senders)"),
            &samples,
            per_second,
        ),
        json: json!({"scenario": "send-conc", "senders": senders, "messages_per_sender": messages, "per_second": per_second, "latency": samples.summary()}),
    })
}

/// Every message's text names it, so receivers can time and count deliveries.
type SendTimes = Arc<Mutex<HashMap<String, Instant>>>;

pub async fn e2e(
    api: &Api,
    pairs_n: usize,
    per_second: u32,
    seconds: u64,
) -> anyhow::Result<Report> {
    let pairs = pairs(api, pairs_n.max(1)).await?;
    let sent: SendTimes = Arc::default();
    let received: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let latencies = Arc::new(Mutex::new(Samples::default()));
    let mut receivers = Vec::new();
    for (_, receiver, _) in &pairs {
        let mut socket = api.events(receiver).await?;
        let (sent, received, latencies) = (sent.clone(), received.clone(), latencies.clone());
        receivers.push(tokio::spawn(async move {
            while let Ok(event) = next_event(&mut socket).await {
                if event["type"] != "message.created" {
                    continue;
                }
                let name = event["message"]["text"].as_str().unwrap_or("").to_owned();
                let arrived = Instant::now();
                let sent_at = sent.lock().map(|s| s.get(&name).copied()).ok().flatten();
                let mut received = received.lock().unwrap_or_else(|e| e.into_inner());
                let times = received.entry(name).or_insert(0);
                *times += 1;
                if *times == 1
                    && let Some(at) = sent_at
                {
                    latencies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .record(arrived.duration_since(at));
                }
            }
        }));
    }
    // Senders: one message every 1/rate seconds, round-robin over the pairs, each send its
    // own task so a slow answer does not slow the offered rate.
    let interval = Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)));
    let total = (u64::from(per_second) * seconds) as usize;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let send_errors = Arc::new(Mutex::new(0u64));
    let mut sends = Vec::with_capacity(total);
    let started = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let (sender, _, id) = pairs[n % pairs.len()].clone();
        let (api, sent, send_errors) = (api.clone(), sent.clone(), send_errors.clone());
        sends.push(tokio::spawn(async move {
            let name = format!("e2e-{n}");
            sent.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), Instant::now());
            if api.send(&sender, &id, &name, &name).await.is_err() {
                *send_errors.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                sent.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
            }
        }));
    }
    for send in sends {
        send.await?;
    }
    let offered_for = started.elapsed();
    // Let the last deliveries arrive, then count.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let done = {
            let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
            let received = received.lock().unwrap_or_else(|e| e.into_inner());
            sent.keys().all(|name| received.contains_key(name))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for receiver in &receivers {
        receiver.abort();
    }
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let received = received.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lost = sent.keys().filter(|n| !received.contains_key(*n)).count();
    let duplicated = received.values().filter(|times| **times > 1).count();
    let mut samples = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    samples.errors = *send_errors.lock().unwrap_or_else(|e| e.into_inner());
    let achieved = rate(sent.len(), offered_for);
    Ok(Report {
        human: format!(
            "e2e: {} sent at {achieved} msg/s ({per_second} offered), {} send errors, {lost} lost, {duplicated} duplicated, p50 {} ms, p99 {} ms, max {} ms",
            sent.len(),
            samples.errors,
            round(samples.quantile_ms(0.5)),
            round(samples.quantile_ms(0.99)),
            round(samples.quantile_ms(1.0))
        ),
        json: json!({"scenario": "e2e", "pairs": pairs.len(), "offered_per_second": per_second, "achieved_per_second": achieved, "sent": sent.len(), "lost": lost, "duplicated": duplicated, "latency": samples.summary()}),
    })
}
