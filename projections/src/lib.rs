//! Read models built from event envelopes. Pure: no IO, no storage engine, no clock. Each projection takes
//! envelopes in log order through `apply` and answers queries from memory.

mod index;
pub mod progress;
mod snapshot;

pub use progress::{
    ActivityFilter, ActivityHistory, ActivityRevision, BudgetReport, IndicatorReport, IndicatorStatus, ProgressProjection,
    ProgressQuery, ProgressReport, RevisionState,
};
pub use snapshot::SnapshotError;
