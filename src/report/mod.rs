//! report: to be built.
