//! A read cancelled at any moment (a client hanging up mid-request) leaves no connection of
//! the pool inside its transaction: every write after it succeeds. Runs against
//! `HILO_TEST_DATABASE_URL` on a database of its own; skipped without it, except under CI.

use std::time::Duration;

use hilo_core::{ConversationId, Timestamp, UserId};
use hilo_store::{ConversationStore, LimitStore};
use hilo_store_postgres::{PostgresOptions, PostgresStore};
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cancelled_mid_begin_leave_no_transaction_behind() {
    let Ok(url) = std::env::var("HILO_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "HILO_TEST_DATABASE_URL is required under CI"
        );
        eprintln!("skipped: HILO_TEST_DATABASE_URL is not set");
        return;
    };
    let name = format!("hilo_cancel_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let store = PostgresStore::connect(
        &format!("{base}/{name}"),
        PostgresOptions {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await
    .expect("store");
    let (id, user) = (ConversationId::new("c"), UserId::new("u"));
    // Reads dropped after 0 to 1.5 ms (polled in a loop that yields to the runtime, so
    // the cut falls anywhere: before the BEGIN is sent, while its answer is on the way,
    // or later).
    for n in 0..600_u64 {
        let cut = std::time::Instant::now() + Duration::from_micros((n * 7_919) % 1_500);
        // A boxed future (async_trait): dropping it is the cancellation.
        let mut read = store.conversation_view(&id, &user);
        loop {
            let ready = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(read.as_mut().poll(cx).is_ready())
            })
            .await;
            if ready || std::time::Instant::now() >= cut {
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(read);
        // A write right after: a leftover read-only transaction on its connection (one
        // of two) would refuse it.
        store
            .bump(&format!("n{n}"), 60_000, false, Timestamp(1_000))
            .await
            .expect("a write after a cancelled read");
    }
    // Each write takes one of the pool's connections; a leftover read-only transaction
    // would refuse it.
    for n in 0..20 {
        store
            .bump(&format!("k{n}"), 60_000, false, Timestamp(1_000))
            .await
            .expect("a write after cancelled reads");
    }
    drop(store);
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
}
