//! `throng compare`: the side-by-side model of an HTTP-mode and a browser-mode run of the same
//! flow and plan (rates per user-minute by kind, latencies per kind and per name, page loads,
//! what the target saw, the generator's own cost) and its terminal and HTML renderings.
//!
//! Per-mode facts a merged RunSummary cannot hold (each mode's duration, user-time and
//! generator cost) are typed [`ModeFacts`] in the run's metadata (results.json `meta`), so
//! `throng report results.json` rebuilds the same comparison from saved results.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

mod render;

pub use render::{render_html_section, render_text};

use serde::{Deserialize, Serialize};

use crate::metrics::{new_histogram, EntrySummary, LatencyStats, Mode, RunSummary, SampleKind};

/// Request kinds shown as rows, in order.
const KINDS: [SampleKind; 8] = SampleKind::REQUESTS;

/// What generating the load cost this machine during one mode's run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeCost {
    /// CPU seconds (user + system) of throng itself.
    pub cpu_self_s: f64,
    /// CPU seconds of the processes throng started (the Chromium processes).
    pub cpu_children_s: f64,
    /// Peak resident memory of throng, MB.
    pub mem_self_mb: f64,
    /// Peak memory (proportional set size where known) of the processes throng started, MB.
    pub mem_children_mb: f64,
    /// Both modes ran at once: throng's own CPU and memory are shared, not this mode's alone.
    pub shared: bool,
}

impl ModeCost {
    pub fn cpu_s(&self) -> f64 {
        self.cpu_self_s + self.cpu_children_s
    }

    pub fn mem_mb(&self) -> f64 {
        self.mem_self_mb + self.mem_children_mb
    }
}

/// Per-mode facts kept beside the entries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeFacts {
    pub mode: Mode,
    pub duration_ms: u64,
    /// Integral of active users over time (user-milliseconds).
    pub user_ms: u64,
    pub peak_users: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ModeCost>,
    /// Connections the mode opened to the target, by protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Connections>,
}

/// Connections opened during one mode's run (counters `connections.PROTOCOL.HOST:PORT`,
/// all origins) and the users that opened them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connections {
    pub users: u64,
    pub http1: u64,
    pub h2: u64,
}

impl Connections {
    fn of_run(summary: &RunSummary) -> Option<Self> {
        let sum = |protocol: &str| {
            let prefix = format!("connections.{protocol}.");
            summary
                .counters
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v)
                .sum::<u64>()
        };
        let users = summary.counters.get("users.started").copied().unwrap_or(0);
        let c = Connections {
            users,
            http1: sum("http1"),
            h2: sum("h2"),
        };
        (users > 0 && c.http1 + c.h2 > 0).then_some(c)
    }

    /// Connections per user of one protocol.
    pub fn per_user(&self, n: u64) -> f64 {
        n as f64 / self.users.max(1) as f64
    }
}

impl ModeFacts {
    /// Duration, user-time and peak users of a single-mode run.
    pub fn of_run(mode: Mode, summary: &RunSummary) -> Self {
        // A hybrid run counted each mode's users (the series has only their sum).
        let lane = |what| summary.counters.get(&mode.users_counter(what)).copied();
        ModeFacts {
            mode,
            duration_ms: u64::try_from(summary.duration.as_millis()).unwrap_or(u64::MAX),
            user_ms: lane("user_ms")
                .unwrap_or_else(|| summary.series.iter().map(|s| s.users * s.interval_ms).sum()),
            peak_users: lane("peak").unwrap_or(summary.peak_users),
            cost: None,
            connections: Connections::of_run(summary),
        }
    }

    pub fn user_minutes(&self) -> f64 {
        self.user_ms as f64 / 60_000.0
    }
}

/// One kind's totals in one mode.
#[derive(Clone, Debug, PartialEq)]
pub struct KindStats {
    pub kind: SampleKind,
    pub count: u64,
    pub failures: u64,
    pub per_user_minute: f64,
    pub latency: LatencyStats,
}

/// One request name's totals in one mode (all steps and flows merged).
#[derive(Clone, Debug, PartialEq)]
pub struct NameStats {
    /// Kinds the name was counted under ("ajax", "polling"...).
    pub kinds: Vec<SampleKind>,
    pub count: u64,
    pub failures: u64,
    pub per_user_minute: f64,
    pub latency: LatencyStats,
}

/// One mode's column of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeSide {
    pub mode: Mode,
    pub facts: ModeFacts,
    pub kinds: Vec<KindStats>,
    pub names: BTreeMap<String, NameStats>,
    pub page_load: Option<LatencyStats>,
    pub page_loads: u64,
    /// Each web vital measured in this mode at p75, in its unit (ms or a score).
    pub vitals: Vec<(SampleKind, f64)>,
    pub requests: u64,
    pub failures: u64,
    /// Requests that reached the target (refused and blocked ones did not), per second.
    pub target_rps: f64,
    /// Response bytes the target sent, per second.
    pub target_bytes_per_s: f64,
}

