//! Command-line interface: clap arguments, validated config, subcommand dispatch.

use std::process::ExitCode;

/// Entry point used by the binary.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
