//! The event sink of a binary built without the `events` feature that is told to use
//! EventBridge: every publish fails, so the events stay in the outbox and the mistake is logged
//! instead of dropping them.

use crate::domain::events::AuthEvent;
use crate::ports::{EventSink, EventsError, PutFuture};

/// Refuses every batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnavailableEvents;

impl EventSink for UnavailableEvents {
    fn put<'a>(&'a self, _events: &'a [AuthEvent]) -> PutFuture<'a> {
        Box::pin(async { Err(EventsError("this binary was built without the `events` feature".into())) })
    }
}
