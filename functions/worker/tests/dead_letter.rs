//! SES keeps refusing a mail: the message is retried by SQS, dead-lettered after five receives,
//! and the mail is neither lost (it waits unsent in the outbox, with SES's error) nor sent twice
//! once the sender is fixed — although the outbox sweep's new message, the redriven DLQ message
//! and a duplicate delivery of it all reach the worker.
//!
//! Everything on the way is real except Lambda's event source mapping, which the test plays
//! faithfully: moto's SQS with the redrive policy of `template.yaml` (`maxReceiveCount: 5`, so
//! moto moves the message to the DLQ on the sixth receive), moto's SES (which rejects a sender
//! that is not a verified identity with `MessageRejected`), the auth API's registration writing
//! the outbox row and queueing the job, and the worker's handler answering with
//! `batchItemFailures`. The poller receives, builds the `SqsEvent` Lambda would build (receipt
//! handle, `ApproximateReceiveCount`, `eventSourceARN`, …), calls the handler and deletes only
//! the messages the answer does not list as failed.
//!
//! Needs Postgres (`DATABASE_URL`) and moto (`AWS_ENDPOINT_URL`), as scripts/test provides.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use shared::AppState;
use shared::jobs::ScheduledJob;
use shared::jobs::message::Envelope;
use sqlx::PgPool;
use test_support::{register_through, test_config};

/// `maxReceiveCount` of the jobs queue's redrive policy in template.yaml.
const MAX_RECEIVE_COUNT: usize = 5;

/// One queue with its dead-letter queue, as template.yaml declares them, in moto.
struct Queues {
    sqs: aws_sdk_sqs::Client,
    main_url: String,
    main_arn: String,
    dlq_url: String,
}

impl Queues {
    async fn create(sqs: aws_sdk_sqs::Client) -> Self {
        let name = format!("jobs-{}", uuid::Uuid::new_v4().simple());
        let dlq_url = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.expect("create the DLQ");
        let dlq_url = dlq_url.queue_url().expect("DLQ url").to_owned();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}).to_string();
        let main = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            // Lambda waits out the visibility timeout (6 min) before a retry; zero lets the test
            // receive a failed message again at once.
            .attributes(QueueAttributeName::VisibilityTimeout, "0")
            .send()
            .await
            .expect("create the main queue");
        let main_url = main.queue_url().expect("queue url").to_owned();
        let main_arn = queue_arn(&sqs, &main_url).await;
        Self { sqs, main_url, main_arn, dlq_url }
    }

    /// `(visible, in flight)` messages of a queue.
    async fn depth(&self, url: &str) -> (u64, u64) {
        let answer = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let get =
            |name| answer.attributes().and_then(|map| map.get(&name)).and_then(|n| n.parse().ok()).expect("a count");
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let answer = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    answer.attributes().and_then(|map| map.get(&QueueAttributeName::QueueArn)).expect("QueueArn").clone()
}

/// What one poll of the event source mapping did.
#[derive(Debug)]
struct Poll {
    /// `ApproximateReceiveCount` of each message handed to the worker.
    receive_counts: Vec<u32>,
    /// How many of them the worker reported as failed (left on the queue).
    failed: usize,
}

