//! Read models built from event envelopes. Pure: no IO, no storage engine, no clock. Each projection takes
//! envelopes in log order through `apply` and answers queries from memory.

mod arena;
mod codec;
mod index;
pub mod progress;
mod snapshot;
mod table;

pub use codec::SnapshotError;
pub use progress::{
    ActivityFilter, BudgetReport, IndicatorReport, IndicatorStatus, ProgressProjection, ProgressQuery, ProgressReport,
};
pub use table::{ActivityHistory, ActivityRevision};
