//! Flow files: the serde model, loading with located errors, and validation.

pub mod model;

pub use model::*;
