//! The reader threads: a few OS threads, each owning one connection, that run whole read
//! operations (every query of a conversation list, say) for async callers. An operation
//! costs one hand-off to a reader and one answer back, however many statements it runs;
//! WAL lets readers proceed while the writer commits.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use hilo_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// A handle to the reader threads; they stop when every handle is gone or on `close`.
#[derive(Clone)]
pub(crate) struct Readers {
    jobs: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
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
        for n in 0..count.max(1) {
            let (opened, open_result) = oneshot::channel();
            let (path, receiver) = (path.to_owned(), receiver.clone());
            std::thread::Builder::new()
                .name(format!("hilo-sqlite-read-{n}"))
                .spawn(move || match crate::db::open(&path, synchronous_full) {
                    Ok(conn) => {
                        let _ = opened.send(Ok(()));
                        serve(&conn, &receiver);
                    }
                    Err(error) => {
                        let _ = opened.send(Err(error));
                    }
                })
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            open_result.await.map_err(|_| closed())??;
        }
        Ok(Readers {
            jobs: Arc::new(Mutex::new(Some(jobs))),
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
            let jobs = self.jobs.lock().map_err(|_| closed())?;
            jobs.as_ref()
                .ok_or_else(closed)?
                .send(job)
                .map_err(|_| closed())?;
        }
        receiver.await.map_err(|_| closed())?
    }

    /// Stops taking jobs; each thread finishes what is queued, closes its connection and
    /// exits.
    pub(crate) fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
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
        }
    }
}
