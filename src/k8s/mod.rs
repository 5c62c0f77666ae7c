//! Kubernetes manifests for one distributed run (`throng k8s`): a Secret, a ConfigMap with
//! the run's files, a Service and a Job for the coordinator, and an Indexed Job of workers,
//! each pod sized from its share of the plan.

pub mod bundle;
pub mod flags;
mod manifests;
pub mod resources;

pub use bundle::{Bundle, BundleError};
pub use manifests::documents;
pub use resources::Resources;

use crate::metrics::Mode;
use std::time::Duration;

/// The coordinator's results directory in its pod (an emptyDir, or `--results-claim`).
pub const RESULTS_DIR: &str = "/throng/results";
/// The user id the image runs as (deploy/Containerfile).
pub const USER_ID: u64 = 10001;

/// A value the coordinator reads from the run's Secret through an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    /// The environment variable in the coordinator's container.
    pub env: String,
    /// The key in the Secret.
    pub key: String,
    pub value: String,
}

/// Everything the manifests of one run are made from, validated.
#[derive(Debug, Clone)]
pub struct RunManifests {
    /// Prefix of every object's name (a DNS label).
    pub name: String,
    pub namespace: Option<String>,
    pub image: String,
    /// Every worker pod of the run (what the coordinator waits for).
    pub workers: u32,
    /// The worker pods by group: one, or a hybrid run's HTTP and browser workers.
    pub groups: Vec<WorkerGroup>,
    /// The coordinator's port (workers, dashboard and results).
    pub port: u16,
    pub mode: Mode,
    /// The coordinator's command line after the program name (`run ...`).
    pub coordinator_args: Vec<String>,
    /// Values the coordinator gets from the Secret (token aside).
    pub secret_env: Vec<SecretEnv>,
    /// The token coordinator and workers authenticate each other with.
    pub token: String,
    pub files: Bundle,
    pub coordinator_resources: Resources,
    /// How long the coordinator's Job may run at most (waiting for workers, the plan, its
    /// grace, the linger and a margin).
    pub coordinator_deadline: Duration,
    /// How long the workers' Job may run at most.
    pub worker_deadline: Duration,
    /// How long finished Jobs (and their pods and logs) are kept.
    pub ttl: Duration,
    /// How long a worker keeps trying to join (`--wait-workers`: pods start in any order).
    pub worker_wait: String,
    /// A PersistentVolumeClaim for the results instead of an emptyDir.
    pub results_claim: Option<String>,
}

/// Worker pods of one kind (an Indexed Job), each sized for its share of its mode's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerGroup {
    /// The mode its users run in.
    pub mode: Mode,
    /// `--role` of its workers: a hybrid run's groups each take one mode (None: a run of one
    /// mode, whose workers take any).
    pub role: Option<Mode>,
    pub workers: u32,
    pub resources: Resources,
    /// Concurrent users (sessions) of its largest worker share, for the summary.
    pub share: u64,
}

impl RunManifests {
    pub fn secret_name(&self) -> String {
        self.name.clone()
    }

    pub fn service_name(&self) -> String {
        format!("{}-coordinator", self.name)
    }

    pub fn coordinator_job_name(&self) -> String {
        format!("{}-coordinator", self.name)
    }

    /// `NAME-workers`, or a hybrid run's `NAME-http-workers` and `NAME-browser-workers`.
    pub fn worker_job_name(&self, group: &WorkerGroup) -> String {
        match group.role {
            Some(mode) => format!("{}-{mode}-workers", self.name),
            None => format!("{}-workers", self.name),
        }
    }

    pub fn files_name(&self) -> String {
        format!("{}-files", self.name)
    }

    /// The URL workers connect to (the Service's name resolves in the run's namespace).
    pub fn coordinator_url(&self) -> String {
        format!("http://{}:{}", self.service_name(), self.port)
    }

    /// The command line of a worker of `group` after the program name.
    pub fn worker_args(&self, group: &WorkerGroup) -> Vec<String> {
        let mut args = vec![
            "worker".into(),
            "--connect".into(),
            self.coordinator_url(),
            "--wait".into(),
            self.worker_wait.replace("$(", "$$("),
        ];
        if let Some(mode) = group.role {
            args.extend(["--role".into(), mode.to_string()]);
        }
        args
    }
}

/// A DNS label of at most `max` characters: lowercase letters, digits and `-`, ending with a
/// letter or digit, and starting with one (a letter only when `letter_first`).
fn is_dns_label(text: &str, max: usize, letter_first: bool) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !text.is_empty()
        && text.len() <= max
        && text.starts_with(|c: char| c.is_ascii_lowercase() || (!letter_first && alnum(c)))
        && text.ends_with(alnum)
        && text.chars().all(|c| alnum(c) || c == '-')
}

/// Why a namespace or claim name is not a DNS label.
pub fn check_label(text: &str) -> Result<(), String> {
    if is_dns_label(text, 63, false) {
        Ok(())
    } else {
        Err(format!(
            "`{text}`: expected lowercase letters, digits and `-` (at most 63)"
        ))
    }
}

/// Why a run name cannot name Kubernetes objects.
pub fn check_name(name: &str) -> Result<(), String> {
    if is_dns_label(name, 40, true) {
        Ok(())
    } else {
        Err(format!(
            "`{name}`: expected at most 40 lowercase letters, digits and `-`, starting with a \
             letter and ending with a letter or digit (it prefixes the objects' names)"
        ))
    }
}

/// A run name from a flow file's name: `throng-` and the stem, made a valid name.
pub fn default_name(stem: &str) -> String {
    let mut name = String::from("throng-");
    for c in stem.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(40);
    name.trim_end_matches('-').to_string()
}

/// The manifests as one multi-document YAML stream.
pub fn to_yaml(documents: &[serde_json::Value]) -> Result<String, yaml_serde::Error> {
    let mut out = String::new();
    for doc in documents {
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(doc)?);
    }
    Ok(out)
}

/// A random token (256 bits, hex).
pub fn new_token() -> String {
    use rand::Rng as _;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(default_name("shop"), "throng-shop");
        assert_eq!(default_name("My Flow_2"), "throng-my-flow-2");
        assert_eq!(default_name("__"), "throng");
        assert!(default_name(&"x".repeat(80)).len() <= 40);
        for good in ["a", "shop-1", "throng-shop"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "Shop", "a-", "a_b", &"a".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
