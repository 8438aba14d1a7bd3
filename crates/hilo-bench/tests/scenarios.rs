//! The load tool against a real server (in this process, on a loopback port): each
//! scenario runs with small sizes and reports what it measured, without errors, losses
//! or duplicates. Figures are never asserted here (a shared machine is noisy); they belong
//! in docs/benchmarks.md.

use serde_json::Value;

async fn server() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = hilo::config::ServeArgs {
        store: hilo::config::StoreArgs {
            data_dir: Some(dir.path().to_owned()),
            ..Default::default()
        },
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let config = hilo::config::Config::load(&args).expect("config");
    let app = hilo::app::build(
        &config,
        hilo::app::BuildOptions {
            fast_password_hashing: true,
        },
    )
    .await
    .expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(hilo::app::serve(app, listener));
    (base, dir)
}

/// Runs the real `hilo-bench` binary; returns its JSON line.
async fn bench(base: &str, args: &[&str]) -> Value {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hilo-bench"));
    command.args(["--server", base]).args(args);
    let output = command.output().await.expect("hilo-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"))
}

#[tokio::test]
async fn send_scenarios_report_every_message() {
    let (base, _dir) = server().await;
    let seq = bench(&base, &["send-seq", "--messages", "40"]).await;
    assert_eq!(seq["latency"]["count"], 40, "{seq}");
    assert_eq!(seq["latency"]["errors"], 0, "{seq}");
    assert!(seq["per_second"].as_f64().is_some_and(|r| r > 0.0), "{seq}");
    assert!(seq["latency"]["p99_ms"].as_f64() >= seq["latency"]["p50_ms"].as_f64());

    let conc = bench(&base, &["send-conc", "--senders", "4", "--messages", "10"]).await;
    assert_eq!(conc["latency"]["count"], 40, "{conc}");
    assert_eq!(conc["latency"]["errors"], 0, "{conc}");
}

#[tokio::test]
async fn e2e_counts_every_delivery_once() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &["e2e", "--pairs", "3", "--rate", "50", "--seconds", "1"],
    )
    .await;
    assert_eq!(report["sent"], 50, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["latency"]["count"], 50, "{report}");
}

#[tokio::test]
async fn fanout_reaches_every_member_once() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &["fanout", "--members", "6", "--rate", "20", "--seconds", "1"],
    )
    .await;
    assert_eq!(report["sent"], 20, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["broken_streams"], 0, "{report}");
    // Five receivers, twenty messages each.
    assert_eq!(report["latency"]["count"], 100, "{report}");
}

#[tokio::test]
async fn history_pages_through_every_message() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &[
            "history",
            "--messages",
            "120",
            "--page",
            "50",
            "--passes",
            "2",
        ],
    )
    .await;
    // 120 messages in pages of 50: 3 pages a pass, each pass complete.
    assert_eq!(report["latency"]["count"], 6, "{report}");
    assert_eq!(report["latency"]["errors"], 0, "{report}");
    assert_eq!(report["incomplete_passes"], 0, "{report}");
}

#[tokio::test]
async fn search_fills_the_store_and_times_every_class_of_query() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &[
            "search",
            "--conversations",
            "3",
            "--others",
            "2",
            "--messages",
            "300",
            "--queries",
            "100",
            "--write-rate",
            "50",
        ],
    )
    .await;
    assert_eq!(report["latency"]["count"], 100, "{report}");
    assert_eq!(report["latency"]["errors"], 0, "{report}");
    assert_eq!(report["background_writes"]["errors"], 0, "{report}");
    let classes = report["by_class"].as_array().expect("by_class");
    assert_eq!(classes.len(), 6, "{report}");
    // Every class was asked, and the commonest words are in the searcher's messages.
    for class in classes {
        assert!(class["latency"]["count"].as_u64() > Some(0), "{report}");
    }
    assert!(classes[0]["mean_results"].as_f64() > Some(1.0), "{report}");
}

#[tokio::test]
async fn inbox_pages_through_every_conversation_and_times_the_first_page() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &[
            "inbox",
            "--conversations",
            "120",
            "--reads",
            "30",
            "--write-rate",
            "50",
        ],
    )
    .await;
    assert_eq!(report["latency"]["count"], 30, "{report}");
    assert_eq!(report["latency"]["errors"], 0, "{report}");
    // 120 conversations in pages of 50, each seen once (or the scenario fails).
    assert_eq!(report["every_page"]["count"], 3, "{report}");
    assert_eq!(report["background_writes"]["errors"], 0, "{report}");
}

#[tokio::test]
async fn idle_holds_connections_and_reads_server_memory() {
    let (base, _dir) = server().await;
    // The server runs in this process, so its memory is this process's.
    let pid = std::process::id().to_string();
    let report = bench(
        &base,
        &[
            "idle",
            "--pid",
            &pid,
            "--connections",
            "40",
            "--accounts",
            "3",
            "--settle",
            "0",
        ],
    )
    .await;
    assert_eq!(report["connected"], 40, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["rss_before_kib"].as_u64() > Some(0), "{report}");
    assert!(report["per_connection_kib"].as_f64().is_some(), "{report}");
}

