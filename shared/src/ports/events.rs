//! Publishing auth events to other systems: EventBridge in AWS, a file per event locally.

use std::future::Future;
use std::pin::Pin;

use crate::domain::events::AuthEvent;

/// Most events one call takes (EventBridge's `PutEvents` limit).
pub const MAX_BATCH: usize = 10;

/// Why a batch could not be handed over at all; the events stay in the outbox for a retry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("events could not be published: {0}")]
pub struct EventsError(pub String);

/// A boxed publishing future: per event, whether it was accepted (a refused one is retried).
pub type PutFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<bool>, EventsError>> + Send + 'a>>;

/// Delivers auth events. Implementations: [`crate::adapters::file_events::FileEvents`] locally,
/// EventBridge in AWS.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Publishes up to [`MAX_BATCH`] events, in order.
    fn put<'a>(&'a self, events: &'a [AuthEvent]) -> PutFuture<'a>;
}
