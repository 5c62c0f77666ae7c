//! Which hosts a run's requests may reach: the flows' own and those allowed with
//! `--allow-host`. Both modes ask the same question of every request and redirect hop.

use url::Url;

/// The hosts requests may go to: the flows' own origins' hosts (any port, as browser mode's
/// block list has it: http -> https on one host is one site) and `--allow-host` entries
/// (`host` or `host:port`).
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// The host of every flow's (target) origin.
    own: Vec<String>,
    allowed: Vec<String>,
    /// Allow everything (client tests that talk to ad-hoc servers).
    any: bool,
}

impl HostPolicy {
    pub fn new(origins: &[Url], allowed: &[String]) -> Self {
        HostPolicy {
            own: origins
                .iter()
                .filter_map(|o| o.host_str().map(str::to_string))
                .collect(),
            allowed: allowed.iter().map(|a| a.trim().to_string()).collect(),
            any: false,
        }
    }

    /// Every host allowed.
    pub fn any() -> Self {
        HostPolicy {
            any: true,
            ..Self::default()
        }
    }

    pub fn allows(&self, url: &Url) -> bool {
        if self.any {
            return true;
        }
        let Some(hp) = host_port(url) else {
            return false;
        };
        let host = url.host_str().unwrap_or_default();
        self.own.iter().any(|o| o == host) || self.allowed.iter().any(|a| *a == hp || a == host)
    }
}

fn host_port(url: &Url) -> Option<String> {
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}
