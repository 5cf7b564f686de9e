//! The devserver's WebSocket hub: each open socket registers a channel here, and the service's
//! pushes go down it to the task that owns the socket. What API Gateway's Management API does in
//! AWS, in process.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::ports::{PublishError, PublishFuture, Publisher};

/// What the hub asks a socket's writer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubMessage {
    /// Send this text frame.
    Frame(String),
    /// Send a close frame and stop.
    Close,
}

/// Open sockets by connection id.
#[derive(Debug, Default)]
pub struct LocalHub {
    connections: Mutex<HashMap<String, UnboundedSender<HubMessage>>>,
}

impl LocalHub {
    /// Registers a socket; its writer reads what is pushed to `connection_id` from the receiver.
    pub fn register(&self, connection_id: &str) -> UnboundedReceiver<HubMessage> {
        let (sender, receiver) = unbounded_channel();
        self.connections().insert(connection_id.to_owned(), sender);
        receiver
    }

    /// Forgets a socket (it closed).
    pub fn unregister(&self, connection_id: &str) {
        self.connections().remove(connection_id);
    }

    /// Open sockets.
    pub fn len(&self) -> usize {
        self.connections().len()
    }

    /// Whether no socket is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn deliver(&self, connection_id: &str, message: HubMessage) -> Result<(), PublishError> {
        let sender = self.connections().get(connection_id).cloned().ok_or(PublishError::Gone)?;
        // A writer that stopped is a socket that is going away: the same as never having been.
        sender.send(message).map_err(|_| PublishError::Gone)
    }

    /// The map; a panic while it was held cannot leave it inconsistent, so poisoning is ignored.
    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<String, UnboundedSender<HubMessage>>> {
        self.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Publisher for LocalHub {
    fn send<'a>(&'a self, connection_id: &'a str, frame: &'a str) -> PublishFuture<'a> {
        Box::pin(async move { self.deliver(connection_id, HubMessage::Frame(frame.to_owned())) })
    }

    fn close<'a>(&'a self, connection_id: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            let delivered = self.deliver(connection_id, HubMessage::Close);
            self.unregister(connection_id);
            delivered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_the_registered_socket_and_unknown_ids_are_gone() {
        let hub = LocalHub::default();
        let mut socket = hub.register("a");

        hub.send("a", "hello").await.expect("delivered");
        let unknown = hub.send("b", "hello").await;

        assert_eq!(socket.recv().await, Some(HubMessage::Frame("hello".into())));
        assert_eq!(unknown, Err(PublishError::Gone));
    }

    #[tokio::test]
    async fn close_tells_the_writer_and_forgets_the_socket() {
        let hub = LocalHub::default();
        let mut socket = hub.register("a");

        hub.close("a").await.expect("closed");

        assert_eq!(socket.recv().await, Some(HubMessage::Close));
        assert!(hub.is_empty());
        assert_eq!(hub.send("a", "late").await, Err(PublishError::Gone));
    }

    #[tokio::test]
    async fn a_stopped_writer_counts_as_gone() {
        let hub = LocalHub::default();
        drop(hub.register("a"));

        assert_eq!(hub.send("a", "x").await, Err(PublishError::Gone));
    }
}
