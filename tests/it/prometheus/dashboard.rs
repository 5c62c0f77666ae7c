//! deploy/grafana/throng.json: its queries name only metrics throng exports, cover what the
//! issue asks a dashboard to show, and each one evaluates in a real Prometheus.

use std::collections::BTreeSet;

use serde_json::Value;
use throng::live::prometheus::FAMILY_NAMES;

use super::{grafana_dashboard, Prom};

/// Every `expr` of every panel target (rows included).
fn queries() -> Vec<String> {
    let text = std::fs::read_to_string(grafana_dashboard()).expect("deploy/grafana/throng.json");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(e)) = map.get("expr") {
                    out.push(e.clone());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash["panels"], &mut out);
    out
}

/// The metric names a query uses: `throng_...` identifiers, histogram suffixes stripped.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\bthrong_[a-z_]+").unwrap();
    re.find_iter(expr)
        .map(|m| {
            let name = m.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|base| FAMILY_NAMES.contains(base))
                })
                .unwrap_or(name)
                .to_string()
        })
        .collect()
}

#[test]
fn grafana_dashboard_queries_only_metrics_throng_exports() {
    let queries = queries();
    assert!(queries.len() >= 12, "{queries:?}");
    let mut used = BTreeSet::new();
    for q in &queries {
        let names = metric_names(q);
        assert!(!names.is_empty(), "a query with no throng metric: {q}");
        for n in names {
            assert!(
                FAMILY_NAMES.contains(&n.as_str()),
                "`{n}` in `{q}` is not exported"
            );
            used.insert(n);
        }
    }
    for needed in [
        "throng_users",
        "throng_requests_total",
        "throng_request_duration_seconds",
        "throng_page_load_seconds",
        "throng_web_vital_seconds",
        "throng_generator_cpu_ratio",
        "throng_generator_saturated",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
    // The check itself can fail: a misspelt name is caught.
    assert!(!FAMILY_NAMES.contains(&"throng_request_total"));
    assert_eq!(
        metric_names("rate(throng_request_duration_seconds_bucket[1m])"),
        BTreeSet::from(["throng_request_duration_seconds".to_string()])
    );
}

/// Each query, with the dashboard's variables filled in, evaluates in `prom` at `at`; the
/// ones over data every run has return series.
pub async fn every_query_evaluates(prom: &Prom, at: Option<f64>) {
    for q in queries() {
        let expr = q.replace("$__rate_interval", "1m").replace("$mode", ".*");
        let result = prom
            .query(&expr, at)
            .await
            .unwrap_or_else(|e| panic!("dashboard query fails: {e}"));
        let always = [
            "throng_users",
            "throng_requests_total{",
            "throng_request_duration",
            "throng_generator_cpu_ratio",
            "throng_page_load",
        ];
        if always.iter().any(|m| q.contains(m)) && !q.contains("outcome!=") {
            assert!(!result.is_empty(), "no data for `{expr}`");
        }
    }
}
