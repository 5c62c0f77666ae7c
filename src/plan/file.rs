//! Plan files (`--plan plan.json`): stages as a list, for step loads, spikes and arrival-rate
//! shapes that are too long for a flag.
//!
//! ```json
//! {"model": "users", "stages": [{"target": 10, "duration": "30s"}, {"target": 50, "duration": "2m"}]}
//! {"model": "rate", "maxUsers": 500, "stages": [{"target": 2, "duration": "1m"}, {"target": 20, "duration": "5m"}]}
//! {"browsers": 5, "stages": [{"target": 100, "duration": "1m"}, {"target": 100, "duration": "5m"}]}
//! ```
//! `browsers` (a count, or a share such as `"5%"`) makes a hybrid plan, as `--browsers` does.
//! `flows` gives each flow its mode and users instead of the command line's flows (paths are
//! relative to the plan file; `mode` is `http`, the default, or `browser`; the users are each
//! flow's share of the plan's users):
//! ```json
//! {"stages": [{"target": 100, "duration": "5m"}],
//!  "flows": [{"flow": "shop.json", "users": 95}, {"flow": "browse.json", "mode": "browser", "users": 5}]}
//! ```
//! A flow entry's `network` (a `--network` preset or figures) gives its users their own network.
//! An HTTP flow may name a browser login its users start with (`--login`, per flow), and how
//! many users share one login (`--login-share`):
//! `{"flow": "portal-api.json", "users": 50, "login": "portal-login.json", "loginShare": 10}`.

use super::{parse_duration, Arrival, BrowserShare, Stage, Stages};
use crate::metrics::Mode;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    model: Model,
    #[serde(default)]
    max_users: Option<u32>,
    #[serde(default)]
    browsers: Option<BrowsersEntry>,
    #[serde(default)]
    flows: Vec<FlowEntry>,
    stages: Vec<StageEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowEntry {
    flow: PathBuf,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default = "one")]
    users: u32,
    /// This flow's own network conditions (a `--network` preset or figures).
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    login: Option<PathBuf>,
    #[serde(default, rename = "loginShare")]
    login_share: Option<u64>,
}

fn one() -> u32 {
    1
}

/// A flow a plan file names, with its mode and its share of the users.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFlow {
    /// Resolved against the plan file's directory.
    pub path: PathBuf,
    pub mode: Mode,
    pub users: u32,
    /// Its own network conditions, as written (checked where the run is assembled).
    pub network: Option<String>,
    /// Its place in the file's `flows`, for errors.
    pub index: usize,
    /// A browser login its HTTP users start with (resolved like `path`), and how many users
    /// share one.
    pub login: Option<(PathBuf, u64)>,
}

/// `"browsers": 5` or `"browsers": "5%"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BrowsersEntry {
    Count(u32),
    Text(String),
}

