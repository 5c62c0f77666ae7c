//! browser_replay tests.
