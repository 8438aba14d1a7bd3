//! The machine's ceiling, measured with the same client as every other scenario: the HTTP
//! request rate of a trivial endpoint, and the durable insert rate of SQLite with group
//! commit (one writer, WAL, `synchronous=FULL`, every waiting insert in one transaction),
//! as hilo's own writer commits: an OS thread owning a rusqlite connection, built from the same
//! bundled SQLite with the same flags. Each hilo figure then reads as a fraction of these.
//! PostgreSQL's own ceiling is measured with `pgbench` (see docs/benchmarks.md).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::{Report, rate};
use crate::api::Api;
use crate::stats::Samples;

/// `connections` clients each GET `path` in a loop for `seconds`.
pub async fn http_rate(
    api: &Api,
    path: &str,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Report> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (api, path) = (api.clone(), path.to_owned());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                while Instant::now() < until {
                    let at = Instant::now();
                    match api.get(&path).await {
                        Ok(()) => samples.record(at.elapsed()),
                        Err(_) => samples.errors += 1,
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    let per_second = rate(samples.count(), started.elapsed());
    Ok(Report {
        human: samples.line(&format!("http-rate {path}"), per_second, "req"),
        json: json!({"scenario": "http-rate", "path": path, "connections": connections, "per_second": per_second, "latency": samples.summary()}),
    })
}

/// `writers` tasks insert 100-byte rows for `seconds` through one group-committing writer
/// into a fresh SQLite file at `path`.
pub async fn sqlite_inserts(
    path: &std::path::Path,
    writers: usize,
    seconds: u64,
) -> anyhow::Result<Report> {
    anyhow::ensure!(!path.exists(), "{} exists: give a new file", path.display());
    let connection = rusqlite::Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute(
        "CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        [],
    )?;
    let (tx, mut rx) = mpsc::channel::<(String, oneshot::Sender<bool>)>(4096);
    let writer = std::thread::spawn(move || {
        let mut commits = 0u64;
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let result = (|| -> rusqlite::Result<()> {
                let transaction = connection.unchecked_transaction()?;
                {
                    let mut insert =
                        transaction.prepare_cached("INSERT INTO rows (body) VALUES (?1)")?;
                    for (body, _) in &batch {
                        insert.execute([body])?;
                    }
                }
                transaction.commit()
            })();
            commits += 1;
            for (_, done) in batch {
                let _ = done.send(result.is_ok());
            }
        }
        commits
    });
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers.max(1))
        .map(|_| {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let body = "x".repeat(100);
                while Instant::now() < until {
                    let at = Instant::now();
                    let (done, acked) = oneshot::channel();
                    if tx.send((body.clone(), done)).await.is_err() {
                        break;
                    }
                    match acked.await {
                        Ok(true) => samples.record(at.elapsed()),
                        _ => samples.errors += 1,
                    }
                }
                samples
            })
        })
        .collect();
    drop(tx);
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await?);
    }
    let elapsed = started.elapsed();
    let commits = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    let per_second = rate(samples.count(), elapsed);
    Ok(Report {
        human: format!(
            "{}, {commits} commits",
            samples.line("sqlite-inserts", per_second, "row")
        ),
        json: json!({"scenario": "sqlite-inserts", "writers": writers, "per_second": per_second, "commits": commits, "commits_per_second": rate(commits as usize, elapsed), "latency": samples.summary()}),
    })
}