/// What a plan file sets: the arrival shape and, for a hybrid plan, the browsers' part.
#[derive(Debug)]
pub struct PlanShape {
    pub arrival: Arrival,
    pub browsers: Option<BrowserShare>,
    /// The plan's own flows (none: the command line's).
    pub flows: Vec<PlanFlow>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
enum Model {
    /// Stage targets are concurrent users.
    #[default]
    Users,
    /// Stage targets are new sessions per second.
    Rate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageEntry {
    target: f64,
    duration: String,
}

/// Reads a plan file into an arrival shape; errors are one line with file:line:col.
pub fn load_plan_file(path: &Path, default_max_users: u32) -> Result<PlanShape, String> {
    let label = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{label}: cannot read: {e}"))?;
    let file: PlanFile = serde_json::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        // serde_json appends " at line L column C"; put the position up front instead.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        format!("{label}:{}:{}: {msg}", e.line(), e.column())
    })?;
    if file.stages.is_empty() {
        return Err(format!("{label}: `stages` must be a non-empty list"));
    }
    let mut stages = Vec::new();
    for (i, entry) in file.stages.iter().enumerate() {
        if !(entry.target.is_finite() && entry.target >= 0.0) {
            return Err(format!("{label}: stages[{i}].target must be a number >= 0"));
        }
        let duration = parse_duration(&entry.duration)
            .map_err(|e| format!("{label}: stages[{i}].duration: {e}"))?;
        stages.push(Stage {
            target: entry.target,
            duration,
        });
    }
    let stages = Stages(stages);
    if stages.total().is_zero() {
        return Err(format!("{label}: the stages last 0s in all"));
    }
    let mut flows = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    for (i, entry) in file.flows.iter().enumerate() {
        let mode = match entry.mode.as_deref() {
            None => Mode::Http,
            Some(m) => m
                .parse::<Mode>()
                .map_err(|e| format!("{label}: flows[{i}].mode: {e}"))?,
        };
        if entry.users == 0 {
            return Err(format!("{label}: flows[{i}].users must be at least 1"));
        }
        let login = match (&entry.login, entry.login_share) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(format!("{label}: flows[{i}].loginShare needs `login`"));
            }
            (Some(_), _) if mode != Mode::Http => {
                return Err(format!(
                    "{label}: flows[{i}].login: a login is handed to HTTP users; this flow runs in {mode} mode"
                ));
            }
            (Some(_), Some(0)) => {
                return Err(format!("{label}: flows[{i}].loginShare must be at least 1"));
            }
            (Some(l), share) => Some((dir.join(l), share.unwrap_or(1))),
        };
        flows.push(PlanFlow {
            path: dir.join(&entry.flow),
            mode,
            users: entry.users,
            network: entry.network.clone(),
            index: i,
            login,
        });
    }
    let browsers = match &file.browsers {
        None => None,
        Some(BrowsersEntry::Count(n)) => Some(BrowserShare::parse(&n.to_string(), "browsers")),
        Some(BrowsersEntry::Text(t)) => Some(BrowserShare::parse(t, "browsers")),
    }
    .transpose()
    .map_err(|e| format!("{label}: {e}"))?;
    let users = |m: Mode| {
        flows
            .iter()
            .filter(|f| f.mode == m)
            .map(|f| f.users)
            .sum::<u32>()
    };
    let (http, in_browsers) = (users(Mode::Http), users(Mode::Browser));
    let browsers = match browsers {
        Some(_) if in_browsers > 0 => {
            return Err(format!(
                "{label}: `browsers` and flows in browser mode both split the users; keep one"
            ))
        }
        // Both modes: a hybrid plan in the flows' proportions.
        None if http > 0 && in_browsers > 0 => Some(BrowserShare::Of {
            browsers: in_browsers,
            users: http + in_browsers,
        }),
        b => b,
    };
    let arrival = match file.model {
        Model::Users => Arrival::Users(stages),
        Model::Rate => Arrival::Rate {
            stages,
            max_users: file.max_users.unwrap_or(default_max_users).max(1),
        },
    };
    Ok(PlanShape {
        arrival,
        browsers,
        flows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn reads_user_and_rate_plans() {
        let f =
            write(r#"{"stages":[{"target":10,"duration":"30s"},{"target":0,"duration":"10s"}]}"#);
        let Arrival::Users(s) = load_plan_file(f.path(), 100).unwrap().arrival else {
            panic!("users model")
        };
        assert_eq!(s.total(), Duration::from_secs(40));
        let f = write(r#"{"model":"rate","maxUsers":7,"stages":[{"target":2.5,"duration":"1m"}]}"#);
        let Arrival::Rate { stages, max_users } = load_plan_file(f.path(), 100).unwrap().arrival
        else {
            panic!("rate model")
        };
        assert_eq!((stages.peak(), max_users), (2.5, 7));
    }

    #[test]
    fn a_plan_file_may_name_its_browsers() {
        let stages = r#""stages":[{"target":20,"duration":"30s"}]"#;
        let f = write(&format!(r#"{{"browsers":2,{stages}}}"#));
        let shape = load_plan_file(f.path(), 100).unwrap();
        assert_eq!(shape.browsers, Some(BrowserShare::Users(2)));
        let f = write(&format!(r#"{{"browsers":"10%",{stages}}}"#));
        let shape = load_plan_file(f.path(), 100).unwrap();
        assert_eq!(shape.browsers, Some(BrowserShare::Basis(1000)));
        let f = write(&format!(r#"{{"browsers":"lots",{stages}}}"#));
        let err = load_plan_file(f.path(), 100).unwrap_err();
        assert!(err.contains(": browsers `lots`"), "{err}");
    }

    #[test]
    fn a_plan_file_may_give_each_flow_its_mode_and_users() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(
            &path,
            r#"{"stages":[{"target":100,"duration":"1m"}],"flows":[
                {"flow":"shop.json","users":95},{"flow":"b/browse.json","mode":"browser","users":5}]}"#,
        )
        .unwrap();
        let shape = load_plan_file(&path, 10).unwrap();
        assert_eq!(shape.flows.len(), 2);
        assert_eq!(shape.flows[1].path, dir.path().join("b/browse.json"));
        assert_eq!(
            (shape.flows[1].mode, shape.flows[1].users),
            (Mode::Browser, 5)
        );
        let share = shape.browsers.unwrap();
        assert_eq!(share.browsers_of(100, 100), 5);
        std::fs::write(
            &path,
            r#"{"stages":[{"target":10,"duration":"1m"}],"flows":[
                {"flow":"api.json","users":10,"login":"login.json","loginShare":5}]}"#,
        )
        .unwrap();
        let shape = load_plan_file(&path, 10).unwrap();
        assert_eq!(
            shape.flows[0].login,
            Some((dir.path().join("login.json"), 5))
        );
        for (text, hint) in [
            (r#"{"flow":"a.json","mode":"car"}"#, "flows[0].mode"),
            (r#"{"flow":"a.json","users":0}"#, "flows[0].users"),
            (
                r#"{"flow":"a.json","loginShare":2}"#,
                "flows[0].loginShare needs",
            ),
            (
                r#"{"flow":"a.json","login":"l.json","loginShare":0}"#,
                "flows[0].loginShare must",
            ),
            (
                r#"{"flow":"a.json","mode":"browser","login":"l.json"}"#,
                "flows[0].login: a login is handed to HTTP users",
            ),
        ] {
            std::fs::write(
                &path,
                format!(r#"{{"stages":[{{"target":1,"duration":"1s"}}],"flows":[{text}]}}"#),
            )
            .unwrap();
            let e = load_plan_file(&path, 1).unwrap_err();
            assert!(e.contains(hint), "{e}");
        }
    }

    #[test]
    fn errors_are_located_one_liners() {
        let f = write("{\"stages\":[\n{\"target\":\"ten\",\"duration\":\"30s\"}]}");
        let err = load_plan_file(f.path(), 1).unwrap_err();
        assert!(err.contains(":2:"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
        assert!(!err.contains('\n'));
        let f = write(r#"{"stages":[{"target":1,"duration":"5 parsecs"}]}"#);
        assert!(load_plan_file(f.path(), 1)
            .unwrap_err()
            .contains("stages[0].duration"));
        let f = write(r#"{"stages":[],"extra":1}"#);
        assert!(load_plan_file(f.path(), 1)
            .unwrap_err()
            .contains("unknown field `extra`"));
    }
}
