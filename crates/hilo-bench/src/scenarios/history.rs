//! `history`: page back through a long conversation, the way a client scrolls up.

use std::time::Instant;

use futures::StreamExt;
use serde_json::json;

use super::{Report, pairs};
use crate::api::Api;
use crate::stats::{Samples, round};

/// Sends made at once while filling the conversation (setup, not measured).
const FILL_CONCURRENCY: usize = 16;

pub async fn history(
    api: &Api,
    messages: usize,
    page: usize,
    passes: usize,
) -> anyhow::Result<Report> {
    let (sender, reader, id) = pairs(api, 1).await?.remove(0);
    let filled = Instant::now();
    let failures = futures::stream::iter(0..messages)
        .map(|n| {
            let (api, sender, id) = (api.clone(), sender.clone(), id.clone());
            async move {
                api.send(
                    &sender,
                    &id,
                    &format!("h{n}"),
                    &format!("history message {n}"),
                )
                .await
            }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    anyhow::ensure!(
        failures == 0,
        "{failures} sends failed while filling the conversation"
    );
    let fill_seconds = filled.elapsed().as_secs_f64();

    let mut samples = Samples::default();
    let mut short_passes = 0;
    let cpu = api.cpu_window();
    let started = Instant::now();
    for _ in 0..passes.max(1) {
        let (mut older, mut seen) = (None::<String>, 0);
        loop {
            let started = Instant::now();
            match api.history(&reader, &id, older.as_deref(), page).await {
                Ok(got) => {
                    samples.record(started.elapsed());
                    seen += got.messages;
                    older = got.older;
                    if older.is_none() {
                        break;
                    }
                }
                Err(_) => {
                    samples.errors += 1;
                    break;
                }
            }
        }
        // Every pass must see every message: a short pass is a wrong answer, not a fast one.
        short_passes += usize::from(seen != messages);
    }
    samples.errors += short_passes as u64;
    let cpu = cpu.finish(samples.count(), started.elapsed());
    Ok(Report {
        human: format!(
            "history ({messages} messages, {page} per page): {} pages, {} errors, p50 {} ms, p95 {} ms, p99 {} ms",
            samples.count(),
            samples.errors,
            round(samples.quantile_ms(0.5)),
            round(samples.quantile_ms(0.95)),
            round(samples.quantile_ms(0.99))
        ),
        json: json!({"scenario": "history", "messages": messages, "page": page, "passes": passes, "incomplete_passes": short_passes, "fill_seconds": round(fill_seconds), "latency": samples.summary(), "server_cpu": cpu}),
    })
}
