//! Work that runs outside a request. Mail delivery from the outbox, and the scheduled jobs the
//! `scheduler` function (EventBridge Scheduler) and the devserver's ticker run.
//!
//! Every scheduled job is idempotent and safe to run twice at once: it claims its rows atomically,
//! works in bounded batches, stops before its deadline, and reports what it did.

pub mod cleanup;
pub mod deletion_reminders;
pub mod dispatch;
pub mod message;
pub mod outbox_sweep;
pub mod publish_events;
pub mod purge;
pub mod send_email;
pub mod tasks;

pub use dispatch::enqueue;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::AppState;

/// Rows one batch touches: small enough that a batch is a short transaction.
pub const BATCH_SIZE: i64 = 100;

/// The jobs the scheduler runs, named as in the schedule's input (`{"job": "purge-deleted-accounts"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduledJob {
    /// Mails the "your account will be deleted in N days" reminders, each once.
    DeletionReminders,
    /// Hard-deletes accounts whose grace period ended.
    PurgeDeletedAccounts,
    /// Removes expired tokens, dead sessions, old rate-limit windows and finished tasks.
    CleanupExpired,
    /// Re-delivers mail the request that queued it could not send, and queues again tasks whose
    /// message never left.
    OutboxSweep,
}

impl ScheduledJob {
    /// Every job, in the order the devserver's ticker runs them.
    pub const ALL: [Self; 4] =
        [Self::DeletionReminders, Self::PurgeDeletedAccounts, Self::CleanupExpired, Self::OutboxSweep];

    /// The name used in schedules, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::DeletionReminders => "deletion-reminders",
            Self::PurgeDeletedAccounts => "purge-deleted-accounts",
            Self::CleanupExpired => "cleanup-expired",
            Self::OutboxSweep => "outbox-sweep",
        }
    }

    /// The job with this name (`_` and `-` are interchangeable, case is ignored).
    pub fn from_name(name: &str) -> Option<Self> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|job| job.name() == wanted)
    }

    /// Runs the job until it has nothing left to do or `deadline` is near.
    pub async fn run(self, state: &AppState, deadline: Instant) -> Result<Report, JobError> {
        let mut report = Report::new(self);
        let stop_at = stop_at(deadline);
        match self {
            Self::DeletionReminders => deletion_reminders::run(state, stop_at, &mut report).await?,
            Self::PurgeDeletedAccounts => purge::run(state, stop_at, &mut report).await?,
            Self::CleanupExpired => cleanup::run(state, stop_at, &mut report).await?,
            Self::OutboxSweep => outbox_sweep::run(state, stop_at, &mut report).await?,
        }
        tracing::info!(job = self.name(), counts = ?report.counts, complete = report.complete, "scheduled job finished");
        Ok(report)
    }
}

/// What a job did: counts by kind, and whether it finished or stopped at its deadline with work
/// left (the next run continues).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The job.
    pub job: ScheduledJob,
    /// e.g. `{"reminders_queued": 2}`.
    pub counts: BTreeMap<&'static str, u64>,
    /// False when the deadline stopped it with work left.
    pub complete: bool,
}

impl Report {
    fn new(job: ScheduledJob) -> Self {
        Self { job, counts: BTreeMap::new(), complete: true }
    }

    /// Adds `n` to the count `what`.
    pub fn add(&mut self, what: &'static str, n: u64) {
        *self.counts.entry(what).or_default() += n;
    }

    /// The count `what` (0 when never added).
    pub fn count(&self, what: &str) -> u64 {
        self.counts.get(what).copied().unwrap_or(0)
    }
}

/// Why a job stopped early; what it finished before stays done.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A mail could not be rendered.
    #[error(transparent)]
    Template(#[from] crate::mail::templates::MissingValue),
    /// The work is held by another run right now; retry later.
    #[error("busy: {0}")]
    Busy(String),
    /// The event bus refused or did not answer; the events stay in the outbox.
    #[error(transparent)]
    Events(#[from] crate::ports::EventsError),
}

/// When to stop starting batches: a fifth of the budget (at most five seconds) is kept in reserve,
/// so the last batch finishes and the report is returned instead of the invocation timing out —
/// whether the function has Lambda's default 3 s or 15 minutes.
fn stop_at(deadline: Instant) -> Instant {
    let budget = deadline.saturating_duration_since(Instant::now());
    deadline - (budget / 5).min(std::time::Duration::from_secs(5))
}

/// Whether there is still time to start another batch.
pub(crate) fn time_left(stop_at: Instant) -> bool {
    Instant::now() < stop_at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_the_budget_at_most_five_seconds_is_kept_in_reserve() {
        let now = Instant::now();
        let short = stop_at(now + std::time::Duration::from_secs(3));
        assert!(
            short > now + std::time::Duration::from_millis(2300)
                && short <= now + std::time::Duration::from_millis(2410)
        );
        let long = stop_at(now + std::time::Duration::from_secs(900));
        assert!(long >= now + std::time::Duration::from_secs(894) && long <= now + std::time::Duration::from_secs(895));
        assert!(!time_left(stop_at(now)));
    }

    #[test]
    fn job_names_round_trip_and_tolerate_underscores() {
        for job in ScheduledJob::ALL {
            assert_eq!(ScheduledJob::from_name(job.name()), Some(job));
        }
        assert_eq!(ScheduledJob::from_name("PURGE_DELETED_ACCOUNTS"), Some(ScheduledJob::PurgeDeletedAccounts));
        assert_eq!(ScheduledJob::from_name("reboot"), None);
    }
}
