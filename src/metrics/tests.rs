//! Unit tests of the sink: exact counts under concurrency, percentile accuracy, merging,
//! coordinated-omission bookkeeping and flat memory.

use std::time::Duration;

use rand::{Rng, SeedableRng};

use super::*;

fn key(kind: SampleKind, name: &str) -> MetricKey {
    MetricKey::new(Mode::Http, "flow", Some(0), kind, name)
}

fn ms(v: u64) -> Duration {
    Duration::from_micros(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_are_exact_under_concurrency() {
    let sink = Sink::new();
    let agg = sink.spawn_aggregator(Duration::from_millis(5));
    let keys: Vec<MetricKey> = ["GET /a", "GET /b", "POST /c"]
        .iter()
        .map(|n| key(SampleKind::Ajax, n))
        .collect();
    let tasks: Vec<_> = (0..64u64)
        .map(|user| {
            let rec = sink.recorder(user);
            let keys = keys.clone();
            let users = sink.clone();
            tokio::spawn(async move {
                users.users().inc();
                for i in 0..5_000u64 {
                    let k = &keys[(i % 3) as usize];
                    let outcome = if i % 10 == 0 {
                        Outcome::Status(500)
                    } else {
                        Outcome::Ok
                    };
                    rec.record(k, ms(100 + i), outcome);
                    rec.add_bytes(k, 10);
                    if i % 500 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                users.count("users.done", 1);
                users.users().dec();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = sink.finish();
    agg.await.unwrap();
    let total: u64 = s.entries.iter().map(|e| e.count).sum();
    assert_eq!(total, 64 * 5_000);
    let failures: u64 = s.entries.iter().map(|e| e.failures).sum();
    assert_eq!(failures, 64 * 500);
    assert_eq!(
        s.entries.iter().map(|e| e.bytes).sum::<u64>(),
        64 * 5_000 * 10
    );
    for e in &s.entries {
        assert_eq!(e.histogram().unwrap().len(), e.count, "{}", e.name);
        assert_eq!(e.failures_by_outcome["status 500"], e.failures);
    }
    assert_eq!(s.counters["users.done"], 64);
    assert_eq!(s.peak_users.clamp(1, 64), s.peak_users);
    // The per-second series accounts for every request exactly once.
    let series_total: u64 = s.series.iter().map(|p| p.requests).sum();
    assert_eq!(series_total, total);
    assert_eq!(sink.live().requests, total);
    assert_eq!(sink.live().errors, failures);
}

#[test]
fn percentiles_match_brute_force_within_hdr_precision() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let sink = Sink::new();
    let rec = sink.recorder(1);
    let k = key(SampleKind::Document, "GET /");
    let mut values: Vec<u64> = (0..50_000)
        .map(|i| {
            // A long-tailed mix: most fast, some slow, a few very slow.
            match i % 20 {
                0 => rng.random_range(200_000..5_000_000),
                1..=3 => rng.random_range(20_000..200_000),
                _ => rng.random_range(500..20_000),
            }
        })
        .collect();
    for &v in &values {
        rec.record(&k, ms(v), Outcome::Ok);
    }
    let s = sink.finish();
    values.sort_unstable();
    let brute = |q: f64| {
        let rank = ((q * values.len() as f64).ceil() as usize).max(1);
        values[rank - 1] as f64 / 1000.0
    };
    let l = s.entries[0].latency;
    for (got, q) in [
        (l.p50_ms, 0.50),
        (l.p90_ms, 0.90),
        (l.p95_ms, 0.95),
        (l.p99_ms, 0.99),
        (l.max_ms, 1.0),
    ] {
        let want = brute(q);
        let tol = want * 1e-3 + 0.001;
        assert!((got - want).abs() <= tol, "q{q}: hdr {got} vs exact {want}");
    }
    let mean = values.iter().sum::<u64>() as f64 / values.len() as f64 / 1000.0;
    assert!((l.mean_ms - mean).abs() <= mean * 1e-3);
}

fn record_set(sink: &Sink, seed: u64, n: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..n {
        let rec = sink.recorder(i);
        let k = key(
            [SampleKind::Ajax, SampleKind::Static, SampleKind::PageLoad][(i % 3) as usize],
            ["GET /x", "GET /y"][(i % 2) as usize],
        );
        let v = ms(rng.random_range(100..2_000_000));
        let o = if i % 7 == 0 {
            Outcome::Timeout
        } else {
            Outcome::Ok
        };
        if i % 11 == 0 {
            rec.record_late(&k, v, v + ms(50_000), o);
        } else {
            rec.record(&k, v, o);
        }
    }
    sink.count("sessions.failed", seed);
}

#[test]
fn merge_of_two_runs_equals_one_run_of_both() {
    let (a, b, both) = (Sink::new(), Sink::new(), Sink::new());
    record_set(&a, 1, 3_000);
    record_set(&b, 2, 2_000);
    record_set(&both, 1, 3_000);
    record_set(&both, 2, 2_000);
    let norm = |mut s: RunSummary| {
        s.started_unix_ms = 1_000_000;
        s.duration = Duration::from_secs(10);
        s
    };
    let mut merged = norm(a.finish());
    merged.merge(&norm(b.finish()));
    let mut expected = norm(both.finish());
    for e in &merged.entries {
        assert!(
            (e.rps - e.count as f64 / 10.0).abs() < 1e-3,
            "rate over the merged span"
        );
    }
    let no_rate = |es: &mut Vec<EntrySummary>| es.iter_mut().for_each(|e| e.rps = 0.0);
    no_rate(&mut merged.entries);
    no_rate(&mut expected.entries);
    assert_eq!(merged.entries, expected.entries);
    assert_eq!(merged.counters, expected.counters);
    assert_eq!(merged.duration, Duration::from_secs(10));
    let t = merged.total(None, None);
    assert_eq!(t.count, expected.total(None, None).count);
    assert!(t.corrected.is_some());
}

#[test]
fn merge_spans_both_runs_in_time() {
    let mut a = RunSummary {
        started_unix_ms: 10_000,
        duration: Duration::from_secs(5),
        ..Default::default()
    };
    let b = RunSummary {
        started_unix_ms: 12_000,
        duration: Duration::from_secs(10),
        series: vec![SecondStats {
            t_ms: 1_000,
            interval_ms: 1_000,
            requests: 4,
            ..Default::default()
        }],
        ..Default::default()
    };
    a.merge(&b);
    assert_eq!(a.started_unix_ms, 10_000);
    assert_eq!(a.duration, Duration::from_secs(12));
    assert_eq!(a.series.len(), 1);
    assert_eq!(a.series[0].t_ms, 3_000);
}

#[test]
fn late_samples_keep_raw_and_corrected() {
    let sink = Sink::new();
    let rec = sink.recorder(3);
    let k = key(SampleKind::Polling, "GET /poll");
    for _ in 0..90 {
        rec.record(&k, ms(10_000), Outcome::Ok);
    }
    for _ in 0..10 {
        rec.record_late(&k, ms(10_000), ms(900_000), Outcome::Ok);
    }
    let s = sink.finish();
    let e = &s.entries[0];
    assert_eq!(e.count, 100);
    assert!((e.latency.p99_ms - 10.0).abs() < 0.02);
    let c = e.corrected.expect("corrected kept");
    assert!((c.p99_ms - 900.0).abs() < 1.0, "{c:?}");
    assert!(
        (c.p50_ms - 10.0).abs() < 0.02,
        "on-time samples count as corrected"
    );
    assert_eq!(e.corrected_histogram().unwrap().len(), 100);
}

#[test]
fn memory_stays_flat_over_a_million_samples() {
    let sink = Sink::new();
    let keys: Vec<MetricKey> = (0..4)
        .map(|i| key(SampleKind::Ajax, &format!("GET /{i}")))
        .collect();
    let recs: Vec<Recorder> = (0..32).map(|u| sink.recorder(u)).collect();
    for round in 0..10 {
        for i in 0..100_000u64 {
            let r = &recs[(i % 32) as usize];
            r.record(&keys[(i % 4) as usize], ms(i % 5_000 + 1), Outcome::Ok);
        }
        sink.drain(true);
        let (cells, cap) = sink.buffer_footprint();
        assert!(cells <= SHARDS * keys.len(), "round {round}: {cells} cells");
        assert!(
            cap <= cells * 2 * SAMPLE_CAP,
            "round {round}: {cap} buffered"
        );
    }
    assert_eq!(sink.key_count(), 4);
    let s = sink.finish();
    assert_eq!(s.entries.iter().map(|e| e.count).sum::<u64>(), 1_000_000);
}

#[test]
fn full_buffers_fold_without_an_aggregator() {
    let sink = Sink::new();
    let rec = sink.recorder(0);
    let k = key(SampleKind::Static, "GET /s.css");
    for _ in 0..(SAMPLE_CAP * 3 + 5) {
        rec.record(&k, ms(250), Outcome::Ok);
    }
    // Three folds happened on the recording path; only the remainder is buffered.
    let (_, cap) = sink.buffer_footprint();
    assert!(cap < SAMPLE_CAP * 2, "{cap}");
    assert_eq!(sink.live().requests, (SAMPLE_CAP * 3) as u64);
    assert_eq!(sink.finish().entries[0].count, (SAMPLE_CAP * 3 + 5) as u64);
}

#[test]
fn series_points_split_requests_and_page_loads() {
    let sink = Sink::new();
    let rec = sink.recorder(0);
    sink.users().inc();
    sink.users().inc();
    for _ in 0..10 {
        rec.record(&key(SampleKind::Document, "GET /"), ms(2_000), Outcome::Ok);
    }
    rec.record(&key(SampleKind::PageLoad, "GET /"), ms(30_000), Outcome::Ok);
    std::thread::sleep(Duration::from_millis(60));
    sink.drain(true);
    rec.record(
        &key(SampleKind::Ajax, "GET /a"),
        ms(4_000),
        Outcome::Status(503),
    );
    let s = sink.finish();
    assert_eq!(s.series.len(), 2);
    let p = &s.series[0];
    assert_eq!(
        (p.users, p.requests, p.failures, p.page_loads),
        (2, 10, 0, 1)
    );
    assert!((p.p95_ms.unwrap() - 2.0).abs() < 0.01);
    assert!((p.page_load_p95_ms.unwrap() - 30.0).abs() < 0.05);
    assert_eq!((s.series[1].requests, s.series[1].failures), (1, 1));
    assert!(s.series[1].t_ms >= p.t_ms);
    assert_eq!(s.peak_users, 2);
}

#[test]
fn finish_is_idempotent_and_json_round_trips() {
    let sink = Sink::new();
    record_set(&sink, 9, 500);
    let snap = sink.snapshot();
    assert_eq!(snap.entries.iter().map(|e| e.count).sum::<u64>(), 500);
    let s1 = sink.finish();
    let s2 = sink.finish();
    assert_eq!(s1, s2);
    let back = RunSummary::from_json(&s1.to_json()).unwrap();
    assert_eq!(back, s1);
    let wrapped = format!("{{\"meta\": {{}}, \"summary\": {}}}", s1.to_json());
    assert_eq!(RunSummary::from_json(&wrapped).unwrap(), s1);
}

#[test]
fn corrupt_histogram_in_json_is_an_error() {
    let sink = Sink::new();
    record_set(&sink, 4, 50);
    let mut s = sink.finish();
    s.entries[0].histogram = "garbage".into();
    let err = RunSummary::from_json(&s.to_json()).unwrap_err();
    assert!(err.to_string().contains("bad histogram"), "{err}");
    assert!(RunSummary::from_json("{").is_err());
}

#[test]
fn totals_select_by_mode_and_kind() {
    let sink = Sink::new();
    let rec = sink.recorder(0);
    let b = MetricKey::new(Mode::Browser, "f", Some(1), SampleKind::PageLoad, "GET /");
    rec.record(&b, ms(100_000), Outcome::Ok);
    rec.record(&key(SampleKind::Document, "GET /"), ms(1_000), Outcome::Ok);
    rec.record(&key(SampleKind::Ajax, "GET /a"), ms(3_000), Outcome::Reset);
    let s = sink.finish();
    let all = s.total(None, None);
    assert_eq!(
        (all.count, all.failures),
        (2, 1),
        "page-load is not a request"
    );
    assert_eq!(
        s.total(Some(Mode::Browser), Some(SampleKind::PageLoad))
            .count,
        1
    );
    assert_eq!(s.total(Some(Mode::Browser), None).count, 0);
    assert_eq!(s.modes(), vec![Mode::Http, Mode::Browser]);
}

#[test]
fn unique_names_beyond_the_cap_fold_into_other_and_are_counted() {
    let sink = Sink::new();
    for user in 0..4u64 {
        let rec = sink.recorder(user);
        for i in 0..1_500 {
            let name = format!("GET http://h/page/{}", words(i));
            rec.record(&key(SampleKind::Document, &name), ms(1_000), Outcome::Ok);
        }
    }
    let summary = sink.finish();
    assert_eq!(summary.entries.len(), NAMES_PER_GROUP + 1);
    let other = summary
        .entries
        .iter()
        .find(|e| e.name == OTHER_NAME)
        .expect("an other bucket");
    assert_eq!(other.count, 4 * (1_500 - NAMES_PER_GROUP as u64));
    let total: u64 = summary.entries.iter().map(|e| e.count).sum();
    assert_eq!(total, 4 * 1_500);
    assert_eq!(
        summary.counters.get("metrics.names_folded_into_other"),
        Some(&(1_500 - NAMES_PER_GROUP as u64))
    );
}

/// A path segment of letters only (never grouped as an id): 0 -> "a", 26 -> "ba".
fn words(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        i /= 26;
        if i == 0 {
            break;
        }
    }
    String::from_utf8(s).unwrap()
}
