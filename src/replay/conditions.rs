//! Network conditions (`--network`, a flow's `emulateNetworkConditions` step): the presets of
//! Chrome DevTools and Lighthouse, custom figures, and what both modes apply.
//!
//! One model for both modes, DevTools' own (Chromium's request-level throttling): each request's
//! response starts no sooner than `latency` after it was sent, and a user's requests share one
//! download and one upload rate. A network's round trip (RTT) becomes that request latency the
//! way DevTools and Lighthouse convert it (×3.75 for slow 4G: the connection's setup round trips
//! folded into each request), so a page takes about as long in HTTP mode as in Chromium.

use std::fmt;
use std::time::Duration;

/// Lighthouse's `DEVTOOLS_RTT_ADJUSTMENT_FACTOR`: a network RTT as a request latency.
pub const RTT_TO_LATENCY: f64 = 3.75;
/// Lighthouse's `DEVTOOLS_THROUGHPUT_ADJUSTMENT_FACTOR`: a link's rate as request throughput.
pub const THROUGHPUT_FACTOR: f64 = 0.9;

/// What one user's network does to its requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// No request leaves (DevTools' "Offline").
    pub offline: bool,
    /// The least time from a request sent to its response's first byte.
    pub latency: Duration,
    /// Download rate in bytes per second (0: unlimited).
    pub down: f64,
    /// Upload rate in bytes per second (0: unlimited).
    pub up: f64,
}

/// The presets, named as `--network` takes them, with DevTools' figures
/// (devtools-frontend `front_end/core/sdk/NetworkManager.ts`: `Fast4GConditions`,
/// `Slow4GConditions`, `Slow3GConditions`, `OfflineConditions`).
pub const PRESETS: &[(&str, Conditions)] = &[
    // 9 Mbps down, 1.5 Mbps up, 60 ms RTT (latency 60 × 2.75).
    (
        "fast-4g",
        preset(165.0, 9_000_000.0 * 0.9, 1_500_000.0 * 0.9),
    ),
    // 1.6 Mbps down, 750 kbps up, 150 ms RTT (latency 150 × 3.75): Lighthouse's mobile
    // default. DevTools called it "Fast 3G" until May 2024, hence the alias.
    ("slow-4g", preset(562.5, 1_600_000.0 * 0.9, 750_000.0 * 0.9)),
    ("fast-3g", preset(562.5, 1_600_000.0 * 0.9, 750_000.0 * 0.9)),
    // 500 kbps both ways, 400 ms RTT (latency 400 × 5, throughput × 0.8): DevTools' "3G",
    // "Slow 3G" before May 2024.
    ("slow-3g", preset(2000.0, 500_000.0 * 0.8, 500_000.0 * 0.8)),
    ("3g", preset(2000.0, 500_000.0 * 0.8, 500_000.0 * 0.8)),
    (
        "offline",
        Conditions {
            offline: true,
            latency: Duration::ZERO,
            down: 0.0,
            up: 0.0,
        },
    ),
];

/// `latency_ms`, and link rates in bits per second.
const fn preset(latency_ms: f64, down_bits: f64, up_bits: f64) -> Conditions {
    Conditions {
        offline: false,
        latency: Duration::from_micros((latency_ms * 1000.0) as u64),
        down: down_bits / 8.0,
        up: up_bits / 8.0,
    }
}

impl Conditions {
    /// A flow step's figures, in CDP's units (bytes per second, -1 or 0 for unlimited; ms).
    pub fn from_cdp(download: f64, upload: f64, latency_ms: f64) -> Self {
        let rate = |r: f64| if r.is_finite() && r > 0.0 { r } else { 0.0 };
        Conditions {
            offline: false,
            latency: Duration::from_secs_f64((latency_ms.max(0.0) / 1000.0).min(3600.0)),
            down: rate(download),
            up: rate(upload),
        }
    }

    /// Whether these conditions change nothing.
    pub fn is_unthrottled(&self) -> bool {
        !self.offline && self.latency.is_zero() && self.down == 0.0 && self.up == 0.0
    }

    /// The figures CDP's `Network.emulateNetworkConditions` takes: (download, upload) in bytes
    /// per second with -1 for unlimited, latency in ms.
    pub fn cdp(&self) -> (f64, f64, f64) {
        let rate = |r: f64| if r > 0.0 { r } else { -1.0 };
        (
            rate(self.down),
            rate(self.up),
            self.latency.as_secs_f64() * 1000.0,
        )
    }

