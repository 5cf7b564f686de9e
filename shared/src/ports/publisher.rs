//! Pushing frames to WebSocket connections: the API Gateway Management API in AWS, an in-process
//! hub in the devserver.

use std::future::Future;
use std::pin::Pin;

/// Why a frame was not delivered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    /// The connection no longer exists (API Gateway's 410): forget it.
    #[error("connection gone")]
    Gone,
    /// Anything else; the frame is lost, the connection kept.
    #[error("push failed: {0}")]
    Failed(String),
}

/// A boxed publisher future.
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// Sends frames to, and closes, connections by id.
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Sends one text frame to `connection_id`.
    fn send<'a>(&'a self, connection_id: &'a str, frame: &'a str) -> PublishFuture<'a>;

    /// Closes `connection_id` (its session ended).
    fn close<'a>(&'a self, connection_id: &'a str) -> PublishFuture<'a>;
}
