//! `outbox-sweep`: queues again the mail that is still unsent a minute after it was queued (the
//! queue or the mail service was down, or the function stopped between commit and queueing).
//! Delivery locks each row and checks `sent_at`, so a mail queued twice — by the request and by
//! the sweep — is still sent once.

use std::time::Instant;

use super::message::Job;
use super::{BATCH_SIZE, JobError, Report, enqueue, time_left};
use crate::AppState;
use crate::repo::outbox;

/// Rows younger than this belong to the request that queued them.
const MIN_AGE_SECONDS: i32 = 60;
/// After this many failed attempts a mail stays in the outbox for an operator to look at.
pub const MAX_ATTEMPTS: i32 = 10;

/// Queues each due mail once, oldest first.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    let due = outbox::due_for_retry(&state.db, MIN_AGE_SECONDS, MAX_ATTEMPTS, BATCH_SIZE * 5).await?;
    report.add("mail_queued", 0);
    report.add("queue_failures", 0);
    for outbox_id in due {
        if !time_left(stop_at) {
            report.complete = false;
            return Ok(());
        }
        match enqueue(state, Job::SendEmail { outbox_id }).await {
            Ok(()) => report.add("mail_queued", 1),
            Err(error) => {
                tracing::warn!(%outbox_id, %error, "could not queue the mail; the next sweep retries");
                report.add("queue_failures", 1);
            }
        }
    }
    Ok(())
}
