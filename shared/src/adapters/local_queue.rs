//! The devserver's queue: an in-process channel. The devserver takes the receiving end and runs
//! the same job code the `worker` function runs, in a background task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::jobs::message::Envelope;
use crate::ports::{Queue, QueueDepth, QueueError};

/// An unbounded in-process queue (the devserver's load is one developer).
#[derive(Debug)]
pub struct LocalQueue {
    sender: UnboundedSender<Envelope>,
    receiver: Mutex<Option<UnboundedReceiver<Envelope>>>,
    pending: AtomicU64,
}

impl Default for LocalQueue {
    fn default() -> Self {
        let (sender, receiver) = unbounded_channel();
        Self { sender, receiver: Mutex::new(Some(receiver)), pending: AtomicU64::new(0) }
    }
}

impl LocalQueue {
    /// The receiving end, once: whoever takes it is the worker.
    pub fn take_receiver(&self) -> Option<UnboundedReceiver<Envelope>> {
        self.receiver.lock().ok()?.take()
    }

    /// Called by the worker when it has taken a message off the queue.
    pub fn mark_received(&self) {
        let _ = self.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

impl Queue for LocalQueue {
    fn send<'a>(&'a self, message: &'a Envelope) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>> {
        Box::pin(async move {
            self.sender
                .send(message.clone())
                .map_err(|_| QueueError::Unavailable("the local worker has stopped".into()))?;
            self.pending.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
    }

    fn depth(&self) -> Pin<Box<dyn Future<Output = Result<QueueDepth, QueueError>> + Send + '_>> {
        Box::pin(async move {
            Ok(QueueDepth { pending: self.pending.load(Ordering::Relaxed), in_flight: 0, dead_letter: None })
        })
    }
}