#[tokio::test]
async fn a_scenario_against_no_server_fails_clearly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hilo-bench"))
        .args(["--server", &base, "send-seq", "--messages", "1"])
        .output()
        .await
        .expect("hilo-bench runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn ceilings_measure_http_and_durable_inserts() {
    let (base, dir) = server().await;
    let http = bench(
        &base,
        &["http-rate", "--connections", "4", "--seconds", "1"],
    )
    .await;
    assert!(http["latency"]["count"].as_u64() > Some(0), "{http}");
    assert_eq!(http["latency"]["errors"], 0, "{http}");

    let path = dir.path().join("ceiling.db");
    let inserts = bench(
        &base,
        &[
            "sqlite-inserts",
            "--path",
            path.to_str().expect("utf-8 path"),
            "--writers",
            "8",
            "--seconds",
            "1",
        ],
    )
    .await;
    assert_eq!(inserts["latency"]["errors"], 0, "{inserts}");
    let rows = inserts["latency"]["count"].as_u64().expect("count");
    let commits = inserts["commits"].as_u64().expect("commits");
    assert!(rows > 0 && commits > 0, "{inserts}");
    // Group commit: concurrent writers share commits.
    assert!(commits < rows, "{inserts}");
    // Every acknowledged row is in the file.
    let stored: i64 = rusqlite::Connection::open(&path)
        .expect("opens")
        .query_row("SELECT count(*) FROM rows", [], |row| row.get(0))
        .expect("counts");
    assert_eq!(u64::try_from(stored).ok(), Some(rows), "{inserts}");
}

#[tokio::test]
async fn server_cpu_is_measured_over_the_window() {
    let (base, _dir) = server().await;
    // The server runs in this test's process.
    let pid = std::process::id().to_string();
    let report = bench(
        &base,
        &["--server-pid", &pid, "send-seq", "--messages", "200"],
    )
    .await;
    let cpu = &report["server_cpu"];
    assert!(
        cpu["seconds"].as_f64().is_some_and(|s| s >= 0.0),
        "{report}"
    );
    assert!(cpu["ms_per_unit"].as_f64().is_some(), "{report}");
    assert!(cpu["cores_busy"].as_f64().is_some(), "{report}");
    // Without a pid there is nothing to measure, and the report says so.
    let report = bench(&base, &["send-seq", "--messages", "5"]).await;
    assert!(report["server_cpu"].is_null(), "{report}");
}

/// The actions the server's OpenAPI document does not offer yet, as `users` must report.
async fn missing_actions(base: &str) -> Vec<Value> {
    let spec: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let paths = spec["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    if !paths.keys().any(|p| p.contains("/reactions/")) {
        missing.push(Value::from("react"));
    }
    if !paths.contains_key("/api/v1/search/messages") {
        missing.push(Value::from("search"));
    }
    missing
}

#[tokio::test]
async fn users_ramps_in_steps_and_measures_every_action() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &[
            "users",
            "--start",
            "4",
            "--step",
            "4",
            "--max",
            "8",
            "--team",
            "4",
            "--step-seconds",
            "3",
            "--think",
            "0.05",
            // A generous limit: this test checks the ramp, not the machine's speed.
            "--p99-limit-ms",
            "60000",
        ],
    )
    .await;
    assert_eq!(report["supported_users"], 8, "{report}");
    assert!(report["stopped_by"].is_null(), "{report}");
    assert_eq!(
        report["unavailable_actions"],
        Value::from(missing_actions(&base).await),
        "{report}"
    );
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{report}");
    for (step, users) in steps.iter().zip([4, 8]) {
        assert_eq!(step["users"], users, "{step}");
        assert_eq!(step["errors"], 0, "{step}");
        for action in [
            "list_conversations",
            "open_conversation",
            "page_history",
            "send",
            "mark_read",
            "delivery",
        ] {
            let count = step["actions"][action]["count"].as_u64().unwrap_or(0);
            assert!(count > 0, "no {action} in {step}");
        }
        // Each step's new users connect inside its window.
        assert_eq!(step["actions"]["connect"]["count"], 4, "{step}");
    }
    assert!(report["messages_sent"].as_u64().is_some_and(|n| n > 0));
}

#[tokio::test]
async fn users_stops_at_the_first_step_over_the_limit() {
    let (base, _dir) = server().await;
    let report = bench(
        &base,
        &[
            "users",
            "--start",
            "2",
            "--step",
            "2",
            "--max",
            "6",
            "--team",
            "2",
            "--step-seconds",
            "1",
            "--think",
            "0.05",
            // No request answers in a microsecond: the first step fails.
            "--p99-limit-ms",
            "0.001",
        ],
    )
    .await;
    assert_eq!(report["supported_users"], 0, "{report}");
    assert_eq!(
        report["steps"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let reason = report["stopped_by"].as_str().unwrap_or("");
    assert!(reason.contains("p99"), "{report}");
}
