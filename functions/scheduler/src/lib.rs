//! `scheduler`: the function EventBridge Scheduler invokes. Each schedule passes its job as the
//! event input, `{"job": "purge-deleted-accounts"}`; the function runs that job until it is done
//! or the invocation's deadline is near, and returns the job's report.

use std::time::Instant;

use serde_json::Value;
use shared::AppState;
use shared::jobs::{JobError, Report, ScheduledJob};
pub use shared::time::deadline_from;

/// Why an invocation did not run a job.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The input has no usable `job` field: a misconfigured schedule, so retrying cannot help.
    #[error("the event has no \"job\" field naming one of: {}", job_names())]
    MissingJob,
    /// The input names a job this function does not know.
    #[error("unknown job {0:?}; expected one of: {names}", names = job_names())]
    UnknownJob(String),
    /// The job failed part-way; what it finished stays done and the next run continues.
    #[error("job failed: {0}")]
    Job(#[from] JobError),
}

fn job_names() -> String {
    ScheduledJob::ALL.map(ScheduledJob::name).join(", ")
}

/// Reads the job from a schedule's input. EventBridge Scheduler delivers the input as the whole
/// event; an EventBridge rule delivers it under `detail`, which is accepted too.
pub fn decode(event: &Value) -> Result<ScheduledJob, SchedulerError> {
    let name = event
        .get("job")
        .or_else(|| event.get("detail").and_then(|detail| detail.get("job")))
        .and_then(Value::as_str)
        .ok_or(SchedulerError::MissingJob)?;
    ScheduledJob::from_name(name).ok_or_else(|| SchedulerError::UnknownJob(name.to_owned()))
}

/// Runs the job an event names.
pub async fn handle(state: &AppState, event: &Value, deadline: Instant) -> Result<Report, SchedulerError> {
    let job = decode(event)?;
    Ok(job.run(state, deadline).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_job_comes_from_the_input_or_the_rule_detail() {
        assert_eq!(decode(&json!({"job": "outbox-sweep"})).ok(), Some(ScheduledJob::OutboxSweep));
        assert_eq!(
            decode(&json!({"detail-type": "Scheduled Event", "detail": {"job": "cleanup-expired"}})).ok(),
            Some(ScheduledJob::CleanupExpired)
        );
    }

    #[test]
    fn a_missing_or_unknown_job_is_a_clear_error() {
        assert!(matches!(decode(&json!({})), Err(SchedulerError::MissingJob)));
        assert!(matches!(decode(&json!({"job": 7})), Err(SchedulerError::MissingJob)));
        let unknown = decode(&json!({"job": "drop-tables"})).expect_err("unknown");
        assert!(unknown.to_string().contains("purge-deleted-accounts"), "{unknown}");
    }
}
