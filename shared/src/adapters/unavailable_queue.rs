//! Stand-in for `QUEUE_BACKEND=sqs` in binaries built without the `sqs` feature: every send
//! fails, so the outbox keeps the mail and the sweep retries it; the failure is logged.

use std::future::Future;
use std::pin::Pin;

use crate::jobs::message::Envelope;
use crate::ports::{Queue, QueueDepth, QueueError};

/// Refuses every message with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct UnavailableQueue;

fn unavailable() -> QueueError {
    QueueError::Unavailable("the SQS queue backend needs the `sqs` feature, which this binary was built without".into())
}

impl Queue for UnavailableQueue {
    fn send<'a>(&'a self, _: &'a Envelope) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>> {
        Box::pin(async { Err(unavailable()) })
    }

    fn depth(&self) -> Pin<Box<dyn Future<Output = Result<QueueDepth, QueueError>> + Send + '_>> {
        Box::pin(async { Err(unavailable()) })
    }
}
