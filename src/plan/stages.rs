//! Load shapes: stages of a target user count (closed model) or arrival rate (open model).

use super::duration::{format_duration, parse_duration};
use std::time::Duration;

/// Move linearly from the previous stage's target to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stage {
    pub target: f64,
    pub duration: Duration,
}

/// Piecewise-linear targets over time, starting from 0.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stages(pub Vec<Stage>);

impl Stages {
    /// `--users N --ramp R --duration D`: ramp to N over R, hold N until D has elapsed in all.
    pub fn ramp_and_hold(users: u32, ramp: Duration, total: Duration) -> Result<Self, String> {
        if ramp > total {
            return Err(format!(
                "--ramp {} is longer than --duration {}",
                format_duration(ramp),
                format_duration(total)
            ));
        }
        let mut stages = Vec::new();
        if !ramp.is_zero() {
            stages.push(Stage {
                target: users as f64,
                duration: ramp,
            });
        } else {
            // A zero-length stage jumps straight to the target.
            stages.push(Stage {
                target: users as f64,
                duration: Duration::ZERO,
            });
        }
        stages.push(Stage {
            target: users as f64,
            duration: total - ramp,
        });
        Ok(Stages(stages))
    }

    /// `--arrival-rate R --ramp R --duration D`: like [`Self::ramp_and_hold`] for a rate.
    pub fn ramp_and_hold_rate(rate: f64, ramp: Duration, total: Duration) -> Result<Self, String> {
        let mut stages = Self::ramp_and_hold(1, ramp, total)?;
        for s in &mut stages.0 {
            s.target = rate;
        }
        Ok(stages)
    }

    /// Parses `10@30s,50@2m,0@30s` (targets may be fractional for rates, e.g. `0.5@1m`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut stages = Vec::new();
        for (i, part) in text.split(',').enumerate() {
            let part = part.trim();
            let (target, duration) = part.split_once('@').ok_or_else(|| {
                format!("--stages `{text}`: stage {} `{part}` must look like TARGET@DURATION, e.g. 50@2m", i + 1)
            })?;
            let target: f64 = target.trim().parse().map_err(|_| {
                format!(
                    "--stages `{text}`: stage {} `{part}`: `{target}` is not a number",
                    i + 1
                )
            })?;
            if !target.is_finite() || target < 0.0 {
                return Err(format!(
                    "--stages `{text}`: stage {} `{part}`: target must be >= 0",
                    i + 1
                ));
            }
            let duration = parse_duration(duration)
                .map_err(|e| format!("--stages `{text}`: stage {} `{part}`: {e}", i + 1))?;
            stages.push(Stage { target, duration });
        }
        let stages = Stages(stages);
        if stages.total().is_zero() {
            return Err(format!("--stages `{text}`: total duration is zero"));
        }
        Ok(stages)
    }

    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }

    /// Highest target of any stage.
    pub fn peak(&self) -> f64 {
        self.0.iter().map(|s| s.target).fold(0.0, f64::max)
    }

    /// Target at time `t` since the start (linear within a stage); the last target after the end.
    pub fn target_at(&self, t: Duration) -> f64 {
        let mut from = 0.0;
        let mut start = Duration::ZERO;
        for stage in &self.0 {
            let end = start + stage.duration;
            if t < end {
                let frac = (t - start).as_secs_f64() / stage.duration.as_secs_f64();
                return from + (stage.target - from) * frac;
            }
            from = stage.target;
            start = end;
        }
        from
    }

    /// Whether any stage changes the target gradually (a ramp worth marking a knee on).
    pub fn ramps(&self) -> bool {
        let mut from = 0.0;
        self.0.iter().any(|s| {
            let ramps = s.target != from && !s.duration.is_zero();
            from = s.target;
            ramps
        })
    }

    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|s| format!("{}@{}", s.target, format_duration(s.duration)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_interpolates() {
        let s = Stages::parse("10@10s, 50@20s,50@5s,0@5s").unwrap();
        assert_eq!(s.total(), Duration::from_secs(40));
        assert_eq!(s.peak(), 50.0);
        assert_eq!(s.target_at(Duration::from_secs(5)), 5.0);
        assert_eq!(s.target_at(Duration::from_secs(20)), 30.0);
        assert_eq!(s.target_at(Duration::from_secs(32)), 50.0);
        assert_eq!(s.target_at(Duration::from_secs(100)), 0.0);
        assert!(s.ramps());
    }

    #[test]
    fn bad_stage_strings_name_the_stage() {
        assert_eq!(
            Stages::parse("10@30s,fifty@2m").unwrap_err(),
            "--stages `10@30s,fifty@2m`: stage 2 `fifty@2m`: `fifty` is not a number"
        );
        assert!(Stages::parse("10").unwrap_err().contains("TARGET@DURATION"));
        assert!(Stages::parse("10@xs").unwrap_err().contains("stage 1"));
        assert!(Stages::parse("10@0s").unwrap_err().contains("zero"));
    }

    #[test]
    fn ramp_and_hold_jumps_without_ramp() {
        let s = Stages::ramp_and_hold(20, Duration::ZERO, Duration::from_secs(10)).unwrap();
        assert_eq!(s.target_at(Duration::ZERO), 20.0);
        assert!(!s.ramps());
        let r =
            Stages::ramp_and_hold(20, Duration::from_secs(10), Duration::from_secs(20)).unwrap();
        assert_eq!(r.target_at(Duration::from_secs(5)), 10.0);
        assert!(Stages::ramp_and_hold(1, Duration::from_secs(5), Duration::from_secs(1)).is_err());
    }
}
