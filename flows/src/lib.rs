//! The throng flow format, shared by the `throng` binary and the recorder: the serde model, loading
//! with located one-line errors, validation, origin rewriting, typed value visits and summaries.
//!
//! Loading runs in layers, each reporting `file:line:col: message`: JSON syntax (serde_json's
//! position), step shapes on the raw JSON ([`shape`]), the typed model (serde_path_to_error's
//! path, located by [`locate`]), then semantics ([`validate`]).

mod context;
mod data_files;
mod error;
mod fake;
mod generated;
mod literal;
mod live;
mod load;
pub mod locate;
pub mod model;
mod origin;
mod shape;
mod summary;
mod validate;
mod values;
mod vars;
mod write;

pub use error::{FlowError, Pos};
pub use fake::{FakeKind, FakeRef, FAKE_KINDS};
pub use generated::{shape_of, Encode, Encoding, Generate, Shape, Slot, MAX_GENERATED_LEN};
pub use load::{load, load_with, parse, LoadedFlow};
pub use model::*;
pub use origin::{origin, rewrite_origin};
pub use summary::{summary, FlowSummary};
pub use validate::{check_tracestate, MAX_DWELL_MS, MAX_THINK_TIME_MS};
pub use values::{Place, Site};
pub use vars::{is_identifier, substitute, variables_used};
pub use write::to_checked_json;
