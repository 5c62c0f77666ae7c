//! `${variables}`: per-run value sources (lists, CSV data, secrets, generated ids, encodings)
//! and per-user values.

use crate::flow::{Encoding, Flow, Shape, ValueOrder, Variable};
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Why a flow's variables cannot be prepared for a run.
#[derive(Debug, thiserror::Error)]
pub enum VarError {
    #[error("variable `{name}`: CSV file {file}: {reason}")]
    Csv {
        name: String,
        file: String,
        reason: String,
    },
    #[error("variable `{name}` is a secret: pass --var {name}=VALUE{env_hint}")]
    MissingSecret { name: String, env_hint: String },
    #[error("variable `{name}`: `oneOf` is empty")]
    EmptyList { name: String },
}

/// Where a data variable draws its values from, shared by all users of a run.
#[derive(Debug)]
enum Source {
    Fixed(String),
    List {
        values: Vec<String>,
        order: ValueOrder,
        next: AtomicUsize,
    },
    /// An id made up anew for each session (what a page makes up itself).
    Generated(Shape),
    /// A template of the values drawn before it, encoded.
    Encoded {
        template: String,
        encoding: Encoding,
    },
}

/// The value sources of one flow for a whole run.
#[derive(Debug, Default)]
pub struct VarSources {
    sources: Vec<(String, Source)>,
}

impl VarSources {
    /// Builds the sources of `flow`; CSV paths are relative to `flow_dir`; `overrides` are
    /// `--var name=value` pairs (they win over the file, and supply secrets).
    pub fn prepare(
        flow: &Flow,
        flow_dir: &Path,
        overrides: &HashMap<String, String>,
    ) -> Result<Self, VarError> {
        let mut sources = Vec::new();
        for var in &flow.variables {
            if let Some(value) = overrides.get(&var.name) {
                sources.push((var.name.clone(), Source::Fixed(value.clone())));
                continue;
            }
            if let Some(source) = Self::source_of(var, flow_dir)? {
                sources.push((var.name.clone(), source));
            }
        }
        Ok(VarSources { sources })
    }

    fn source_of(var: &Variable, flow_dir: &Path) -> Result<Option<Source>, VarError> {
        let list = |values: Vec<String>| Source::List {
            values,
            order: var.order,
            next: AtomicUsize::new(0),
        };
        if let Some(value) = &var.value {
            return Ok(Some(Source::Fixed(value.clone())));
        }
        if let Some(values) = &var.one_of {
            if values.is_empty() {
                return Err(VarError::EmptyList {
                    name: var.name.clone(),
                });
            }
            return Ok(Some(list(values.clone())));
        }
        if let Some(csv) = &var.csv {
            let values =
                read_csv_column(&flow_dir.join(&csv.file), &csv.column).map_err(|reason| {
                    VarError::Csv {
                        name: var.name.clone(),
                        file: csv.file.clone(),
                        reason,
                    }
                })?;
            return Ok(Some(list(values)));
        }
        if let Some(g) = &var.generate {
            return Ok(Some(Source::Generated(g.shape())));
        }
        if let Some(e) = &var.encode {
            return Ok(Some(Source::Encoded {
                template: e.value.clone(),
                encoding: e.encoding,
            }));
        }
        if let Some(secret) = &var.secret {
            let from_env = secret.env.as_ref().and_then(|e| std::env::var(e).ok());
            return match from_env {
                Some(value) => Ok(Some(Source::Fixed(value))),
                None => Err(VarError::MissingSecret {
                    name: var.name.clone(),
                    env_hint: secret
                        .env
                        .as_ref()
                        .map(|e| format!(" or set ${e}"))
                        .unwrap_or_default(),
                }),
            };
        }
        // Extracted variables get their value during replay.
        Ok(None)
    }

    /// Replaces every CSV variable of `flow` by the list of its column's values (same order),
    /// so the flow carries its data with it (to the workers of a distributed run).
    pub fn inline_csv(flow: &mut Flow, flow_dir: &Path) -> Result<(), VarError> {
        for var in &mut flow.variables {
            let Some(csv) = var.csv.take() else { continue };
            let values =
                read_csv_column(&flow_dir.join(&csv.file), &csv.column).map_err(|reason| {
                    VarError::Csv {
                        name: var.name.clone(),
                        file: csv.file.clone(),
                        reason,
                    }
                })?;
            var.one_of = Some(values);
        }
        Ok(())
    }

