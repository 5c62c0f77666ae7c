//! The load generator's own health: per-second CPU of the machine, of throng and of the
//! processes it started (Chromium), and the verdict on whether the generator was saturated
//! (then the latencies measure the generator as much as the target).

use serde::{Deserialize, Serialize};

use super::summary::round3;

/// Machine CPU (all cores) at or above which a second counts as busy.
pub const BUSY_MACHINE: f64 = 0.90;
/// A busy second is the generator's own doing when throng and its processes use at least this
/// share of what the machine used; otherwise other processes crowded it.
pub const GENERATOR_SHARE: f64 = 0.5;
/// Saturated seconds that make a run saturated (one alone can be a browser starting).
pub const SATURATED_RUN_SECONDS: usize = 2;
/// Seconds averaged for the peak generator CPU (smooths start-up spikes).
const PEAK_WINDOW: usize = 3;

/// One sample: CPU used over about a second, each as a share (0..1) of the whole machine.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct GeneratorSample {
    /// Elapsed run time at the end of the sample.
    pub t_ms: u64,
    /// The machine, every process.
    pub machine: f64,
    /// throng itself.
    pub throng: f64,
    /// Every process throng started (Chromium's browser, renderers, GPU and network processes).
    pub children: f64,
}

impl GeneratorSample {
    /// throng plus its processes.
    pub fn generator(&self) -> f64 {
        self.throng + self.children
    }

    /// The machine was busy and the generator was most of it.
    pub fn saturated(&self) -> bool {
        self.machine >= BUSY_MACHINE && self.generator() >= GENERATOR_SHARE * self.machine
    }

    /// The machine was busy, mostly with other processes.
    pub fn crowded(&self) -> bool {
        self.machine >= BUSY_MACHINE && !self.saturated()
    }

    fn rounded(self) -> Self {
        GeneratorSample {
            t_ms: self.t_ms,
            machine: round3(self.machine),
            throng: round3(self.throng),
            children: round3(self.children),
        }
    }
}

/// What the sampler saw over a run (in results.json as `summary.generator`).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct GeneratorHealth {
    /// Cores of the machine.
    pub cores: u32,
    /// Per-second samples.
    pub samples: Vec<GeneratorSample>,
    /// Seconds (elapsed, rounded) in which the generator saturated the machine.
    pub saturated_seconds: Vec<u64>,
    /// Seconds in which the machine was busy with other processes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crowded_seconds: Vec<u64>,
    /// Highest 3-second mean of throng + its processes, share of the machine.
    pub peak_cpu: f64,
    /// CPU seconds used by throng and by its processes over the samples.
    pub cpu_throng_s: f64,
    pub cpu_children_s: f64,
}

impl GeneratorHealth {
    /// Builds the verdict from the samples.
    pub fn from_samples(cores: u32, samples: &[GeneratorSample], interval_s: &[f64]) -> Self {
        let second = |s: &GeneratorSample| (s.t_ms + 500) / 1000;
        let mut peak: f64 = 0.0;
        for w in samples.windows(PEAK_WINDOW.min(samples.len()).max(1)) {
            let mean = w.iter().map(GeneratorSample::generator).sum::<f64>() / w.len() as f64;
            peak = peak.max(mean);
        }
        let cpu = |f: fn(&GeneratorSample) -> f64| {
            samples
                .iter()
                .zip(interval_s)
                .map(|(s, secs)| f(s) * secs * f64::from(cores))
                .sum::<f64>()
        };
        GeneratorHealth {
            cores,
            saturated_seconds: samples
                .iter()
                .filter(|s| s.saturated())
                .map(second)
                .collect(),
            crowded_seconds: samples.iter().filter(|s| s.crowded()).map(second).collect(),
            peak_cpu: round3(peak),
            cpu_throng_s: round3(cpu(|s| s.throng)),
            cpu_children_s: round3(cpu(|s| s.children)),
            samples: samples.iter().map(|s| s.rounded()).collect(),
        }
    }

    /// The generator was saturated long enough to matter.
    pub fn saturated(&self) -> bool {
        self.saturated_seconds.len() >= SATURATED_RUN_SECONDS
    }

    /// Mean machine CPU over the saturated seconds, else over the run.
    fn machine_mean(&self, saturated_only: bool) -> f64 {
        let chosen: Vec<&GeneratorSample> = self
            .samples
            .iter()
            .filter(|s| !saturated_only || s.saturated())
            .collect();
        if chosen.is_empty() {
            return 0.0;
        }
        chosen.iter().map(|s| s.machine).sum::<f64>() / chosen.len() as f64
    }

    /// The same health with every time `ms` later (a run that started later in a merge).
    pub fn shifted(&self, ms: u64) -> GeneratorHealth {
        let mut g = self.clone();
        for s in &mut g.samples {
            s.t_ms += ms;
        }
        let secs = (ms + 500) / 1000;
        for list in [&mut g.saturated_seconds, &mut g.crowded_seconds] {
            for t in list.iter_mut() {
                *t += secs;
            }
        }
        g
    }

    /// Combine two runs' health (a merged summary): samples side by side, the worse peak.
    pub fn merge(&mut self, other: &GeneratorHealth) {
        self.cores = self.cores.max(other.cores);
        self.samples.extend_from_slice(&other.samples);
        self.samples.sort_by_key(|s| s.t_ms);
        for (into, from) in [
            (&mut self.saturated_seconds, &other.saturated_seconds),
            (&mut self.crowded_seconds, &other.crowded_seconds),
        ] {
            into.extend_from_slice(from);
            into.sort_unstable();
            into.dedup();
        }
        self.peak_cpu = self.peak_cpu.max(other.peak_cpu);
        self.cpu_throng_s = round3(self.cpu_throng_s + other.cpu_throng_s);
        self.cpu_children_s = round3(self.cpu_children_s + other.cpu_children_s);
    }

