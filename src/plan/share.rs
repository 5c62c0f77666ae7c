//! One process's share of a distributed run: worker `index` of `of` takes every `of`-th user,
//! arrival and unique data row, so the shares of all workers add up exactly to the plan and
//! per-worker user counts differ by at most one.

use crate::metrics::Mode;
use serde::{Deserialize, Serialize};

/// Worker `index` (0-based) of `of` workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub index: u32,
    pub of: u32,
}

impl Default for Share {
    fn default() -> Self {
        Share::WHOLE
    }
}

impl Share {
    /// The whole plan (a run on one machine).
    pub const WHOLE: Share = Share { index: 0, of: 1 };

    /// Worker `index` of `of`; None unless `index < of`.
    pub fn new(index: u32, of: u32) -> Option<Share> {
        (index < of).then_some(Share { index, of })
    }

    /// This share of `total` (users, a user cap): the first `total % of` shares get one more.
    pub fn part(self, total: usize) -> usize {
        let (of, i) = (self.of.max(1) as usize, self.index as usize);
        total / of + usize::from(i < total % of)
    }

    /// Whether the `n`-th (0-based) arrival or data row of the whole plan is this share's.
    pub fn owns(self, n: u64) -> bool {
        n % u64::from(self.of.max(1)) == u64::from(self.index)
    }

    /// The plan-wide sequence number of this share's `j`-th user (what picks its flow).
    pub fn nth(self, j: u64) -> u64 {
        u64::from(self.index) + j * u64::from(self.of.max(1))
    }
}

/// A process's share of each mode's users. Without worker roles every mode follows the
/// worker's one share; with them (`throng worker --role`) each mode's users are spread over
/// the workers that run that mode, and a worker runs none of a mode it has no share of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeShares {
    pub http: Option<Share>,
    pub browser: Option<Share>,
}

impl Default for ModeShares {
    fn default() -> Self {
        ModeShares::same(Share::WHOLE)
    }
}

impl ModeShares {
    /// No users of any mode.
    pub const NONE: ModeShares = ModeShares {
        http: None,
        browser: None,
    };

    /// Every mode with the same share.
    pub fn same(share: Share) -> Self {
        ModeShares {
            http: Some(share),
            browser: Some(share),
        }
    }

    /// This process's share of `mode`'s users (None: it runs none of them).
    pub fn of(self, mode: Mode) -> Option<Share> {
        match mode {
            Mode::Http => self.http,
            Mode::Browser => self.browser,
        }
    }

    pub fn set(&mut self, mode: Mode, share: Option<Share>) {
        match mode {
            Mode::Http => self.http = share,
            Mode::Browser => self.browser = share,
        }
    }

    /// "http 1 of 2, browser 1 of 1" (the modes it runs).
    pub fn describe(self) -> String {
        let parts: Vec<String> = [(Mode::Http, self.http), (Mode::Browser, self.browser)]
            .into_iter()
            .filter_map(|(m, s)| s.map(|s| format!("{m} {} of {}", s.index + 1, s.of)))
            .collect();
        if parts.is_empty() {
            return "no users".into();
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_sum_to_the_total_and_differ_by_at_most_one() {
        for of in 1..=7u32 {
            for total in 0..50usize {
                let parts: Vec<usize> = (0..of)
                    .map(|i| Share::new(i, of).unwrap().part(total))
                    .collect();
                assert_eq!(parts.iter().sum::<usize>(), total, "{of} {total}");
                let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{parts:?}");
            }
        }
    }

    #[test]
    fn every_arrival_and_user_number_belongs_to_exactly_one_share() {
        let of = 3;
        for n in 0..100u64 {
            let owners = (0..of)
                .filter(|&i| Share::new(i, of).unwrap().owns(n))
                .count();
            assert_eq!(owners, 1);
        }
        // The first `part(T)` users of every share are exactly users 0..T of the whole plan.
        let total = 10usize;
        let mut ids: Vec<u64> = (0..of)
            .flat_map(|i| {
                let s = Share::new(i, of).unwrap();
                (0..s.part(total) as u64).map(move |j| s.nth(j))
            })
            .collect();
        ids.sort();
        assert_eq!(ids, (0..total as u64).collect::<Vec<_>>());
        assert!(Share::new(3, 3).is_none());
    }
}
