//! `outbox-sweep`: queues again the mail that is still unsent a minute after it was queued (the
//! queue or the mail service was down, or the function stopped between commit and queueing),
//! pausing longer each time (see [`outbox::claim_for_retry`]) and giving up after a day.
//! Delivery locks each row and checks `sent_at`, so a mail queued twice — by the request and by
//! the sweep — is still sent once.

use std::time::Instant;

use super::message::Job;
use super::{BATCH_SIZE, JobError, Report, enqueue, time_left};
use crate::AppState;
use crate::repo::outbox;

/// A mail still unsent after this long is given up (it stays in the outbox, with its last error,
/// until the cleanup job removes it).
pub const GIVE_UP_HOURS: i32 = 24;

/// Queues each due mail once, oldest first.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    let due = outbox::claim_for_retry(&state.db, GIVE_UP_HOURS, BATCH_SIZE * 5).await?;
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
