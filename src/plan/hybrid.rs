//! Hybrid plans (`--browsers 5`, `--browsers 5%`): how many of a plan's users run in a real
//! browser, the rest over plain HTTP, spread evenly over the ramp and over the arrivals.

use serde::{Deserialize, Serialize};

/// The browsers' part of a hybrid plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BrowserShare {
    /// This many of the plan's peak users (`--browsers 5`); fewer while the plan has fewer.
    Users(u32),
    /// This share of the users in hundredths of a percent (`--browsers 5%` = 500).
    Basis(u32),
    /// `browsers` of every `users` (a plan file's flows with their modes and users).
    Of { browsers: u32, users: u32 },
}

impl BrowserShare {
    /// Parses `5` or `5%` (`2.5%` too); `flag` names the input in the error.
    pub fn parse(text: &str, flag: &str) -> Result<Self, String> {
        let t = text.trim();
        let err = || format!("{flag} `{text}`: expected a user count (5) or a share (5%)");
        if let Some(pct) = t.strip_suffix('%') {
            let p: f64 = pct.trim().parse().map_err(|_| err())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!(
                    "{flag} `{text}`: the share must be above 0% and at most 100%"
                ));
            }
            return Ok(BrowserShare::Basis((p * 100.0).round().max(1.0) as u32));
        }
        match t.parse::<u32>() {
            Ok(0) => Err(format!(
                "{flag} `{text}`: must be at least 1 (or leave it out)"
            )),
            Ok(n) => Ok(BrowserShare::Users(n)),
            Err(_) => Err(err()),
        }
    }

    /// The browsers' fraction of the users as `(numerator, denominator)`, for a plan whose
    /// peak is `peak` users.
    fn fraction(self, peak: u64) -> (u64, u64) {
        match self {
            BrowserShare::Users(n) => (u64::from(n).min(peak.max(1)), peak.max(1)),
            BrowserShare::Basis(b) => (u64::from(b), 10_000),
            BrowserShare::Of { browsers, users } => (u64::from(browsers), u64::from(users).max(1)),
        }
    }

    /// How many of `users` running at once (the closed model's target) are browsers: the
    /// fraction rounded half up, so 5 of 100 users start one browser per 20 users of the ramp.
    pub fn browsers_of(self, users: u64, peak: u64) -> u64 {
        let (num, den) = self.fraction(peak);
        ((users * num * 2 + den) / (2 * den)).min(users)
    }

    /// Whether arrival number `n` (0-based, plan-wide) of an open-model plan is a browser's:
    /// exactly `floor(n * share)` of the first `n` arrivals are, evenly spread.
    pub fn is_browser_arrival(self, n: u64, peak: u64) -> bool {
        let (num, den) = self.fraction(peak);
        (n + 1) * num / den > n * num / den
    }

    /// Arrival number `n` (0-based, plan-wide): whether it is a browser's, and its number
    /// among its mode's arrivals (so each mode's arrivals can be spread over its own workers).
    pub fn arrival_in_mode(self, n: u64, peak: u64) -> (bool, u64) {
        let (num, den) = self.fraction(peak);
        // Exactly floor(n * share) of the first n arrivals are browsers'.
        let browsers_before = n * num / den;
        match self.is_browser_arrival(n, peak) {
            true => (true, browsers_before),
            false => (false, n - browsers_before),
        }
    }

    /// "5 in browsers" or "5% in browsers".
    pub fn describe(self) -> String {
        format!("{self} in browsers")
    }
}

/// As typed: `5` or `5%`.
impl std::fmt::Display for BrowserShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            BrowserShare::Users(n) => write!(f, "{n}"),
            BrowserShare::Basis(b) if b % 100 == 0 => write!(f, "{}%", b / 100),
            BrowserShare::Basis(b) => write!(f, "{}%", f64::from(b) / 100.0),
            BrowserShare::Of { browsers, users } => write!(f, "{browsers} of every {users}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_shares_parse_and_bad_ones_name_the_flag() {
        assert_eq!(
            BrowserShare::parse("5", "--browsers"),
            Ok(BrowserShare::Users(5))
        );
        assert_eq!(
            BrowserShare::parse("5%", "--browsers"),
            Ok(BrowserShare::Basis(500))
        );
        assert_eq!(
            BrowserShare::parse("2.5%", "x"),
            Ok(BrowserShare::Basis(250))
        );
        for bad in ["0", "0%", "101%", "five", "-1", ""] {
            let e = BrowserShare::parse(bad, "--browsers").unwrap_err();
            assert!(e.starts_with("--browsers"), "{e}");
        }
    }

    #[test]
    fn browsers_follow_the_ramp_and_reach_the_count_at_the_peak() {
        let five = BrowserShare::Users(5);
        assert_eq!(five.browsers_of(100, 100), 5);
        assert_eq!(five.browsers_of(0, 100), 0);
        assert_eq!(five.browsers_of(9, 100), 0);
        assert_eq!(five.browsers_of(10, 100), 1);
        assert_eq!(five.browsers_of(50, 100), 3);
        // Never more browsers than users.
        assert_eq!(BrowserShare::Users(7).browsers_of(3, 3), 3);
        let pct = BrowserShare::Basis(500);
        assert_eq!(pct.browsers_of(100, 1), 5);
        assert_eq!(pct.browsers_of(200, 1), 10);
        // Non-decreasing over the ramp.
        let counts: Vec<u64> = (0..=100).map(|u| five.browsers_of(u, 100)).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1] && w[1] - w[0] <= 1));
    }

    #[test]
    fn arrivals_are_browsers_at_the_share_evenly_spread() {
        let pct = BrowserShare::Basis(500);
        let picks: Vec<u64> = (0..100).filter(|&n| pct.is_browser_arrival(n, 1)).collect();
        assert_eq!(picks, vec![19, 39, 59, 79, 99]);
        // Each mode's arrivals are numbered 0, 1, 2, ... without gaps.
        let (mut b, mut h) = (0, 0);
        for n in 0..1000 {
            let (browser, i) = pct.arrival_in_mode(n, 1);
            let next = if browser { &mut b } else { &mut h };
            assert_eq!(i, *next, "arrival {n}");
            *next += 1;
        }
        assert_eq!((b, h), (50, 950));
    }
}