    /// One line for the summary: the peak, and when saturated which seconds and what to do.
    /// `page_loads` (the run's) gives the measured CPU per page load.
    pub fn verdict(&self, page_loads: u64) -> String {
        let browsers = if self.cpu_children_s > 0.0 {
            format!(", its browsers {:.1} s", self.cpu_children_s)
        } else {
            String::new()
        };
        let per_load = if page_loads > 0 && self.cpu_children_s > 0.0 {
            format!(
                "; {:.0} ms of CPU per page load",
                (self.cpu_throng_s + self.cpu_children_s) * 1000.0 / page_loads as f64
            )
        } else {
            String::new()
        };
        let peak = format!(
            "CPU peak {:.0}% of {} core{} (throng {:.1} s{browsers} of CPU{per_load})",
            self.peak_cpu * 100.0,
            self.cores,
            if self.cores == 1 { "" } else { "s" },
            self.cpu_throng_s,
        );
        let mut line = if self.saturated() {
            format!(
                "! generator saturated for {} s at {}: machine CPU {:.0}%, {peak}. The latencies \
                 measure the generator as well as the target: run fewer users per machine, or \
                 spread them over more machines",
                self.saturated_seconds.len(),
                seconds_text(&self.saturated_seconds),
                self.machine_mean(true) * 100.0
            )
        } else {
            format!("generator: not saturated, {peak}")
        };
        if !self.crowded_seconds.is_empty() {
            line.push_str(&format!(
                "; ! the machine was busy with other processes for {} s at {}",
                self.crowded_seconds.len(),
                seconds_text(&self.crowded_seconds)
            ));
        }
        line
    }
}

/// "3-7 s, 12 s": runs of consecutive seconds.
pub fn seconds_text(seconds: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seconds.len() {
        let start = seconds[i];
        let mut end = start;
        while i + 1 < seconds.len() && seconds[i + 1] == end + 1 {
            i += 1;
            end = seconds[i];
        }
        parts.push(if end == start {
            format!("{start} s")
        } else {
            format!("{start}-{end} s")
        });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: u64, machine: f64, throng: f64, children: f64) -> GeneratorSample {
        GeneratorSample {
            t_ms: t * 1000,
            machine,
            throng,
            children,
        }
    }

    #[test]
    fn saturated_only_when_the_machine_is_busy_with_the_generator() {
        assert!(s(1, 0.97, 0.05, 0.85).saturated());
        assert!(!s(1, 0.97, 0.05, 0.2).saturated(), "others' load");
        assert!(s(1, 0.97, 0.05, 0.2).crowded());
        assert!(!s(1, 0.6, 0.1, 0.5).saturated());
        assert!(!s(1, 0.6, 0.1, 0.5).crowded());
    }

    #[test]
    fn a_run_is_saturated_from_two_seconds_and_says_which() {
        let samples = [
            s(1, 0.99, 0.1, 0.85),
            s(2, 0.97, 0.05, 0.9),
            s(3, 0.96, 0.05, 0.9),
            s(4, 0.4, 0.05, 0.3),
            s(5, 0.99, 0.05, 0.1),
        ];
        let h = GeneratorHealth::from_samples(2, &samples, &[1.0; 5]);
        assert_eq!(h.saturated_seconds, vec![1, 2, 3]);
        assert_eq!(h.crowded_seconds, vec![5]);
        assert!(h.saturated());
        assert!((h.peak_cpu - 0.95).abs() < 0.001, "{}", h.peak_cpu);
        assert!(
            (h.cpu_children_s - 6.1).abs() < 1e-9,
            "{}",
            h.cpu_children_s
        );
        let v = h.verdict(20);
        assert!(
            v.starts_with("! generator saturated for 3 s at 1-3 s"),
            "{v}"
        );
        assert!(
            v.contains("(throng 0.6 s, its browsers 6.1 s of CPU; 335 ms of CPU per page load)"),
            "{v}"
        );
        assert!(
            v.contains("busy with other processes for 1 s at 5 s"),
            "{v}"
        );
        let one = GeneratorHealth::from_samples(2, &samples[3..5], &[1.0; 2]);
        assert!(!one.saturated(), "a single second is a start-up spike");
        assert!(one.verdict(1).starts_with("generator: not saturated"));
    }

    #[test]
    fn merged_runs_keep_their_seconds_on_one_clock() {
        let a = GeneratorHealth::from_samples(
            2,
            &[s(1, 0.99, 0.1, 0.85), s(2, 0.99, 0.1, 0.85)],
            &[1.0; 2],
        );
        let mut m = a.clone();
        m.merge(&a.shifted(10_000));
        assert_eq!(m.saturated_seconds, vec![1, 2, 11, 12]);
        assert_eq!(m.samples.last().unwrap().t_ms, 12_000);
        assert!((m.cpu_children_s - 2.0 * a.cpu_children_s).abs() < 1e-9);
    }

    #[test]
    fn seconds_collapse_into_ranges() {
        assert_eq!(seconds_text(&[1, 2, 3, 7, 9, 10]), "1-3 s, 7 s, 9-10 s");
        assert_eq!(seconds_text(&[]), "");
    }
}
