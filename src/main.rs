//! The `throng` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    throng::cli::main()
}
