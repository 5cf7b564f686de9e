//! SES's bounce and complaint reports, fed to the worker as the SQS events SNS delivers them
//! (raw, and in SNS's envelope), against a real migrated Postgres: a hard bounce or a complaint
//! marks the address, the next mail to it is dropped and counted instead of sent, a transient
//! bounce marks nothing, and a report that comes twice counts twice but marks once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use shared::AppState;
use shared::jobs::dispatch::{self, Outcome};
use shared::jobs::message::{Envelope, Job};
use shared::mail::Mail;
use shared::ports::Metric;
use shared::repo::{outbox, undeliverable};
use sqlx::PgPool;
use test_support::{RecordingMetrics, fixture, mails_in, test_config};

struct Harness {
    state: AppState,
    metrics: Arc<RecordingMetrics>,
    mail_dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

fn harness(db: PgPool) -> Harness {
    let mail_dir = std::env::temp_dir().join(format!("worker-feedback-{}", uuid::Uuid::new_v4()));
    let config = test_config(&[("MAIL_DIR", &mail_dir.display().to_string())]);
    let metrics = Arc::new(RecordingMetrics::default());
    Harness { state: AppState::with_pool(config, db).with_metrics(metrics.clone()), metrics, mail_dir }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

async fn feed(harness: &Harness, name: &str) {
    let event: SqsEvent = serde_json::from_value(fixture(name)).expect("an SQS event");
    let answer = worker::handle(&harness.state, event, deadline()).await;
    assert!(answer.batch_item_failures.is_empty(), "{name} was handled: {answer:?}");
}

/// Queues a mail to `to` and runs its delivery job.
async fn mail_to(harness: &Harness, to: &str) -> uuid::Uuid {
    let mail = Mail { to: to.into(), subject: "Hello".into(), text: "t".into(), html: "<p>t</p>".into() };
    let id = outbox::insert_mail(&harness.state.db, &mail).await.expect("outbox row");
    let job = Envelope::new(Job::SendEmail { outbox_id: id });
    assert_eq!(dispatch::run(&harness.state, &job, deadline()).await.expect("ran"), Outcome::Done);
    id
}

async fn closed_with(db: &PgPool, id: uuid::Uuid) -> (bool, Option<String>) {
    sqlx::query_as("select sent_at is not null, dropped_reason from outbox where id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("the row")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_hard_bounce_marks_the_address_and_its_next_mail_is_dropped_not_sent(db: PgPool) {
    let harness = harness(db.clone());

    feed(&harness, "sqs-ses-hard-bounce.json").await;
    feed(&harness, "sqs-ses-hard-bounce.json").await;
    let to_jane = mail_to(&harness, "jane@example.com").await;
    let to_john = mail_to(&harness, "john@example.com").await;

    assert_eq!(undeliverable::reason(&db, "JANE@example.com").await.expect("read").as_deref(), Some("bounce"));
    let (detail, reports): (String, i32) = sqlx::query_as("select detail, reports from undeliverable_addresses")
        .fetch_one(&db)
        .await
        .expect("jane's mark, the only one");
    assert_eq!((detail.as_str(), reports), ("Permanent/General", 2));
    assert_eq!(closed_with(&db, to_jane).await, (true, Some("the address is undeliverable (bounce)".into())));
    assert_eq!(closed_with(&db, to_john).await, (true, None), "other addresses still get mail");
    assert_eq!(mails_in(&harness.mail_dir), 1, "only John's mail went out");
    let count = |metric| harness.metrics.count_of(metric);
    assert_eq!([Metric::MailBounced, Metric::MailDropped, Metric::MailSent].map(count), [2, 1, 1]);
    let sweepable: i64 =
        sqlx::query_scalar("select count(*) from outbox where sent_at is null").fetch_one(&db).await.expect("count");
    assert_eq!(sweepable, 0, "a dropped mail is never retried");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_complaint_in_snss_envelope_marks_the_address_and_a_transient_bounce_marks_nothing(db: PgPool) {
    let harness = harness(db.clone());

    feed(&harness, "sqs-ses-complaint-in-sns-envelope.json").await;
    feed(&harness, "sqs-ses-soft-bounce.json").await;
    let to_joe = mail_to(&harness, "joe@example.com").await;
    let to_john = mail_to(&harness, "john@example.com").await;

    assert_eq!(undeliverable::reason(&db, "joe@example.com").await.expect("read").as_deref(), Some("complaint"));
    assert_eq!(undeliverable::reason(&db, "john@example.com").await.expect("read"), None);
    assert_eq!(closed_with(&db, to_joe).await.1.as_deref(), Some("the address is undeliverable (complaint)"));
    assert_eq!(closed_with(&db, to_john).await, (true, None));
    assert_eq!(harness.metrics.count_of(Metric::MailComplained), 1);
    assert_eq!(harness.metrics.count_of(Metric::MailBounced), 0, "a transient bounce is not counted as one");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_check_message_ses_sends_when_the_destination_is_created_is_taken_and_ignored(db: PgPool) {
    let harness = harness(db.clone());

    feed(&harness, "sqs-ses-destination-check.json").await;

    let marked: i64 =
        sqlx::query_scalar("select count(*) from undeliverable_addresses").fetch_one(&db).await.expect("count");
    assert_eq!(marked, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_message_that_is_neither_a_job_nor_a_report_is_handed_back(db: PgPool) {
    let harness = harness(db);
    let mut event = fixture("sqs-ses-hard-bounce.json");
    event["Records"][0]["body"] = serde_json::json!(r#"{"eventType":"Bounce"}"#);
    let event: SqsEvent = serde_json::from_value(event).expect("an SQS event");

    let answer = worker::handle(&harness.state, event, deadline()).await;

    assert_eq!(answer.batch_item_failures.len(), 1, "left for the dead-letter queue");
}