    /// Parses `--network`: a preset name, or `down=1.6mbps,up=750kbps,rtt=150ms` (a network's
    /// figures, converted as Lighthouse converts them) with `latency=562ms` for a request
    /// latency taken as is. The error names what was wrong, without the flag.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if let Some((_, c)) = PRESETS.iter().find(|(name, _)| *name == lower) {
            return Ok(*c);
        }
        if !text.contains('=') {
            return Err(format!(
                "unknown preset `{text}` (presets: {}; or down=1.6mbps,up=750kbps,rtt=150ms)",
                preset_names()
            ));
        }
        let mut c = Conditions {
            offline: false,
            latency: Duration::ZERO,
            down: 0.0,
            up: 0.0,
        };
        let mut delay = None;
        for part in lower.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected KEY=VALUE"))?;
            match key.trim() {
                "down" => c.down = rate(value)? * THROUGHPUT_FACTOR,
                "up" => c.up = rate(value)? * THROUGHPUT_FACTOR,
                "rtt" if delay.is_none() => delay = Some(time(value)?.mul_f64(RTT_TO_LATENCY)),
                "latency" if delay.is_none() => delay = Some(time(value)?),
                "rtt" | "latency" => return Err("give rtt or latency, once".into()),
                other => {
                    return Err(format!(
                        "unknown key `{other}` (keys: down, up, rtt, latency)"
                    ))
                }
            }
        }
        c.latency = delay.unwrap_or_default();
        Ok(c)
    }
}

/// The presets' names, for messages and help.
pub fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rate (`1.6mbps`, `750kbps`, `500000bps`; bits per second) in bytes per second.
fn rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = [("gbps", 1e9), ("mbps", 1e6), ("kbps", 1e3), ("bps", 1.0)]
        .iter()
        .find_map(|(unit, scale)| t.strip_suffix(unit).map(|n| (n, *scale)))
        .ok_or_else(|| format!("rate `{t}`: expected a number with kbps, mbps or gbps"))?;
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n * scale / 8.0),
        _ => Err(format!(
            "rate `{t}`: expected a positive number, e.g. 1.6mbps"
        )),
    }
}

/// A time (`150ms`, `0.2s`).
fn time(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let parsed = if let Some(ms) = t.strip_suffix("ms") {
        ms.trim().parse::<f64>().map(|n| n / 1000.0)
    } else if let Some(s) = t.strip_suffix('s') {
        s.trim().parse::<f64>()
    } else {
        return Err(format!(
            "time `{t}`: expected a number with ms or s, e.g. 150ms"
        ));
    };
    match parsed {
        Ok(s) if s.is_finite() && (0.0..=60.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("time `{t}`: expected 0 to 60 s, e.g. 150ms")),
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offline {
            return f.write_str("offline");
        }
        let kbps = |r: f64| {
            if r > 0.0 {
                format!("{:.0}kbps", r * 8.0 / 1000.0)
            } else {
                "unlimited".into()
            }
        };
        write!(
            f,
            "latency {:.0}ms, down {}, up {}",
            self.latency.as_secs_f64() * 1000.0,
            kbps(self.down),
            kbps(self.up)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_4g_is_devtools_figures() {
        let c = Conditions::parse("slow-4g").unwrap();
        assert_eq!(c.cdp(), (180_000.0, 84_375.0, 562.5));
        assert_eq!(Conditions::parse("Fast-3G").unwrap(), c);
    }

    #[test]
    fn custom_network_figures_convert_as_lighthouse_does() {
        let c = Conditions::parse("down=1.6mbps,up=750kbps,rtt=150ms").unwrap();
        assert_eq!(c, Conditions::parse("slow-4g").unwrap());
        let l = Conditions::parse("latency=20ms,down=8mbps").unwrap();
        assert_eq!(l.latency, Duration::from_millis(20));
        assert_eq!(l.up, 0.0);
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (text, want) in [
            ("slow-5g", "unknown preset"),
            ("down=fast", "rate `fast`"),
            ("down=-1mbps", "positive"),
            ("rtt=150", "time `150`"),
            ("rtt=1ms,latency=2ms", "once"),
            ("jitter=5ms", "unknown key"),
        ] {
            let e = Conditions::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
