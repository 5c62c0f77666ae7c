//! http_replay tests.