impl ModeSide {
    fn build(summary: &RunSummary, mode: Mode, facts: ModeFacts) -> Self {
        let entries: Vec<&EntrySummary> =
            summary.entries.iter().filter(|e| e.mode == mode).collect();
        let user_min = facts.user_minutes();
        let per_min = |n: u64| {
            if user_min > 0.0 {
                n as f64 / user_min
            } else {
                0.0
            }
        };
        let kinds = KINDS
            .iter()
            .map(|&kind| {
                let t = summary.total(Some(mode), Some(kind));
                KindStats {
                    kind,
                    count: t.count,
                    failures: t.failures,
                    per_user_minute: per_min(t.count),
                    latency: t.stats(),
                }
            })
            .filter(|k| {
                k.count > 0
                    || !matches!(
                        k.kind,
                        SampleKind::Beacon
                            | SampleKind::Other
                            | SampleKind::EventSource
                            | SampleKind::WebSocket
                    )
            })
            .collect();
        let mut names: BTreeMap<String, (BTreeSet<SampleKind>, u64, u64, Histogram<u64>)> =
            BTreeMap::new();
        let (mut requests, mut failures, mut unreached, mut bytes) = (0, 0, 0, 0);
        for e in entries.iter().filter(|e| e.kind.is_request()) {
            requests += e.count;
            failures += e.failures;
            bytes += e.bytes;
            unreached += ["refused", "blocked"]
                .iter()
                .filter_map(|l| e.failures_by_outcome.get(*l))
                .sum::<u64>();
            let slot = names
                .entry(e.name.clone())
                .or_insert_with(|| (BTreeSet::new(), 0, 0, new_histogram()));
            slot.0.insert(e.kind);
            slot.1 += e.count;
            slot.2 += e.failures;
            if let Ok(h) = e.histogram() {
                // Standard layout on both sides: adding cannot overflow the bounds.
                let _ = slot.3.add(&h);
            }
        }
        let names = names
            .into_iter()
            .map(|(name, (kinds, count, fails, hist))| {
                let stats = NameStats {
                    kinds: kinds.into_iter().collect(),
                    count,
                    failures: fails,
                    per_user_minute: per_min(count),
                    latency: LatencyStats::of(&hist),
                };
                (name, stats)
            })
            .collect();
        let pl = summary.total(Some(mode), Some(SampleKind::PageLoad));
        let secs = facts.duration_ms as f64 / 1000.0;
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        ModeSide {
            mode,
            facts,
            kinds,
            names,
            page_load: (pl.count > 0).then(|| pl.stats()),
            page_loads: pl.count,
            vitals: SampleKind::VITALS
                .into_iter()
                .filter_map(|k| Some((k, super::vitals::p75(summary, mode, k)?)))
                .collect(),
            requests,
            failures,
            target_rps: per_s(requests - unreached),
            target_bytes_per_s: per_s(bytes),
        }
    }

    pub fn kind(&self, kind: SampleKind) -> Option<&KindStats> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Static requests that reached the target per page (page loads, or documents where a
    /// mode has no page-load samples); None without pages.
    pub fn static_per_page(&self) -> Option<f64> {
        let statics = self.kind(SampleKind::Static).map_or(0, |k| k.count);
        let documents = self.kind(SampleKind::Document).map_or(0, |k| k.count);
        let pages = if self.page_loads > 0 {
            self.page_loads
        } else {
            documents
        };
        (pages > 0).then(|| statics as f64 / pages as f64)
    }

    /// CPU seconds per user-minute of load generated.
    pub fn cpu_per_user_minute(&self) -> Option<f64> {
        let c = self.facts.cost?;
        let um = self.facts.user_minutes();
        (um > 0.0).then(|| c.cpu_s() / um)
    }

    /// Peak memory per concurrent virtual user, MB.
    pub fn mem_per_user_mb(&self) -> Option<f64> {
        let c = self.facts.cost?;
        (self.facts.peak_users > 0).then(|| c.mem_mb() / self.facts.peak_users as f64)
    }
}

/// A name one mode requested and the other never did.
#[derive(Clone, Debug, PartialEq)]
pub struct OnlyIn {
    pub name: String,
    pub kinds: Vec<SampleKind>,
    pub count: u64,
    pub per_user_minute: f64,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub http: ModeSide,
    pub browser: ModeSide,
    /// Requests the browsers sent that the HTTP replay never did, by name.
    pub missing_from_http: Vec<OnlyIn>,
    /// Requests the HTTP replay sent that no browser did.
    pub missing_from_browser: Vec<OnlyIn>,
    /// Differences between the modes that make HTTP-mode load unlike the browsers' (one
    /// sentence each), e.g. static requests per page far apart.
    pub warnings: Vec<String>,
    /// One hybrid run (`run --browsers`): both modes' users at once, under one load.
    pub hybrid: bool,
}

/// Static requests per page in HTTP mode over the browsers' outside this range: the HTTP
/// replay fetches assets unlike a browser (caching, discovery), so its load is not theirs.
pub const STATIC_RATIO_OK: (f64, f64) = (0.67, 1.5);

fn warnings(http: &ModeSide, browser: &ModeSide) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(h), Some(b)) = (http.static_per_page(), browser.static_per_page()) {
        let far = if b > 0.0 {
            let r = h / b;
            (r < STATIC_RATIO_OK.0 || r > STATIC_RATIO_OK.1)
                .then(|| format!("http/browser {r:.2}x"))
        } else {
            (h >= 0.5).then(|| "browsers sent none".to_string())
        };
        if let Some(how) = far {
            out.push(format!(
                "static requests per page differ: http {h:.2}, browser {b:.2} ({how}): the HTTP \
                 replay fetches (or revalidates) assets unlike the browsers, so its static load \
                 is not theirs; check caching headers and the assets it discovers"
            ));
        }
    }
    out
}

