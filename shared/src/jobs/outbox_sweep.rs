//! `outbox-sweep`: re-delivers mail that is still unsent a minute after it was queued (the mail
//! service was down, or the function stopped between commit and delivery). Delivery locks each
//! row, so a sweep racing a request or another sweep never sends a mail twice.

use std::time::Instant;

use super::send_email::{self, Delivery};
use super::{BATCH_SIZE, JobError, Report, time_left};
use crate::AppState;
use crate::repo::outbox;

/// Rows younger than this belong to the request that queued them.
const MIN_AGE_SECONDS: i32 = 60;
/// After this many failed attempts a mail stays in the outbox for an operator to look at.
pub const MAX_ATTEMPTS: i32 = 10;

/// Retries due mail once each, oldest first.
pub(crate) async fn run(state: &AppState, stop_at: Instant, report: &mut Report) -> Result<(), JobError> {
    let due = outbox::due_for_retry(&state.db, MIN_AGE_SECONDS, MAX_ATTEMPTS, BATCH_SIZE * 5).await?;
    report.add("mail_sent", 0);
    report.add("mail_failed", 0);
    for id in due {
        if !time_left(stop_at) {
            report.complete = false;
            return Ok(());
        }
        match send_email::deliver(&state.db, state.mailer.as_ref(), id).await {
            Ok(Delivery::Sent) => report.add("mail_sent", 1),
            Ok(Delivery::Skipped) => report.add("mail_skipped", 1),
            Err(error) => {
                tracing::warn!(outbox_id = %id, %error, "outbox retry failed");
                report.add("mail_failed", 1);
            }
        }
    }
    Ok(())
}
