//! The `hilo` binary's library half: configuration, the composition root and the CLI, so
//! integration tests start exactly what `main` starts.
//!
//! Only this crate reads the environment, files and argv (architecture invariant 4).
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