/// One poll as Lambda's SQS event source mapping does it: receive a batch, invoke the function
/// with it, delete what it did not report as failed. `None` when the receive returned nothing.
async fn poll(queues: &Queues, state: &AppState) -> Option<Poll> {
    let received = queues
        .sqs
        .receive_message()
        .queue_url(&queues.main_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let messages = received.messages();
    if messages.is_empty() {
        return None;
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|message| {
            let attributes: HashMap<String, String> = message
                .attributes()
                .map(|map| map.iter().map(|(name, value)| (name.as_str().to_owned(), value.clone())).collect())
                .unwrap_or_default();
            json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queues.main_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("an SQS event");
    let receive_counts = event
        .records
        .iter()
        .map(|record| record.attributes["ApproximateReceiveCount"].parse().expect("a receive count"))
        .collect();

    let response: SqsBatchResponse = worker::handle(state, event, Instant::now() + Duration::from_secs(60)).await;

    // The answer travels as JSON, like the runtime sends it back to Lambda.
    let answer = serde_json::to_value(&response).expect("serialises");
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().expect("itemIdentifier"))
        .collect();
    for message in messages {
        if !failed.contains(&message.message_id().unwrap_or_default()) {
            let handle = message.receipt_handle().expect("receipt handle");
            queues
                .sqs
                .delete_message()
                .queue_url(&queues.main_url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete");
        }
    }
    Some(Poll { receive_counts, failed: failed.len() })
}

/// Polls until a receive comes back empty; returns every poll that found messages.
async fn drain(queues: &Queues, state: &AppState) -> Vec<Poll> {
    let mut polls = Vec::new();
    while let Some(poll) = poll(queues, state).await {
        polls.push(poll);
        assert!(polls.len() <= 3 * MAX_RECEIVE_COUNT, "the queue never drains: {polls:?}");
    }
    polls
}

/// Mails moto's SES accepted so far (its `SentLast24Hours` counts every accepted recipient).
async fn ses_sent(ses: &aws_sdk_ses::Client) -> f64 {
    ses.get_send_quota().send().await.expect("send quota").sent_last24_hours()
}

fn state(db: PgPool, queues: &Queues, sender: &str) -> AppState {
    let config = test_config(&[
        ("MAIL_BACKEND", "ses"),
        ("MAIL_FROM", &format!("Fault Injection <{sender}>")),
        ("QUEUE_BACKEND", "sqs"),
        ("QUEUE_URL", &queues.main_url),
        ("DLQ_URL", &queues.dlq_url),
        ("RATE_LIMIT_ENABLED", "false"),
    ]);
    AppState::with_pool(config, db)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mail_ses_keeps_refusing_is_dead_lettered_after_five_attempts_and_sent_once_after_redrive(db: PgPool) {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let aws = shared::adapters::aws_env::sdk_config(None);
    let ses = aws_sdk_ses::Client::new(&aws);
    let queues = Queues::create(aws_sdk_sqs::Client::new(&aws)).await;
    // A sender of its own: moto's SES does not know it, so it refuses every mail from it.
    let sender = format!("faults-{}@example.com", uuid::Uuid::new_v4().simple());
    let state = state(db.clone(), &queues, &sender);
    let sent_before = ses_sent(&ses).await;

    // A registration writes the outbox row and queues the delivery job, as in production.
    register_through(auth_api::router(state.clone()), "jane@example.com", "jane").await;
    let outbox_id: uuid::Uuid =
        sqlx::query_scalar("select id from outbox where kind = 'email'").fetch_one(&db).await.expect("one mail");
    // This test is about the mail: the registration's auth events count as published already.
    sqlx::query("update outbox set sent_at = now() where kind = 'event'").execute(&db).await.expect("events");
    assert_eq!(queues.depth(&queues.main_url).await, (1, 0), "the delivery job is on the queue");

    // Act 1: SES refuses; Lambda's poller retries until SQS dead-letters the message.
    let polls = drain(&queues, &state).await;

    let counts: Vec<Vec<u32>> = polls.iter().map(|poll| poll.receive_counts.clone()).collect();
    assert_eq!(counts, (1..=5).map(|n| vec![n]).collect::<Vec<_>>(), "received five times, one message each");
    assert!(polls.iter().all(|poll| poll.failed == 1), "every attempt is reported failed: {polls:?}");
    assert_eq!(queues.depth(&queues.main_url).await, (0, 0), "nothing is left on the main queue");
    assert_eq!(queues.depth(&queues.dlq_url).await, (1, 0), "the message is in the DLQ");
    let depth = state.queue.as_ref().expect("an SQS queue").depth().await.expect("depth");
    assert_eq!(depth.dead_letter, Some(1), "the status endpoint's queue depth sees it too");
    let (sent, attempts, last_error): (bool, i32, Option<String>) =
        sqlx::query_as("select sent_at is not null, attempts, last_error from outbox where id = $1")
            .bind(outbox_id)
            .fetch_one(&db)
            .await
            .expect("outbox row");
    assert!(!sent, "the mail is not lost: it is still unsent in the outbox");
    assert_eq!(attempts, MAX_RECEIVE_COUNT as i32);
    let last_error = last_error.expect("the last error is recorded");
    assert!(last_error.contains("MessageRejected: Did not have authority to send from email"), "{last_error}");
    assert!(!last_error.contains("ErrorMetadata"), "the cause, not the SDK's debug dump: {last_error}");
    let processed: i64 = sqlx::query_scalar("select count(*) from processed_jobs").fetch_one(&db).await.expect("n");
    assert_eq!(processed, 0, "a failed job is not recorded as processed");
    assert_eq!(ses_sent(&ses).await - sent_before, 0.0, "SES sent nothing");

    // Act 2: the sender is fixed. The scheduler's outbox sweep queues the mail again (a new
    // message), and an operator redrives the DLQ (what StartMessageMoveTask does, which moto
    // lacks: the same body back onto the source queue). Both reach the worker.
    ses.verify_email_identity().email_address(&sender).send().await.expect("verify the sender");
    sqlx::query("update outbox set created_at = now() - interval '2 minutes', next_attempt_at = now()")
        .execute(&db)
        .await
        .expect("age");
    let sweep = ScheduledJob::OutboxSweep.run(&state, Instant::now() + Duration::from_secs(30)).await.expect("sweep");
    assert_eq!(sweep.count("mail_queued"), 1);
    let dead = queues.sqs.receive_message().queue_url(&queues.dlq_url).send().await.expect("receive from the DLQ");
    let [dead] = dead.messages() else { panic!("one dead-lettered message, not {:?}", dead.messages()) };
    let body = dead.body().expect("body").to_owned();
    queues.sqs.send_message().queue_url(&queues.main_url).message_body(&body).send().await.expect("redrive");
    let handle = dead.receipt_handle().expect("receipt handle");
    queues.sqs.delete_message().queue_url(&queues.dlq_url).receipt_handle(handle).send().await.expect("delete");
    let redriven = drain(&queues, &state).await;

    let handled: usize = redriven.iter().map(|poll| poll.receive_counts.len()).sum();
    assert_eq!(handled, 2, "the sweep's message and the redriven one: {redriven:?}");
    assert!(redriven.iter().all(|poll| poll.failed == 0), "{redriven:?}");
    assert_eq!(ses_sent(&ses).await - sent_before, 1.0, "exactly one mail was sent");
    let sent: bool = sqlx::query_scalar("select sent_at is not null from outbox where id = $1")
        .bind(outbox_id)
        .fetch_one(&db)
        .await
        .expect("outbox row");
    assert!(sent, "the outbox row is marked sent");

    // Act 3: SQS delivers the redriven message once more (at-least-once delivery).
    queues.sqs.send_message().queue_url(&queues.main_url).message_body(&body).send().await.expect("duplicate");
    let duplicate = drain(&queues, &state).await;
    // And the sweep finds nothing left to queue, however old the mail looks.
    sqlx::query("update outbox set created_at = now() - interval '2 minutes', next_attempt_at = now()")
        .execute(&db)
        .await
        .expect("age");
    let sweep = ScheduledJob::OutboxSweep.run(&state, Instant::now() + Duration::from_secs(30)).await.expect("sweep");

    assert_eq!(duplicate.len(), 1);
    assert_eq!(duplicate[0].failed, 0, "a duplicate is acknowledged, not retried");
    assert_eq!(sweep.count("mail_queued"), 0);
    assert_eq!(queues.depth(&queues.main_url).await, (0, 0));
    assert_eq!(queues.depth(&queues.dlq_url).await, (0, 0));
    assert_eq!(ses_sent(&ses).await - sent_before, 1.0, "still exactly one mail");
    let original = Envelope::decode(&body).expect("a job message").id;
    let recorded: i64 = sqlx::query_scalar("select count(*) from processed_jobs where id = $1")
        .bind(original)
        .fetch_one(&db)
        .await
        .expect("n");
    assert_eq!(recorded, 1, "the redriven message is recorded once");

    let failures: usize = polls.iter().map(|poll| poll.failed).sum();
    eprintln!(
        "faults injected: {failures} SES failures, {} dead-lettered, {} delivered once",
        depth.dead_letter.unwrap_or_default(),
        (ses_sent(&ses).await - sent_before) as u64
    );
}
