//! Amazon SQS (`QUEUE_BACKEND=sqs`), behind the `sqs` feature. Like the SES adapter, the SDK
//! client is created on first use, so a cold start that queues nothing never loads it.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry};
use std::sync::OnceLock;

use crate::jobs::message::Envelope;
use crate::ports::{Queue, QueueDepth, QueueError};

/// Sends job messages to one SQS queue.
#[derive(Debug)]
pub struct SqsQueue {
    queue_url: String,
    dlq_url: Option<String>,
    endpoint_url: Option<String>,
    client: OnceLock<Client>,
}

impl SqsQueue {
    /// A queue client for `queue_url` (and its dead-letter queue, for depth). Does no I/O.
    pub fn new(queue_url: impl Into<String>, dlq_url: Option<String>) -> Self {
        Self { queue_url: queue_url.into(), dlq_url, endpoint_url: None, client: OnceLock::new() }
    }

    /// Talks to `endpoint_url` instead of the endpoint the environment configures (tests point it
    /// at servers that misbehave).
    pub fn with_endpoint_url(mut self, endpoint_url: impl Into<String>) -> Self {
        self.endpoint_url = Some(endpoint_url.into());
        self
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&super::aws_env::sdk_config(self.endpoint_url.as_deref())))
    }

    /// Moves up to `limit` messages from the dead-letter queue back to the queue, ten at a time;
    /// returns how many moved. Each message is sent before it is deleted, so a failure half-way
    /// leaves a message in both queues at worst (jobs are idempotent), never in neither.
    pub async fn redrive_dead_letters(&self, limit: u64) -> Result<u64, QueueError> {
        let unavailable = |error: &dyn std::fmt::Display| QueueError::Unavailable(error.to_string());
        let dlq = self.dlq_url.as_deref().ok_or_else(|| unavailable(&"DLQ_URL is not set"))?;
        let mut moved = 0;
        while moved < limit {
            let received = self
                .client()
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(i32::try_from((limit - moved).min(10)).unwrap_or(10))
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|error| unavailable(&super::aws_env::describe(&error)))?;
            let messages = received.messages();
            if messages.is_empty() {
                break;
            }
            let entries: Vec<_> = messages
                .iter()
                .enumerate()
                .filter_map(|(n, message)| {
                    let body = message.body()?;
                    SendMessageBatchRequestEntry::builder().id(n.to_string()).message_body(body).build().ok()
                })
                .collect();
            if entries.is_empty() {
                return Err(unavailable(&format!(
                    "the dead-letter queue holds messages without a body after {moved} moved"
                )));
            }
            let sent = self
                .client()
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| unavailable(&super::aws_env::describe(&error)))?;
            let sent_ids: Vec<&str> = sent.successful().iter().map(|entry| entry.id()).collect();
            let deletions: Vec<_> = messages
                .iter()
                .enumerate()
                .filter(|(n, _)| sent_ids.contains(&n.to_string().as_str()))
                .filter_map(|(n, message)| {
                    let handle = message.receipt_handle()?;
                    DeleteMessageBatchRequestEntry::builder().id(n.to_string()).receipt_handle(handle).build().ok()
                })
                .collect();
            if !deletions.is_empty() {
                let deleted = self
                    .client()
                    .delete_message_batch()
                    .queue_url(dlq)
                    .set_entries(Some(deletions))
                    .send()
                    .await
                    .map_err(|error| unavailable(&super::aws_env::describe(&error)))?;
                moved += deleted.successful().len() as u64;
                if let Some(kept) = deleted.failed().first() {
                    let why = kept.message().unwrap_or(kept.code());
                    return Err(unavailable(&format!(
                        "a message was sent but stays in the dead-letter queue too, after {moved} moved: {why}"
                    )));
                }
            }
            if let Some(refused) = sent.failed().first() {
                let why = refused.message().unwrap_or(refused.code());
                return Err(unavailable(&format!("the queue refused a message after {moved} moved: {why}")));
            }
        }
        Ok(moved)
    }

    async fn counts(&self, url: &str) -> Result<(u64, u64), QueueError> {
        let answer = self
            .client()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|error| QueueError::Unavailable(super::aws_env::describe(&error)))?;
        let attribute = |name: QueueAttributeName| {
            answer.attributes().and_then(|map| map.get(&name)).and_then(|value| value.parse().ok()).unwrap_or(0)
        };
        Ok((
            attribute(QueueAttributeName::ApproximateNumberOfMessages),
            attribute(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

impl Queue for SqsQueue {
    fn send<'a>(&'a self, message: &'a Envelope) -> Pin<Box<dyn Future<Output = Result<(), QueueError>> + Send + 'a>> {
        Box::pin(async move {
            self.client()
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(message.to_body())
                .send()
                .await
                .map_err(|error| QueueError::Unavailable(super::aws_env::describe(&error)))?;
            Ok(())
        })
    }

    fn depth(&self) -> Pin<Box<dyn Future<Output = Result<QueueDepth, QueueError>> + Send + '_>> {
        Box::pin(async move {
            let (pending, in_flight) = self.counts(&self.queue_url).await?;
            let dead_letter = match &self.dlq_url {
                Some(url) => Some(self.counts(url).await?.0),
                None => None,
            };
            Ok(QueueDepth { pending, in_flight, dead_letter })
        })
    }
}
