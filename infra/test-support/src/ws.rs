//! A [`Publisher`] that records instead of pushing to API Gateway, for the WebSocket tests.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;
use shared::ports::{PublishError, PublishFuture, Publisher};

/// Records every push (each frame must be JSON) and close; ids marked gone answer like API
/// Gateway's 410.
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    sent: Mutex<Vec<(String, Value)>>,
    closed: Mutex<Vec<String>>,
    gone: Mutex<HashSet<String>>,
}

impl RecordingPublisher {
    /// From now on, pushes to `connection_id` fail as gone (the client went away).
    pub fn mark_gone(&self, connection_id: &str) {
        self.gone.lock().expect("lock").insert(connection_id.to_owned());
    }

    /// The frames pushed to `connection_id`, in order.
    pub fn frames_to(&self, connection_id: &str) -> Vec<Value> {
        let sent = self.sent.lock().expect("lock");
        sent.iter().filter(|(to, _)| to == connection_id).map(|(_, frame)| frame.clone()).collect()
    }

    /// The connections closed so far, in order.
    pub fn closed(&self) -> Vec<String> {
        self.closed.lock().expect("lock").clone()
    }
}

impl Publisher for RecordingPublisher {
    fn send<'a>(&'a self, connection_id: &'a str, frame: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            if self.gone.lock().expect("lock").contains(connection_id) {
                return Err(PublishError::Gone);
            }
            let frame = serde_json::from_str(frame).expect("frames are JSON");
            self.sent.lock().expect("lock").push((connection_id.to_owned(), frame));
            Ok(())
        })
    }

    fn close<'a>(&'a self, connection_id: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            self.closed.lock().expect("lock").push(connection_id.to_owned());
            Ok(())
        })
    }
}
