//! `hilo`: the server binary. See `cli` for the subcommands.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    hilo::cli::main()
}
