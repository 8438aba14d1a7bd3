//! Tidy checks on the source tree itself.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    assert!(files.len() > 20, "found the sources ({})", files.len());
    let undocumented: Vec<_> = files
        .iter()
        .filter(|path| {
            !std::fs::read_to_string(path)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a leading //! comment: {undocumented:?}"
    );
}

fn migration_files(store: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(store)
        .join("migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_carry_the_same_migrations() {
    let sqlite = migration_files("hilo-store-sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite,
        migration_files("hilo-store-postgres"),
        "every schema change is written for both backends, under the same file name"
    );
    // Each store embeds its list by hand; a file not listed there would never run.
    for store in ["hilo-store-sqlite", "hilo-store-postgres"] {
        let lib = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(store)
                .join("src/lib.rs"),
        )
        .expect("lib.rs");
        for file in &sqlite {
            assert!(
                lib.contains(&format!("../migrations/{file}")),
                "{store} does not embed {file}"
            );
        }
    }
}
