//! The queue message format: `{"job": "<name>", "id": "<uuid>", "payload": {...}, "request_id": "…"}`.
//! The `id` names the message for idempotency: a redelivered message has the same id.
//! `request_id`, when the job was queued while serving a request, is that request's id: the
//! worker logs the job's lines under it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::telemetry::correlation::bounded;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Message id, recorded once the job succeeded.
    pub id: Uuid,
    /// What to do.
    pub job: Job,
    /// The request that queued the job, if one did.
    pub request_id: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
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
        Self { id: Uuid::new_v4(), job, request_id: None }
    }

    /// The message, marked as queued by the request `request_id`.
    pub fn queued_by(self, request_id: Option<String>) -> Self {
        Self { request_id, ..self }
    }

    /// The JSON body sent to the queue.
    pub fn to_body(&self) -> String {
        let wire = Wire {
            job: self.job.name().to_owned(),
            id: self.id,
            payload: self.job.payload(),
            request_id: self.request_id.clone(),
        };
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
        let request_id = wire.request_id.as_deref().map(bounded).filter(|id| !id.is_empty());
        Ok(Self { id: wire.id, job, request_id })
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
            assert_eq!(Envelope::decode(&message.to_body()), Ok(message.clone()));
            let queued_by_a_request = message.queued_by(Some("req-1".into()));
            assert_eq!(Envelope::decode(&queued_by_a_request.to_body()), Ok(queued_by_a_request));
        }
    }

    #[test]
    fn a_long_request_id_is_cut_and_an_empty_one_dropped() {
        let id = Uuid::nil();
        let long = json!({"job": "publish-events", "id": id, "request_id": "x".repeat(1000)}).to_string();
        let decoded = Envelope::decode(&long).expect("decodes");
        assert_eq!(decoded.request_id.map(|id| id.len()), Some(crate::telemetry::correlation::MAX_REQUEST_ID_CHARS));
        let empty = json!({"job": "publish-events", "id": id, "request_id": ""}).to_string();
        assert_eq!(Envelope::decode(&empty).map(|message| message.request_id), Ok(None));
    }

    #[test]
    fn the_wire_format_is_the_documented_one() {
        let id = Uuid::nil();
        let body = Envelope::new(Job::SendEmail { outbox_id: id }).to_body();
        let value: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value["job"], "send-email");
        assert_eq!(value["payload"], json!({"outbox_id": id}));
        assert!(value.get("request_id").is_none(), "no request, no request_id");
        let body = Envelope { id, job: Job::PublishEvents, request_id: Some("req-1".into()) }.to_body();
        let value: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(value, json!({"job": "publish-events", "id": id, "payload": {}, "request_id": "req-1"}));
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
