//! The single writer thread and its group commit (see the crate docs for why).
//!
//! The writer is an OS thread that owns the only write connection and runs each job's
//! statements directly on it: a job costs one hand-off to the thread and one answer back,
//! however many statements it runs.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hilo_store::{CommitObserver, StoreError, StoreResult};

use crate::db::closed;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

enum Command {
    Run(Job),
    Close(oneshot::Sender<()>),
}

/// A handle to the writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Command>,
}

/// How many jobs may wait for the writer before senders are slowed down (backpressure).
const QUEUE_CAPACITY: usize = 4096;

impl Writer {
    /// Opens the write connection on a new thread and starts committing there.
    pub(crate) async fn start(
        path: &Path,
        synchronous_full: bool,
        max_batch: usize,
        observer: Option<Arc<dyn CommitObserver>>,
    ) -> StoreResult<Writer> {
        let (jobs, receiver) = mpsc::channel(QUEUE_CAPACITY);
        crate::db::spawn_with_connection(
            "hilo-sqlite-writer".into(),
            path,
            synchronous_full,
            move |conn| run(conn, receiver, max_batch, observer),
        )
        .await?;
        Ok(Writer { jobs })
    }

    /// Runs `work` inside the next batch's transaction and returns its result once the
    /// batch is durably committed. An `Err` from `work` rolls back only `work`'s changes.
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let result = work(conn);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |commit| {
                let _ = sender.send(match commit {
                    Ok(()) => result,
                    Err(reason) => Err(StoreError::Unavailable(reason.into())),
                });
            });
            (ok, completion)
        });
        self.jobs
            .send(Command::Run(job))
            .await
            .map_err(|_| closed())?;
        receiver.await.map_err(|_| closed())?
    }

    /// Finishes queued jobs, then stops the thread and closes its connection.
    pub(crate) async fn close(&self) {
        let (sender, receiver) = oneshot::channel();
        if self.jobs.send(Command::Close(sender)).await.is_ok() {
            let _ = receiver.await;
        }
    }
}

fn run(
    conn: Connection,
    mut receiver: mpsc::Receiver<Command>,
    max_batch: usize,
    observer: Option<Arc<dyn CommitObserver>>,
) {
    let mut close_ack = None;
    while close_ack.is_none() {
        let Some(first) = receiver.blocking_recv() else {
            break;
        };
        let mut batch = Vec::new();
        match first {
            Command::Run(job) => batch.push(job),
            Command::Close(ack) => close_ack = Some(ack),
        }
        while close_ack.is_none() && batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(Command::Run(job)) => batch.push(job),
                Ok(Command::Close(ack)) => close_ack = Some(ack),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let n_jobs = batch.len();
        commit_batch(&conn, batch);
        if let Some(observer) = &observer {
            observer.on_commit(n_jobs, receiver.len(), started.elapsed());
        }
    }
    receiver.close();
    // Jobs that raced with Close still get an answer: they are dropped, which their callers
    // see as `Unavailable`.
    while receiver.try_recv().is_ok() {}
    if let Err((_, error)) = conn.close() {
        tracing::warn!(%error, "closing the SQLite write connection failed");
    }
    if let Some(ack) = close_ack {
        let _ = ack.send(());
    }
}

/// A transaction-control statement; its error as text, the form completions carry.
fn exec(conn: &Connection, sql: &'static str) -> Result<(), String> {
    crate::db::execute(conn, sql, [])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    if let Err(first) = exec(conn, "BEGIN IMMEDIATE") {
        // A connection left inside a transaction (a COMMIT and its ROLLBACK both failed)
        // would refuse every batch from now on: roll back what is left and try once more.
        tracing::warn!(reason = %first, "could not begin a write transaction; rolling back and retrying");
        let _ = exec(conn, "ROLLBACK");
        if let Err(reason) = exec(conn, "BEGIN IMMEDIATE") {
            tracing::error!(%reason, "could not begin a write transaction");
            // Dropping a job drops its reply channel: the caller sees `Unavailable`.
            drop(batch);
            return;
        }
    }
    run_batch(conn, batch);
}

/// Runs a batch inside the transaction the caller began, then commits it.
fn run_batch(conn: &Connection, batch: Vec<Job>) {
    let mut completions = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut broken = None;
    for job in jobs.by_ref() {
        if let Err(reason) = exec(conn, "SAVEPOINT job") {
            broken = Some((reason, Some(job)));
            break;
        }
        let ok = match std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok((ok, completion)) => {
                completions.push(completion);
                ok
            }
            Err(_) => {
                tracing::error!("a write job panicked; its changes are rolled back");
                false
            }
        };
        let end = if ok {
            exec(conn, "RELEASE job")
        } else {
            rollback_to(conn)
        };
        if let Err(reason) = end {
            broken = Some((reason, None));
            break;
        }
    }
    if let Some((reason, pending)) = broken {
        // The transaction is no longer trustworthy: roll everything back and fail every job
        // of the batch, including those that had succeeded (their changes are gone).
        tracing::error!(%reason, "write batch aborted");
        let _ = exec(conn, "ROLLBACK");
        for completion in completions {
            completion(Err(reason.clone()));
        }
        drop(pending);
        drop(jobs);
        return;
    }
    let commit = exec(conn, "COMMIT");
    if let Err(reason) = &commit {
        tracing::error!(%reason, "commit failed");
        let _ = exec(conn, "ROLLBACK");
    }
    for completion in completions {
        completion(commit.clone());
    }
}

fn rollback_to(conn: &Connection) -> Result<(), String> {
    exec(conn, "ROLLBACK TO job")?;
    exec(conn, "RELEASE job")
}
