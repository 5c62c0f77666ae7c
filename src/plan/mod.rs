//! plan: to be built.