fn only_in(side: &ModeSide, other: &ModeSide) -> Vec<OnlyIn> {
    side.names
        .iter()
        .filter(|(name, s)| s.count > 0 && !other.names.contains_key(*name))
        .map(|(name, s)| OnlyIn {
            name: name.clone(),
            kinds: s.kinds.clone(),
            count: s.count,
            per_user_minute: s.per_user_minute,
        })
        .collect()
}

impl Comparison {
    /// Compare two single-mode runs; `costs` are (http, browser).
    pub fn from_runs(
        http: &RunSummary,
        browser: &RunSummary,
        costs: (Option<ModeCost>, Option<ModeCost>),
    ) -> Self {
        let mut hf = ModeFacts::of_run(Mode::Http, http);
        hf.cost = costs.0;
        let mut bf = ModeFacts::of_run(Mode::Browser, browser);
        bf.cost = costs.1;
        let mut merged = http.clone();
        merged.merge(browser);
        Self::build(&merged, hf, bf)
    }

    /// The comparison of a merged summary of both modes with each mode's facts (as `throng
    /// compare` saves them in the run's metadata); None unless both modes have entries.
    /// Without saved per-mode facts, the run's duration and per-second users stand in.
    pub fn from_merged(summary: &RunSummary, saved: &[ModeFacts]) -> Option<Self> {
        let modes = summary.modes();
        if !(modes.contains(&Mode::Http) && modes.contains(&Mode::Browser)) {
            return None;
        }
        let facts = |m| {
            saved
                .iter()
                .find(|f| f.mode == m)
                .copied()
                .unwrap_or_else(|| ModeFacts::of_run(m, summary))
        };
        let hybrid = summary
            .counters
            .contains_key(&Mode::Browser.users_counter("user_ms"));
        Some(Comparison {
            hybrid,
            ..Self::build(summary, facts(Mode::Http), facts(Mode::Browser))
        })
    }

