//! `send-seq` and `send-conc`: how fast acknowledged sends go, one after another and from
//! many senders at once.

use std::time::Instant;

use serde_json::json;

use super::{Report, pairs, rate};
use crate::api::{Account, Api};
use crate::stats::Samples;

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
    let cpu = api.cpu_window();
    let started = Instant::now();
    let samples = send_many(api, &sender, &id, messages).await;
    let elapsed = started.elapsed();
    let cpu = cpu.finish(samples.count(), elapsed);
    let per_second = rate(samples.count(), elapsed);
    Ok(Report {
        human: samples.line("send-seq", per_second, "msg"),
        json: json!({"scenario": "send-seq", "messages": messages, "per_second": per_second, "latency": samples.summary(), "server_cpu": cpu}),
    })
}

pub async fn send_conc(api: &Api, senders: usize, messages: usize) -> anyhow::Result<Report> {
    let pairs = pairs(api, senders).await?;
    let cpu = api.cpu_window();
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
    let cpu = cpu.finish(samples.count(), elapsed);
    let per_second = rate(samples.count(), elapsed);
    Ok(Report {
        human: samples.line(&format!("send-conc ({senders} senders)"), per_second, "msg"),
        json: json!({"scenario": "send-conc", "senders": senders, "messages_per_sender": messages, "per_second": per_second, "latency": samples.summary(), "server_cpu": cpu}),
    })
}