    /// Keeps this worker's share of every `unique` list (rows i, i+k, ... for worker i of k),
    /// so no value is used twice across the workers of a distributed run.
    pub fn keep_share(&mut self, share: crate::plan::Share) {
        for (_, source) in &mut self.sources {
            if let Source::List {
                values,
                order: ValueOrder::Unique,
                ..
            } = source
            {
                let mut n = 0u64;
                values.retain(|_| {
                    n += 1;
                    share.owns(n - 1)
                });
            }
        }
    }

    /// Draws this iteration's data values. Fails (as data, for the caller to count) when a
    /// `unique` list is exhausted.
    pub fn draw(&self, vars: &mut Vars) -> Result<(), String> {
        // Encodings use the values drawn for this session: they come last.
        let (encoded, drawn): (Vec<_>, Vec<_>) = self
            .sources
            .iter()
            .partition(|(_, s)| matches!(s, Source::Encoded { .. }));
        for (name, source) in drawn.into_iter().chain(encoded) {
            let value = match source {
                Source::Fixed(v) => v.clone(),
                Source::Generated(shape) => {
                    let now_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    let mut rng = rand::rng();
                    shape.make(now_ms, |n| rng.random_range(0..n))
                }
                Source::Encoded { template, encoding } => {
                    let plain = vars.fill(template).map_err(|missing| {
                        format!("variable `{name}`: `${{{missing}}}` has no value to encode")
                    })?;
                    encoding.encode(plain.as_bytes())
                }
                Source::List {
                    values,
                    order,
                    next,
                } => match order {
                    ValueOrder::RoundRobin => {
                        values[next.fetch_add(1, Ordering::Relaxed) % values.len()].clone()
                    }
                    ValueOrder::Random => values[rand::rng().random_range(0..values.len())].clone(),
                    ValueOrder::Unique => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        match values.get(i) {
                            Some(v) => v.clone(),
                            None => {
                                return Err(format!("variable `{name}`: unique values exhausted"))
                            }
                        }
                    }
                },
            };
            vars.set(name, value);
        }
        Ok(())
    }
}

/// Largest CSV data file read (all its values are held in memory for the run).
const MAX_CSV_BYTES: u64 = 256 << 20;

