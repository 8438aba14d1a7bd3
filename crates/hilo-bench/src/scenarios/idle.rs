//! `idle`: many connected clients doing nothing, and what each costs the server in memory.
//! The server's resident set size is read from `/proc/<pid>/status` (the server runs on
//! this machine), before the clients connect and once they have all settled.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Report, accounts, run_id};
use crate::api::Api;
use crate::stats::round;

/// Connections opened at once.
const CONNECT_CONCURRENCY: usize = 64;

/// The resident set size of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

pub async fn idle(
    api: &Api,
    pid: u32,
    connections: usize,
    accounts_n: usize,
    settle: Duration,
) -> anyhow::Result<Report> {
    let people = accounts(api, &run_id(), "i", accounts_n.max(1)).await?;
    // One stream first, so what the first connection warms up is not charged to the rest.
    let warm_up = api.events(&people[0]).await?;
    tokio::time::sleep(settle).await;
    let before = rss_kib(pid)?;

    let stop = CancellationToken::new();
    let opened: Vec<_> = futures::stream::iter(0..connections)
        .map(|n| {
            let (api, me) = (api.clone(), people[n % people.len()].clone());
            async move { api.events(&me).await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut errors = 0u64;
    let mut clients = Vec::new();
    for result in opened {
        match result {
            // Each client keeps reading (answering pings, or long-polling /sync on Matrix).
            Ok(mut events) => {
                let stop = stop.clone();
                clients.push(tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => true,
                        () = async { while events.next_message().await.is_ok() {} } => false,
                    }
                }));
            }
            Err(_) => errors += 1,
        }
    }
    tokio::time::sleep(settle).await;
    let after = rss_kib(pid)?;
    stop.cancel();
    for client in clients {
        // A client whose stream ended before the measurement was not idle-connected.
        if !client.await? {
            errors += 1;
        }
    }
    drop(warm_up);
    let connected = connections as u64 - errors;
    let per_connection = after.saturating_sub(before) as f64 / connected.max(1) as f64;
    Ok(Report {
        human: format!(
            "idle: {connected} connections held ({errors} errors); server RSS {} MiB → {} MiB, {} KiB per connection",
            round(before as f64 / 1024.0),
            round(after as f64 / 1024.0),
            round(per_connection)
        ),
        json: json!({"scenario": "idle", "connections": connections, "connected": connected, "errors": errors, "accounts": people.len(), "rss_before_kib": before, "rss_after_kib": after, "per_connection_kib": round(per_connection)}),
    })
}
