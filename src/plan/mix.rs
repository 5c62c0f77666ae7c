//! Weighted flow mix: which flow the n-th user follows (`--flow a.json:3 --flow b.json:1`).

/// Deterministic weighted assignment: over any window of `sum(weights)` users, each flow gets
/// exactly its weight, spread evenly (smooth weighted round robin), so small runs stay fair.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowMix {
    order: Vec<usize>,
}

impl FlowMix {
    pub fn new(weights: &[u32]) -> Self {
        let total: i64 = weights.iter().map(|&w| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut order = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, &w) in current.iter_mut().zip(weights) {
                *c += w as i64;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))
                .expect("at least one flow");
            current[best] -= total;
            order.push(best);
        }
        if order.is_empty() {
            order.push(0);
        }
        FlowMix { order }
    }

    /// Index of the flow for the user with this sequence number.
    pub fn pick(&self, user_seq: u64) -> usize {
        self.order[(user_seq % self.order.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_exact_per_window() {
        let mix = FlowMix::new(&[3, 1]);
        let picks: Vec<usize> = (0..8).map(|i| mix.pick(i)).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 6);
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 2);
        assert_eq!(&picks[..4], &[0, 0, 1, 0]);
    }

    #[test]
    fn single_flow_always_zero() {
        let mix = FlowMix::new(&[1]);
        assert!((0..10).all(|i| mix.pick(i) == 0));
    }
}
