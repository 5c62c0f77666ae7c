//! demo: to be built.
