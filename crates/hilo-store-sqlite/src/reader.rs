//! The reader threads: a few OS threads, each owning one connection, that run whole read
//! operations (every query of a conversation list, say) for async callers. An operation
//! costs one hand-off to a reader and one answer back, however many statements it runs;
//! WAL lets readers proceed while the writer commits.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use hilo_store::StoreResult;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::db::closed;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The channel to the threads (`None` once closed) and the threads themselves.
struct Shared {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

/// A handle to the reader threads.
#[derive(Clone)]
pub(crate) struct Readers {
    shared: Arc<Mutex<Shared>>,
}

impl Readers {
    /// Opens `count` connections, each on its own thread.
    pub(crate) async fn start(
        path: &Path,
        synchronous_full: bool,
        count: usize,
    ) -> StoreResult<Readers> {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let receiver = receiver.clone();
            threads.push(
                crate::db::spawn_with_connection(
                    format!("hilo-sqlite-read-{n}"),
                    path,
                    synchronous_full,
                    move |conn| serve(&conn, &receiver),
                )
                .await?,
            );
        }
        Ok(Readers {
            shared: Arc::new(Mutex::new(Shared {
                jobs: Some(jobs),
                threads,
            })),
        })
    }

    /// Runs `work` on a reader connection and returns its result.
    pub(crate) async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = sender.send(work(conn));
        });
        {
            let shared = self.shared.lock().map_err(|_| closed())?;
            shared
                .jobs
                .as_ref()
                .ok_or_else(closed)?
                .send(job)
                .map_err(|_| closed())?;
        }
        receiver.await.map_err(|_| closed())?
    }

    /// Stops taking jobs and waits until each thread has finished what was queued (a
    /// backup, say) and closed its connection.
    pub(crate) async fn close(&self) {
        let threads = match self.shared.lock() {
            Ok(mut shared) => {
                shared.jobs.take();
                std::mem::take(&mut shared.threads)
            }
            Err(_) => return,
        };
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }
}

/// Runs jobs until the channel closes. A panicking job loses only its own answer (its
/// caller sees `Unavailable`); the thread goes on.
fn serve(conn: &Connection, receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a read job panicked");
            // A job that panicked inside a read transaction (`db::in_snapshot`) left it
            // open: end it, or every later job on this thread would fail to begin its own.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
}
