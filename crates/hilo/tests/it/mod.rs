//! hilo's integration tests: the real server over real TCP (HTTP and WebSocket) with a
//! temporary data dir and database, and the real binary for restarts, `kill -9`, signals
//! and the CLI. One module per area. The suite is compiled into two test binaries,
//! `tests/sqlite.rs` and `tests/postgres.rs`, one per store backend: one suite, run twice.

mod accounts;
mod attachments;
mod authz;
mod bad_input;
mod conversations;
mod crash;
mod events;
mod mail;
mod messages;
mod moderation;
mod multinode;
mod process;
mod properties;
mod rich;
mod search;
mod security;
mod server;
mod sms;
mod social;
mod spam;
pub mod support;
mod tidy;