fn read_csv_column(path: &Path, column: &str) -> Result<Vec<String>, String> {
    // Checked before opening: opening a FIFO blocks until a writer comes, and /dev/zero or
    // a pipe never ends.
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a FIFO, device or directory cannot be a data file)".into(),
        );
    }
    if meta.len() > MAX_CSV_BYTES {
        return Err(format!(
            "{} MiB is larger than the {} MiB a data file may have",
            meta.len() >> 20,
            MAX_CSV_BYTES >> 20
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // Bounded even if the file grows while it is read.
    let mut reader = csv::Reader::from_reader(std::io::Read::take(file, MAX_CSV_BYTES));
    let headers = reader.headers().map_err(|e| csv_reason(&e))?.clone();
    let index = headers.iter().position(|h| h == column).ok_or_else(|| {
        format!(
            "no column `{column}` (columns: {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        )
    })?;
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_reason(&e))?;
        if let Some(v) = record.get(index) {
            values.push(v.to_string());
        }
    }
    if values.is_empty() {
        return Err("no data rows".into());
    }
    Ok(values)
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// One virtual user's variable values.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: HashMap<String, String>,
}

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, name: &str, value: String) {
        self.values.insert(name.to_string(), value);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every value this user holds (what failure reports redact).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.values().map(String::as_str)
    }

    /// Replaces every `${name}` in `s`; `Err(name)` for the first one without a value.
    pub fn fill(&self, s: &str) -> Result<String, String> {
        if !s.contains("${") {
            return Ok(s.to_string());
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = &after[..end];
            match self.values.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(name.to_string()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Shared handle to a run's sources.
pub type SharedSources = Arc<VarSources>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_every_placeholder() {
        let mut v = Vars::new();
        v.set("q", "lamp".into());
        v.set("n", "2".into());
        assert_eq!(v.fill("/s?q=${q}&n=${n}").unwrap(), "/s?q=lamp&n=2");
        assert_eq!(v.fill("plain").unwrap(), "plain");
        assert_eq!(v.fill("${missing}x").unwrap_err(), "missing");
        assert_eq!(v.fill("open ${q").unwrap(), "open ${q");
    }

    #[test]
    fn round_robin_cycles_and_unique_exhausts() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t", "steps": [],
            "variables": [
                {"name": "a", "oneOf": ["x", "y"]},
                {"name": "u", "oneOf": ["1"], "order": "unique"}
            ]
        }))
        .unwrap();
        let sources = VarSources::prepare(&flow, Path::new("."), &HashMap::new()).unwrap();
        let mut v = Vars::new();
        sources.draw(&mut v).unwrap();
        assert_eq!(v.get("a"), Some("x"));
        assert_eq!(v.get("u"), Some("1"));
        let err = sources.draw(&mut v).unwrap_err();
        assert!(err.contains("`u`"), "{err}");
        assert_eq!(v.get("a"), Some("y"));
    }

    #[test]
    fn generated_ids_are_new_per_session_and_encodings_follow_them() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t", "steps": [],
            "variables": [
                {"name": "b64", "encode": {"value": "${hash}:${pw}", "as": "base64"}},
                {"name": "hash", "generate": {"like": "k3x9q0zt1m"}},
                {"name": "pw", "secret": {}}
            ]
        }))
        .unwrap();
        let o = HashMap::from([("pw".to_string(), "p w".to_string())]);
        let sources = VarSources::prepare(&flow, Path::new("."), &o).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut v = Vars::new();
            sources.draw(&mut v).unwrap();
            let hash = v.get("hash").unwrap().to_string();
            assert_eq!(hash.len(), 10);
            assert!(hash
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
            let plain = format!("{hash}:p w");
            assert_eq!(
                v.get("b64"),
                Some(Encoding::Base64.encode(plain.as_bytes()).as_str())
            );
            seen.insert(hash);
        }
        assert!(seen.len() >= 19, "a new id per session: {seen:?}");
    }

    #[test]
    fn missing_secret_names_flag_and_env() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t", "steps": [],
            "variables": [{"name": "password", "secret": {"env": "THRONG_TEST_UNSET_PW"}}]
        }))
        .unwrap();
        let err = VarSources::prepare(&flow, Path::new("."), &HashMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "variable `password` is a secret: pass --var password=VALUE or set $THRONG_TEST_UNSET_PW"
        );
        let mut o = HashMap::new();
        o.insert("password".to_string(), "pw".to_string());
        let s = VarSources::prepare(&flow, Path::new("."), &o).unwrap();
        let mut v = Vars::new();
        s.draw(&mut v).unwrap();
        assert_eq!(v.get("password"), Some("pw"));
    }

    #[test]
    fn a_data_file_that_is_not_a_regular_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("users.csv");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo only reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Sparse: no disk used.
        let big = std::fs::File::create(dir.path().join("big.csv")).unwrap();
        big.set_len(MAX_CSV_BYTES + 1).unwrap();
        for (dir, file, why) in [
            (dir.path(), "users.csv", "not a regular file"),
            (Path::new("/dev"), "zero", "not a regular file"),
            (dir.path(), "big.csv", "larger than the 256 MiB"),
        ] {
            let flow: Flow = serde_json::from_value(serde_json::json!({
                "title": "t", "steps": [],
                "variables": [{"name": "user", "csv": {"file": file, "column": "name"}}]
            }))
            .unwrap();
            let err = VarSources::prepare(&flow, dir, &HashMap::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn missing_csv_file_is_one_clear_error() {
        let flow: Flow = serde_json::from_value(serde_json::json!({
            "title": "t", "steps": [],
            "variables": [{"name": "user", "csv": {"file": "nope.csv", "column": "name"}}]
        }))
        .unwrap();
        let err = VarSources::prepare(&flow, Path::new("/nonexistent"), &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("variable `user`: CSV file nope.csv: No such file"),
            "{err}"
        );
    }
}
