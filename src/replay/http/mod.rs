//! HTTP replay: to be built.
