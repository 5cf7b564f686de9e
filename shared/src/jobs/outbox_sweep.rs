//! `outbox-sweep`: queues again the mail that is still unsent a minute after it was queued (the
//! queue or the mail service was down, or the function stopped between commit and queueing),
//! pausing longer each time (see [`outbox::claim_for_retry`]) and giving up after a day.
//! Delivery locks each row and checks `sent_at`, so a mail queued twice — by the request and by
//! the sweep — is still sent once.
//!
//! Auth events wait in the outbox too: when any is unsent, one `publish-events` job is queued,
//! and the worker sends them in batches. Events therefore leave within a sweep interval of their
//! change (2 minutes on AWS).
//!
//! Tasks are the other outbox: stored PENDING, then queued. A task still PENDING five minutes
//! later is queued again (then after 10, 20, 40, 60 … minutes), because the function that stored
//! it may have died before its message left. A worker claims a task atomically (PENDING →
//! STARTED), so a message that was only late makes the task run once all the same.

use std::time::Instant;

use super::message::Job;
use super::{BATCH_SIZE, JobError, Report, enqueue, time_left};
use crate::AppState;
use crate::repo::{outbox, tasks};

/// A mail still unsent after this long is given up (it stays in the outbox, with its last error,
/// until the cleanup job removes it).
pub const GIVE_UP_HOURS: i32 = 24;

/// Queues each due mail once, oldest first, then each task left PENDING.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    let due = outbox::claim_for_retry(&state.db, GIVE_UP_HOURS, BATCH_SIZE * 5).await?;
    report.add("mail_queued", 0);
    report.add("tasks_queued", 0);
    report.add("queue_failures", 0);
    let mail = due.into_iter().map(|outbox_id| (Job::SendEmail { outbox_id }, "mail_queued"));
    if !queue_each(state, mail, stop_at, report).await {
        return Ok(());
    }
    let unqueued = tasks::claim_unqueued(&state.db, BATCH_SIZE).await?;
    let tasks = unqueued.into_iter().map(|task_id| (Job::RunTask { task_id }, "tasks_queued"));
    if !queue_each(state, tasks, stop_at, report).await {
        return Ok(());
    }
    report.add("event_publishers_queued", 0);
    if outbox::has_unsent_events(&state.db).await? {
        queue_each(state, std::iter::once((Job::PublishEvents, "event_publishers_queued")), stop_at, report).await;
    }
    Ok(())
}

/// Queues each job, counting it under its name; false (and the report incomplete) when the
/// deadline came first. A job that cannot be queued is retried by the next sweep.
async fn queue_each(
    state: &AppState,
    jobs: impl Iterator<Item = (Job, &'static str)>,
    stop_at: Instant,
    report: &mut Report,
) -> bool {
    for (job, counter) in jobs {
        if !time_left(stop_at) {
            report.complete = false;
            return false;
        }
        match enqueue(state, job).await {
            Ok(()) => report.add(counter, 1),
            Err(error) => {
                tracing::warn!(?job, %error, "could not queue the job; the next sweep retries");
                report.add("queue_failures", 1);
            }
        }
    }
    true
}
