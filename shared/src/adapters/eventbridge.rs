//! Amazon EventBridge (`EVENTS_BACKEND=eventbridge`), behind the `events` feature so only the
//! worker, which publishes, carries the SDK.
//!
//! The client is created on first use, not at cold start. Each event becomes one `PutEvents`
//! entry: `source` from `EVENT_SOURCE`, `detail-type` the event's type, `detail` the event itself
//! (with its `event_id`, since EventBridge assigns its own ids), `time` when it happened. An entry
//! EventBridge refuses is reported as not accepted and retried from the outbox.

use std::sync::OnceLock;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::domain::events::AuthEvent;
use crate::ports::{EventSink, EventsError, PutFuture};

/// Publishes to one event bus.
#[derive(Debug)]
pub struct EventBridgeSink {
    bus_name: String,
    source: String,
    client: OnceLock<Client>,
}

impl EventBridgeSink {
    /// A sink for bus `bus_name` with `source`. Does no I/O.
    pub fn new(bus_name: impl Into<String>, source: impl Into<String>) -> Self {
        Self { bus_name: bus_name.into(), source: source.into(), client: OnceLock::new() }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&super::aws_env::sdk_config(None)))
    }
}

impl EventSink for EventBridgeSink {
    fn put<'a>(&'a self, events: &'a [AuthEvent]) -> PutFuture<'a> {
        Box::pin(async move {
            let entries = events
                .iter()
                .map(|event| {
                    let detail = serde_json::to_string(event).map_err(|error| EventsError(error.to_string()))?;
                    Ok(PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(&self.source)
                        .detail_type(&event.kind)
                        .detail(detail)
                        .time(DateTime::from_millis(event.occurred_at.timestamp_millis()))
                        .build())
                })
                .collect::<Result<Vec<_>, EventsError>>()?;
            let answer = self
                .client()
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| EventsError(super::aws_env::describe(&error)))?;
            let results = answer.entries();
            // One result per entry, in order; an entry without one counts as refused.
            Ok((0..events.len())
                .map(|index| results.get(index).is_some_and(|result| result.error_code().is_none()))
                .collect())
        })
    }
}
