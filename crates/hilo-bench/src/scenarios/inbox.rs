//! `inbox`: listing the conversations of a user who has thousands, the request every
//! client makes on opening, while other people's messages keep moving conversations to the
//! top.

use std::time::Instant;

use futures::StreamExt;
use serde_json::json;

use super::{Report, accounts, background_sends, groups, run_id};
use crate::api::{Account, Api};
use crate::stats::{Samples, round};

/// Helper accounts the conversations are made with (two in each).
const HELPERS: usize = 20;
/// The page size clients ask for (the API's default).
const PAGE: usize = 50;

/// The sizes of a run (the scenario's command-line arguments).
#[derive(Debug, clap::Args)]
pub struct InboxLoad {
    /// Conversations in the user's inbox.
    #[arg(long, default_value_t = 5_000)]
    pub conversations: usize,
    /// First-page listings to time, one after another.
    #[arg(long, default_value_t = 2_000)]
    pub reads: usize,
    /// Background sends per second into the user's conversations while measuring.
    #[arg(long, default_value_t = 20)]
    pub write_rate: u32,
}

pub async fn inbox(api: &Api, load: InboxLoad) -> anyhow::Result<Report> {
    anyhow::ensure!(
        load.conversations > 0 && load.reads > 0,
        "conversations and reads must be positive"
    );
    let run = run_id();
    let me = accounts(api, &run, "owner", 1).await?.remove(0);
    let helpers = accounts(api, &run, "h", HELPERS).await?;
    let pair = |i: usize| {
        [
            helpers[i % HELPERS].clone(),
            helpers[(i + 1) % HELPERS].clone(),
        ]
    };
    let made = Instant::now();
    let ids = groups(api, load.conversations, |i| (me.clone(), pair(i).to_vec())).await?;
    // A message from someone else in each: every row has a last message and an unread count.
    let failures = futures::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let (api, sender) = (api.clone(), pair(i)[0].clone());
            async move {
                api.send(&sender, id, &format!("i{i}"), &format!("hello in {i}"))
                    .await
            }
        })
        .buffer_unordered(super::SETUP_CONCURRENCY * 2)
        .filter(|result| std::future::ready(result.is_err()))
        .count()
        .await;
    anyhow::ensure!(failures == 0, "{failures} sends failed during setup");
    let setup_seconds = made.elapsed().as_secs_f64();

    // One pass through the whole inbox, page after page (nothing moves meanwhile), which
    // must see every conversation exactly once.
    let mut pages = Samples::default();
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/conversations?limit={PAGE}&cursor={cursor}"),
            None => format!("/api/v1/conversations?limit={PAGE}"),
        };
        let asked = Instant::now();
        let body = api
            .hilo_call(reqwest::Method::GET, &path, &me, None)
            .await?;
        pages.record(asked.elapsed());
        for conversation in body["conversations"].as_array().into_iter().flatten() {
            seen.insert(conversation["id"].as_str().unwrap_or_default().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(crate::api::encode(next)),
            None => break,
        }
    }
    anyhow::ensure!(
        seen.len() == load.conversations,
        "paging through the inbox saw {} of {} conversations",
        seen.len(),
        load.conversations
    );

    // The first page, again and again, while messages arrive.
    let writes = background_sends(
        api,
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), pair(i)[1].clone()))
            .collect::<Vec<(String, Account)>>(),
        load.write_rate,
    );
    let full = load.conversations.min(PAGE);
    let mut first = Samples::default();
    let cpu = api.cpu_window();
    let started = Instant::now();
    for _ in 0..load.reads {
        let asked = Instant::now();
        match api
            .hilo_call(reqwest::Method::GET, "/api/v1/conversations", &me, None)
            .await
        {
            // A short page is a wrong answer, not a fast one.
            Ok(body) if body["conversations"].as_array().map(Vec::len) == Some(full) => {
                first.record(asked.elapsed());
            }
            _ => first.errors += 1,
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu.finish(first.count(), elapsed);
    let background = writes.stop().await;
    Ok(Report {
        human: format!(
            "inbox ({} conversations): first page {} reads, {} errors, p50 {} ms, p99 {} ms; every page once ({} pages): p50 {} ms, p99 {} ms",
            load.conversations,
            first.count(),
            first.errors,
            round(first.quantile_ms(0.5)),
            round(first.quantile_ms(0.99)),
            pages.count(),
            round(pages.quantile_ms(0.5)),
            round(pages.quantile_ms(0.99)),
        ),
        json: json!({
            "scenario": "inbox",
            "conversations": load.conversations,
            "page": PAGE,
            "setup_seconds": round(setup_seconds),
            "background_writes": background,
            "latency": first.summary(),
            "every_page": pages.summary(),
            "server_cpu": cpu,
        }),
    })
}
