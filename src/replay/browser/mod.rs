//! Browser replay: to be built.
