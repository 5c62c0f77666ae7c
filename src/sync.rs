//! One lock policy for the whole crate: a poisoned mutex is taken over, not propagated.
//!
//! Every mutex here guards counters, maps or buffers that a panicking holder cannot leave in a
//! state worse than "one update missing"; the panic itself is already reported. Propagating the
//! poison would turn one failed user into a run that fails every later request.

use std::sync::{Mutex, MutexGuard};

/// `mutex.locked()`: the guard, whether or not an earlier holder panicked.
pub trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Locked;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_poisoned_mutex_still_gives_its_value() {
        let m = Arc::new(Mutex::new(1));
        let held = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = held.lock().unwrap();
            *g = 2;
            panic!("holder dies");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*m.locked(), 2);
    }
}