    fn build(merged: &RunSummary, http: ModeFacts, browser: ModeFacts) -> Self {
        let http = ModeSide::build(merged, Mode::Http, http);
        let browser = ModeSide::build(merged, Mode::Browser, browser);
        Comparison {
            missing_from_http: only_in(&browser, &http),
            missing_from_browser: only_in(&http, &browser),
            warnings: warnings(&http, &browser),
            hybrid: false,
            http,
            browser,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MetricKey, Outcome, Sink};
    use std::time::Duration;

    fn run(mode: Mode, names: &[(SampleKind, &str, u64)]) -> RunSummary {
        let sink = Sink::new();
        sink.users().inc();
        let r = sink.recorder(0);
        for &(kind, name, n) in names {
            let key = MetricKey::new(mode, "f", Some(0), kind, name);
            for i in 0..n {
                let o = if i == 0 && kind == SampleKind::Ajax {
                    Outcome::Refused
                } else {
                    Outcome::Ok
                };
                r.record(&key, Duration::from_millis(10 + i), o);
            }
        }
        let mut s = sink.finish();
        // One user for one minute, whatever the wall clock did.
        s.series = vec![crate::metrics::SecondStats {
            t_ms: 60_000,
            interval_ms: 60_000,
            users: 1,
            ..Default::default()
        }];
        s.duration = Duration::from_secs(60);
        s
    }

    #[test]
    fn lists_names_only_one_mode_sent_and_rates_per_user_minute() {
        let http = run(
            Mode::Http,
            &[
                (SampleKind::Document, "GET /", 6),
                (SampleKind::Static, "GET /old.js", 2),
            ],
        );
        let browser = run(
            Mode::Browser,
            &[
                (SampleKind::Document, "GET /", 6),
                (SampleKind::Ajax, "GET /api/x", 12),
                (SampleKind::Polling, "GET /api/poll", 30),
            ],
        );
        let cost = ModeCost {
            cpu_self_s: 1.0,
            cpu_children_s: 3.0,
            mem_self_mb: 10.0,
            mem_children_mb: 90.0,
            shared: false,
        };
        let c = Comparison::from_runs(&http, &browser, (None, Some(cost)));
        let names: Vec<&str> = c
            .missing_from_http
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(names, ["GET /api/poll", "GET /api/x"]);
        assert_eq!(c.missing_from_browser[0].name, "GET /old.js");
        assert_eq!(
            c.browser.kind(SampleKind::Polling).unwrap().per_user_minute,
            30.0
        );
        assert_eq!(c.browser.requests, 48);
        // The refused request never reached the target.
        assert!((c.browser.target_rps - 47.0 / 60.0).abs() < 1e-9);
        assert_eq!(c.browser.cpu_per_user_minute(), Some(4.0));
        assert_eq!(c.browser.mem_per_user_mb(), Some(100.0));
        assert_eq!(c.http.cpu_per_user_minute(), None);

        // Saved as typed facts beside a merged summary (through JSON, as results.json keeps
        // them), the same comparison comes back.
        let mut merged = http.clone();
        merged.merge(&browser);
        let saved: Vec<ModeFacts> =
            serde_json::from_str(&serde_json::to_string(&[c.http.facts, c.browser.facts]).unwrap())
                .unwrap();
        let back = Comparison::from_merged(&merged, &saved).expect("both modes");
        assert_eq!(back.missing_from_http, c.missing_from_http);
        assert_eq!(back.browser.facts, c.browser.facts);
        assert!(Comparison::from_merged(&http, &saved).is_none());

        let text = render_text(&c);
        assert!(text.contains("GET /api/poll") && text.contains("polling / user-minute"));
        let html = render_html_section(&c);
        assert!(html.contains(r#"id="missing-from-http""#) && html.contains("GET /api/x"));
    }

    #[test]
    fn flags_static_requests_per_page_far_apart() {
        let page = |mode, statics| {
            run(
                mode,
                &[
                    (SampleKind::Document, "GET /", 10),
                    (SampleKind::PageLoad, "/", 10),
                    (SampleKind::Static, "GET /a.css", statics),
                ],
            )
        };
        // 23 vs 10 static requests for 10 pages (Django's static files revalidated on
        // every page by HTTP mode): flagged in both renderings.
        let c = Comparison::from_runs(
            &page(Mode::Http, 23),
            &page(Mode::Browser, 10),
            (None, None),
        );
        assert_eq!(c.http.static_per_page(), Some(2.3));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("http 2.30, browser 1.00 (http/browser 2.30x)"));
        let text = render_text(&c);
        assert!(text.contains("! static requests per page differ"), "{text}");
        assert!(render_html_section(&c).contains(r#"id="compare-warnings""#));
        // Within 0.67..1.5: nothing said.
        let c = Comparison::from_runs(
            &page(Mode::Http, 12),
            &page(Mode::Browser, 10),
            (None, None),
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(!render_text(&c).contains("static requests per page differ"));
    }

    #[test]
    fn shows_connections_per_user_by_protocol_and_mode() {
        let mut http = run(Mode::Http, &[(SampleKind::Document, "GET /", 4)]);
        let mut browser = run(Mode::Browser, &[(SampleKind::Document, "GET /", 4)]);
        for (s, counters) in [
            (
                &mut http,
                [("users.started", 4), ("connections.h2.h:443", 4)],
            ),
            (
                &mut browser,
                [("users.started", 4), ("connections.h2.h:443", 7)],
            ),
        ] {
            s.counters.extend(counters.map(|(k, v)| (k.to_string(), v)));
        }
        http.counters.insert("connections.http1.cdn:80".into(), 6);
        let c = Comparison::from_runs(&http, &browser, (None, None));
        let conns = c.http.facts.connections.unwrap();
        assert_eq!((conns.users, conns.h2, conns.http1), (4, 4, 6));
        let text = render_text(&c);
        let row = |label: &str| {
            text.lines()
                .find(|l| l.contains(label))
                .unwrap_or_else(|| panic!("{label} in {text}"))
                .to_string()
        };
        let h2 = row("connections per user, HTTP/2");
        assert!(h2.contains("1.000") && h2.contains("1.750"), "{h2}");
        assert!(row("connections per user, HTTP/1.1").contains("1.500"));
    }
}
