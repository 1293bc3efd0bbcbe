//! The access-summary format shared by all tracer backends (see README.md).
//!
//! A backend turns what it observes into an ordered stream of [`Event`]s and
//! feeds them to a [`Summarizer`]; the summarizer alone decides what counts as
//! a read, a write, a create, a delete or a rename, so every backend classifies
//! the same way. [`Summarizer::finish`] yields the [`Summary`], which
//! serialises to the versioned JSON document described in README.md.

pub mod control;
mod event;
mod job;
pub mod launch;
mod path;
mod summarizer;
mod summary;
mod wait;

pub use control::{ControlServer, CONTROL_ENV};
pub use event::{Event, OpenFlags};
pub use job::{now_ns, start_control, Collector, Flush, Job, Recovery, SpawnConfig, SpawnError};
pub use launch::{ExecPtrs, Launch};
pub use path::{normalize_lexically, RawPath};
pub use summarizer::{RunInfo, Summarizer};
pub use summary::{FileAccess, ProcessInfo, Rename, Stats, Summary, FORMAT_NAME, FORMAT_VERSION};
pub use wait::exit_status;
