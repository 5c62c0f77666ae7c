//! Command-line interface: clap arguments, validated into one typed run configuration. Nothing
//! here runs load: the application layer (`app`) does.

pub mod args;
pub mod config;
pub mod flows;

pub use args::Cli;
pub use config::InputError;
