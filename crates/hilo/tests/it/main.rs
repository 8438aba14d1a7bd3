//! hilo's integration tests: the real server over real TCP (HTTP and WebSocket) with a
//! temporary data dir, and the real binary for restarts, `kill -9`, signals and the CLI.
//! One test binary (faster to link than one per file); one module per area.

mod accounts;
mod bad_input;
mod conversations;
mod events;
mod messages;
mod multinode;
mod process;
mod server;
mod support;
mod tidy;
