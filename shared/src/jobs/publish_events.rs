//! `publish-events`: sends the outbox's unsent auth events, oldest first, in batches of
//! [`MAX_BATCH`]. Each batch's rows stay locked while it is sent and are marked sent in the same
//! transaction, so two workers never send one row at once; a crash between sending and the
//! commit sends the batch again, which `event_id` lets consumers notice (at least once).

use std::time::Instant;

use super::{JobError, time_left};
use crate::AppState;
use crate::domain::events::AuthEvent;
use crate::ports::{EventsError, MAX_BATCH};
use crate::repo::outbox;

/// Longest wait for the event service per batch.
pub const PUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Publishes batches until none is left or the deadline nears; returns how many were published.
/// A bus that is down or refuses entries is recorded on the rows and logged, not returned as an
/// error: the next sweep queues another run, so a failed message would only fill the DLQ.
pub(crate) async fn run(state: &AppState, deadline: Instant) -> Result<u64, JobError> {
    let stop_at = super::stop_at(deadline);
    let mut published = 0;
    while time_left(stop_at) {
        let mut tx = state.db.begin().await?;
        let rows = outbox::lock_unsent_events(&mut tx, MAX_BATCH as i64).await?;
        if rows.is_empty() {
            break;
        }
        let (ids, events): (Vec<_>, Vec<AuthEvent>) = rows.into_iter().unzip();
        // Never past the stop: the rows are locked until this transaction ends.
        let wait = PUT_TIMEOUT.min(stop_at.saturating_duration_since(Instant::now()));
        let accepted = match tokio::time::timeout(wait, state.events.put(&events)).await {
            Ok(answer) => answer,
            Err(_elapsed) => Err(EventsError(format!("no answer within {wait:?}"))),
        };
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                for id in &ids {
                    outbox::record_failure(&mut *tx, *id, &error.to_string()).await?;
                }
                tx.commit().await?;
                tracing::warn!(%error, events = ids.len(), "auth events not published; the next sweep retries");
                return Ok(published);
            }
        };
        for (id, ok) in ids.iter().zip(accepted.iter().copied().chain(std::iter::repeat(false))) {
            if ok {
                outbox::mark_event_sent(&mut *tx, *id).await?;
                published += 1;
            } else {
                outbox::record_failure(&mut *tx, *id, "refused by the event bus").await?;
            }
        }
        tx.commit().await?;
        if accepted.iter().any(|ok| !ok) {
            // Refused entries are retried by a later run (after the others: fewer attempts
            // first), not in a loop now.
            tracing::warn!(refused = accepted.iter().filter(|ok| !**ok).count(), "the event bus refused entries");
            break;
        }
    }
    Ok(published)
}
