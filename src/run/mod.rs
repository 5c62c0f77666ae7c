//! run: to be built.
