//! The queue message format: `{"job": "<name>", "id": "<uuid>", "payload": {...}}`.
//! The `id` names the message for idempotency: a redelivered message has the same id.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Work the worker runs from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Deliver one outbox mail.
    SendEmail {
        /// The outbox row.
        outbox_id: Uuid,
    },
    /// Run one task submitted through the tasks API.
    RunTask {
        /// The `tasks` row.
        task_id: Uuid,
    },
    /// Publish the unsent auth events of the outbox, oldest first.
    PublishEvents,
}

impl Job {
    /// The name in the message's `job` field.
    pub fn name(self) -> &'static str {
        match self {
            Self::SendEmail { .. } => "send-email",
            Self::RunTask { .. } => "run-task",
            Self::PublishEvents => "publish-events",
        }
    }

    fn payload(self) -> Value {
        match self {
            Self::SendEmail { outbox_id } => json!({ "outbox_id": outbox_id }),
            Self::RunTask { task_id } => json!({ "task_id": task_id }),
            Self::PublishEvents => json!({}),
        }
    }
}

/// A message on the queue: a job and the id that makes redeliveries recognisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Message id, recorded once the job succeeded.
    pub id: Uuid,
    /// What to do.
    pub job: Job,
}

/// A message body that is not a job this worker knows; retrying it cannot help.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("malformed job message: {0}")]
pub struct MalformedMessage(pub String);

#[derive(Serialize, Deserialize)]
struct Wire {
    job: String,
    id: Uuid,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct OutboxPayload {
    outbox_id: Uuid,
}

#[derive(Deserialize)]
struct TaskPayload {
    task_id: Uuid,
}

impl Envelope {
    /// A new message (fresh id) for `job`.
    pub fn new(job: Job) -> Self {
        Self { id: Uuid::new_v4(), job }
    }

    /// The JSON body sent to the queue.
    pub fn to_body(&self) -> String {
        let wire = Wire { job: self.job.name().to_owned(), id: self.id, payload: self.job.payload() };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads a message body.
    pub fn decode(body: &str) -> Result<Self, MalformedMessage> {
        let wire: Wire = serde_json::from_str(body).map_err(|error| MalformedMessage(error.to_string()))?;
        let job = match wire.job.as_str() {
            "send-email" => {
                let payload: OutboxPayload = serde_json::from_value(wire.payload)
                    .map_err(|error| MalformedMessage(format!("send-email payload: {error}")))?;
                Job::SendEmail { outbox_id: payload.outbox_id }
            }
            "run-task" => {
                let payload: TaskPayload = serde_json::from_value(wire.payload)
                    .map_err(|error| MalformedMessage(format!("run-task payload: {error}")))?;
                Job::RunTask { task_id: payload.task_id }
            }
            "publish-events" => Job::PublishEvents,
            other => return Err(MalformedMessage(format!("unknown job {other:?}"))),
        };
        Ok(Self { id: wire.id, job })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for job in
            [Job::SendEmail { outbox_id: Uuid::new_v4() }, Job::RunTask { task_id: Uuid::new_v4() }, Job::PublishEvents]
        {
            let message = Envelope::new(job);
            assert_eq!(Envelope::decode(&message.to_body()), Ok(message));
        }
    }

    #[test]
    fn the_wire_format_is_the_documented_one() {
        let id = Uuid::nil();
        let body = Envelope { id, job: Job::SendEmail { outbox_id: id } }.to_body();
        let value: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value, json!({"job": "send-email", "id": id, "payload": {"outbox_id": id}}));
    }

    #[test]
    fn bad_bodies_are_malformed_not_panics() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"job": "send-email"}"#,
            r#"{"job": "send-email", "id": "x", "payload": {}}"#,
            r#"{"job": "send-email", "id": "00000000-0000-0000-0000-000000000000", "payload": {}}"#,
            r#"{"job": "mine-bitcoin", "id": "00000000-0000-0000-0000-000000000000"}"#,
        ] {
            assert!(Envelope::decode(body).is_err(), "{body}");
        }
    }
}
