//! The live progress line: users, rps, p95, errors and a bar for the planned duration; on a
//! non-terminal stderr, one plain line every 5 seconds instead. It is drawn on stderr so that
//! stdout carries only results (the summary, or `--out -`).

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::LiveStats;

use crate::report::format;
use crate::sync::Locked;

/// Interval between plain lines when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

enum Draw {
    Bar(ProgressBar),
    /// Not a TTY: last time a line was printed.
    Plain(Mutex<Option<Instant>>),
    Hidden,
}

/// Drives the progress display; call [`Progress::tick`] about once a second.
pub struct Progress {
    draw: Draw,
    total: Option<Duration>,
}

impl Progress {
    /// A bar sized to `total` (a spinner when the run has no fixed length), drawn on stderr
    /// when it is a terminal; otherwise plain lines every 5 s.
    pub fn new(total: Option<Duration>) -> Self {
        let draw = if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(t) => ProgressBar::with_draw_target(
                    Some(t.as_secs().max(1)),
                    ProgressDrawTarget::stderr(),
                )
                .with_style(
                    ProgressStyle::with_template("{elapsed_precise} [{bar:28}] {msg}")
                        .expect("static template")
                        .progress_chars("=> "),
                ),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                            .expect("static template"),
                    ),
            };
            Draw::Bar(bar)
        } else {
            Draw::Plain(Mutex::new(None))
        };
        Progress { draw, total }
    }

    /// Draws nothing (tests, `--quiet`).
    pub fn hidden() -> Self {
        Progress {
            draw: Draw::Hidden,
            total: None,
        }
    }

    /// The status text for a snapshot: "users 50 | 812.3 req/s | p95 41.2 ms | errors 3 (0.10%)".
    pub fn message(live: &LiveStats) -> String {
        let rate = if live.requests == 0 {
            0.0
        } else {
            live.errors as f64 / live.requests as f64
        };
        let mut line = format!(
            "users {} | {} req/s | p95 {} ms | errors {} ({})",
            live.users,
            format::rate(live.rps),
            format::opt_ms(live.p95_ms),
            format::count(live.errors),
            format::pct(rate)
        );
        match live.generator {
            Some(g) if g.saturated() => line.push_str(&format!(
                " | ! generator saturated: CPU {:.0}% (throng + browsers {:.0}%)",
                g.machine * 100.0,
                g.generator() * 100.0
            )),
            Some(g) if g.crowded() => line.push_str(&format!(
                " | ! machine CPU {:.0}%, mostly other processes",
                g.machine * 100.0
            )),
            _ => {}
        }
        line
    }

    /// The plain (non-TTY) line: elapsed, optional planned total, then the message.
    pub fn plain_line(live: &LiveStats, total: Option<Duration>) -> String {
        let elapsed = format::duration(live.elapsed);
        match total {
            Some(t) => format!(
                "[{elapsed} / {}] {}",
                format::duration(t),
                Self::message(live)
            ),
            None => format!("[{elapsed}] {}", Self::message(live)),
        }
    }

    pub fn tick(&self, live: &LiveStats) {
        match &self.draw {
            Draw::Bar(bar) => {
                if let Some(t) = self.total {
                    bar.set_position(live.elapsed.as_secs().min(t.as_secs().max(1)));
                } else {
                    bar.tick();
                }
                bar.set_message(Self::message(live));
            }
            Draw::Plain(last) => {
                let mut last = last.locked();
                let now = Instant::now();
                let due = match *last {
                    None => live.elapsed >= PLAIN_EVERY,
                    Some(at) => now.duration_since(at) >= PLAIN_EVERY,
                };
                if due {
                    *last = Some(now);
                    eprintln!("{}", Self::plain_line(live, self.total));
                }
            }
            Draw::Hidden => {}
        }
    }

    /// Remove the bar (the summary follows).
    pub fn finish(&self) {
        if let Draw::Bar(bar) = &self.draw {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::GeneratorSample;

    #[test]
    fn lines_show_users_rate_p95_and_errors() {
        let live = LiveStats {
            elapsed: Duration::from_secs(75),
            users: 50,
            rps: 812.34,
            p95_ms: Some(41.234),
            errors: 3,
            requests: 3000,
            generator: None,
        };
        assert_eq!(
            Progress::message(&live),
            "users 50 | 812.3 req/s | p95 41.2 ms | errors 3 (0.10%)"
        );
        assert_eq!(
            Progress::plain_line(&live, Some(Duration::from_secs(300))),
            "[1m 15s / 5m 00s] users 50 | 812.3 req/s | p95 41.2 ms | errors 3 (0.10%)"
        );
        let busy = |throng, children| LiveStats {
            generator: Some(GeneratorSample {
                t_ms: 75_000,
                machine: 0.97,
                throng,
                children,
            }),
            ..live.clone()
        };
        assert!(Progress::message(&busy(0.05, 0.9))
            .ends_with(" | ! generator saturated: CPU 97% (throng + browsers 95%)"));
        assert!(Progress::message(&busy(0.05, 0.1))
            .ends_with(" | ! machine CPU 97%, mostly other processes"));
        let p = Progress::hidden();
        p.tick(&live);
        p.finish();
    }
}
