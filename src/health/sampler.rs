//! The background sampler: about once a second it reads the machine's CPU, throng's and that
//! of every process throng started, hands the shares to the run's [`Sink`] (live line,
//! metrics, results) and keeps the totals and memory peaks a phase's cost needs.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::procfs;
use crate::metrics::{GeneratorSample, Sink};

/// How often and how deeply to sample.
#[derive(Clone, Copy, Debug)]
pub struct SamplerOptions {
    pub every: Duration,
    /// Sum the children's memory as PSS (exact for Chromium's shared pages, but the kernel
    /// walks their page tables); RSS otherwise.
    pub pss: bool,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        SamplerOptions {
            every: Duration::from_secs(1),
            pss: false,
        }
    }
}

/// What the generator used between [`Sampler::start`] and [`Sampler::finish`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GeneratorCost {
    /// throng's own user + system CPU seconds.
    pub cpu_self_s: f64,
    /// CPU seconds of the processes it started: the larger of the sampled live ones and the
    /// reaped ones (sampling misses a process's last interval; reaped totals only cover
    /// processes already waited for).
    pub cpu_children_s: f64,
    /// Peak resident memory of throng, MB.
    pub mem_self_mb: f64,
    /// Peak memory of the processes it started (PSS or RSS, see [`SamplerOptions::pss`]), MB.
    pub mem_children_mb: f64,
}

/// A running sampler thread; [`Sampler::finish`] stops it (dropping it stops it too).
pub struct Sampler {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Peaks>>,
    self0: (u64, u64),
    tps: f64,
}

#[derive(Default)]
struct Peaks {
    mem_self: f64,
    mem_children: f64,
    /// CPU ticks per descendant (pid, start) since the sampler started.
    children: HashMap<(u32, u64), u64>,
}

impl Sampler {
    /// Starts sampling; with a sink, every sample goes to it.
    pub fn start(sink: Option<Sink>, options: SamplerOptions) -> Sampler {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("throng-health".into())
            .spawn(move || sample_loop(sink, options, &stopped))
            .ok();
        Sampler {
            stop: Some(stop),
            thread,
            self0: procfs::self_ticks(),
            tps: procfs::ticks_per_s(),
        }
    }

    /// Stops sampling (one last sample is taken) and returns the cost since the start.
    pub fn finish(mut self) -> GeneratorCost {
        let (own, reaped) = procfs::self_ticks();
        drop(self.stop.take());
        let peaks = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let secs = |ticks: u64| ticks as f64 / self.tps;
        let sampled = secs(peaks.children.values().sum());
        GeneratorCost {
            cpu_self_s: secs(own.saturating_sub(self.self0.0)),
            cpu_children_s: sampled.max(secs(reaped.saturating_sub(self.self0.1))),
            mem_self_mb: peaks.mem_self,
            mem_children_mb: peaks.mem_children,
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sample_loop(sink: Option<Sink>, options: SamplerOptions, stopped: &mpsc::Receiver<()>) -> Peaks {
    let me = std::process::id();
    let cores = procfs::cores();
    let mut peaks = Peaks::default();
    let before: HashMap<(u32, u64), u64> = procfs::descendants(me)
        .into_iter()
        .map(|p| ((p.pid, p.start), p.cpu_ticks))
        .collect();
    let mut prev_children = before.clone();
    let mut prev_machine = procfs::machine_ticks();
    let mut prev_self = procfs::self_ticks().0;
    let mut last = Instant::now();
    loop {
        let stop = !matches!(
            stopped.recv_timeout(options.every),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        let now = Instant::now();
        let interval = now.duration_since(last);
        last = now;

        let own = procfs::self_ticks().0;
        let mut children_delta = 0u64;
        let mut children_now = HashMap::new();
        let mut mem_children = 0.0;
        for p in procfs::descendants(me) {
            let key = (p.pid, p.start);
            let prev = prev_children.get(&key).copied().unwrap_or(0);
            children_delta += p.cpu_ticks.saturating_sub(prev);
            let base = before.get(&key).copied().unwrap_or(0);
            peaks.children.insert(key, p.cpu_ticks.saturating_sub(base));
            children_now.insert(key, p.cpu_ticks);
            mem_children += if options.pss {
                procfs::pss_mb(p.pid)
            } else {
                procfs::rss_mb(p.pid)
            };
        }
        prev_children = children_now;
        peaks.mem_children = peaks.mem_children.max(mem_children);
        peaks.mem_self = peaks.mem_self.max(procfs::rss_mb(me));

        let machine = procfs::machine_ticks();
        if let (Some(sink), Some((busy0, total0)), Some((busy, total))) =
            (&sink, prev_machine, machine)
        {
            let dtotal = total.saturating_sub(total0);
            if dtotal > 0 {
                let share = |ticks: u64| (ticks as f64 / dtotal as f64).min(1.0);
                let sample = GeneratorSample {
                    t_ms: u64::try_from(sink.elapsed().as_millis()).unwrap_or(u64::MAX),
                    machine: share(busy.saturating_sub(busy0)),
                    throng: share(own.saturating_sub(prev_self)),
                    children: share(children_delta),
                };
                sink.record_generator(cores, sample, interval.as_secs_f64());
            }
        }
        prev_machine = machine;
        prev_self = own;
        if stop {
            return peaks;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_cpu_s() -> f64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    }

    #[test]
    fn samples_reach_the_sink_and_the_cost_counts_our_cpu() {
        let sink = Sink::new();
        let sampler = Sampler::start(
            Some(sink.clone()),
            SamplerOptions {
                every: Duration::from_millis(100),
                pss: true,
            },
        );
        // Spin until this thread has used 0.3 s of CPU (not of wall time: a loaded machine
        // may give it less than that in 450 ms), at most 20 s.
        let t0 = Instant::now();
        let mut x = 0u64;
        while (thread_cpu_s() < 0.3 || t0.elapsed() < Duration::from_millis(450))
            && t0.elapsed() < Duration::from_secs(20)
        {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let cost = sampler.finish();
        assert!(cost.cpu_self_s >= 0.2, "{cost:?}");
        assert!(cost.mem_self_mb > 1.0, "{cost:?}");
        let health = sink.generator().expect("samples");
        assert!(health.samples.len() >= 3, "{health:?}");
        // The shares, integrated over the sampling intervals, add up to the CPU time we used
        // (a share per sample depends on how busy the machine is; the integral does not).
        let mut integrated = 0.0;
        let mut last_ms = 0;
        for sample in &health.samples {
            let seconds = (sample.t_ms - last_ms) as f64 / 1000.0;
            integrated += sample.throng * seconds * f64::from(health.cores);
            last_ms = sample.t_ms;
        }
        let used = health.cpu_throng_s;
        assert!(used >= 0.2, "{health:?}");
        assert!(
            (integrated - used).abs() <= 0.3 * used + 0.05,
            "shares integrate to {integrated:.3} s, used {used:.3} s: {health:?}"
        );
        // The machine was at least as busy as we were, over the run (one 100 ms sample can be
        // off by a tick of each counter).
        let machine: f64 = health.samples.iter().map(|s| s.machine).sum();
        let ours: f64 = health.samples.iter().map(|s| s.throng).sum();
        assert!(machine >= ours * 0.9, "{health:?}");
        assert!(sink.live().generator.is_some());
    }
}
