//! Sending job messages to the queue the worker reads.

use std::future::Future;
use std::pin::Pin;

use crate::jobs::message::Envelope;

/// Why a message could not be queued. Callers that queue after a commit log it and rely on the
/// outbox sweep; nothing that was committed is lost.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue service refused or could not be reached.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// How much work is waiting, for the tasks status endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Messages waiting to be received.
    pub pending: u64,
    /// Messages received and not yet deleted (being worked on).
    pub in_flight: u64,
    /// Messages in the dead-letter queue, when one is configured.
    pub dead_letter: Option<u64>,
}

/// A job queue. Implementations: SQS in AWS, an in-process channel in the devserver.
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Queues one message.
    fn send<'a>(&'a self, message: &'a Envelope) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>>;

    /// How many messages wait (approximate for SQS).
    fn depth(&self) -> Pin<Box<dyn Future<Output = Result<QueueDepth, QueueError>> + Send + '_>>;
}
