//! The web client's browser tests (`web/tests/*.test.mjs`), run from `cargo test` so the
//! one test command covers them: Node's test runner drives Debian's Chromium through
//! playwright-core against the binary cargo just built (its path goes in `HILO_BIN`).
//!
//! They need `node`, Chromium (`HILO_TEST_CHROMIUM`, default `/usr/bin/chromium`) and
//! `web/tests/node_modules` (`npm ci` there). `.ci/run` installs all three; without them
//! the test is skipped with a notice, except under `CI=true`, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn missing() -> Vec<String> {
    let mut missing = Vec::new();
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        missing.push("node".to_owned());
    }
    let chromium = std::env::var_os("HILO_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        missing.push(format!("Chromium at {}", chromium.display()));
    }
    if !tests_dir()
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("web/tests/node_modules (npm ci in web/tests)".to_owned());
    }
    missing
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/tests")
}

#[test]
fn web_client_in_chromium() {
    let missing = missing();
    if !missing.is_empty() {
        let what = missing.join(", ");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the browser tests need {what} (CI=true: not skipping)");
        }
        eprintln!("NOTICE: skipping the browser tests: {what} missing");
        return;
    }
    let mut files: Vec<String> = std::fs::read_dir(tests_dir())
        .expect("web/tests is readable")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no browser tests found in web/tests");
    let status = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg("--test-concurrency=1")
        .args(&files)
        .current_dir(tests_dir())
        .env("HILO_BIN", env!("CARGO_BIN_EXE_hilo"))
        .status()
        .expect("node runs");
    assert!(status.success(), "browser tests failed (output above)");
}
