//! The integration suite (`tests/it`) against the embedded SQLite store.

const BACKEND: it::support::Backend = it::support::Backend::Sqlite;

mod it;
