//! The `throng` binary: parses arguments and hands over to the library.

/// mimalloc returns freed memory to the system within milliseconds; glibc's malloc keeps the
/// peak of a burst (thousands of users' responses arriving at once after a stall) for the rest
/// of the run, so a long run's RSS would only ever step up (measured: bench/http-memory.sh).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    throng::app::main()
}
