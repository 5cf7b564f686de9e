//! The worker's handler fed real SQS event JSON, against a real migrated Postgres: partial batch
//! failures, redelivery skipped by message id, and a mail sent once however often it is queued.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use shared::AppState;
use shared::jobs::ScheduledJob;
use shared::jobs::dispatch::{self, Outcome};
use shared::jobs::message::{Envelope, Job};
use shared::mail::Mail;
use sqlx::PgPool;
use test_support::{fixture, mails_in, test_config};

struct Harness {
    state: AppState,
    mail_dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

fn harness(db: PgPool) -> Harness {
    let mail_dir = std::env::temp_dir().join(format!("worker-mail-{}", uuid::Uuid::new_v4()));
    let config = test_config(&[("MAIL_DIR", &mail_dir.display().to_string())]);
    Harness { state: AppState::with_pool(config, db), mail_dir }
}

/// An SQS event carrying `bodies`, shaped like the fixture (ids `m-0`, `m-1`, …).
fn event_with(bodies: &[String]) -> SqsEvent {
    let mut event = fixture("sqs-send-email.json");
    let template = event["Records"][0].clone();
    event["Records"] = Value::Array(
        bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let mut record = template.clone();
                record["messageId"] = json!(format!("m-{i}"));
                record["body"] = json!(body);
                record
            })
            .collect(),
    );
    serde_json::from_value(event).expect("an SQS event")
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

async fn queue_mail(db: &PgPool) -> uuid::Uuid {
    let mail =
        Mail { to: "jane@example.com".into(), subject: "Hello".into(), text: "t".into(), html: "<p>t</p>".into() };
    shared::repo::outbox::insert_mail(db, &mail).await.expect("outbox row")
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|failure| failure.item_identifier.clone()).collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_bad_message_fails_alone_and_the_rest_of_the_batch_succeeds(db: PgPool) {
    let harness = harness(db);
    let event: SqsEvent = serde_json::from_value(fixture("sqs-batch-with-bad-message.json")).expect("event");

    let response = worker::handle(&harness.state, event, soon()).await;

    assert_eq!(failed_ids(&response), vec!["5a4f4b0e-0c8f-4d4b-9f39-000000000002".to_owned()]);
    let body = serde_json::to_value(&response).expect("serialises");
    assert_eq!(body, json!({"batchItemFailures": [{"itemIdentifier": "5a4f4b0e-0c8f-4d4b-9f39-000000000002"}]}));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_queued_mail_is_delivered_by_the_worker(db: PgPool) {
    let harness = harness(db.clone());
    let outbox_id = queue_mail(&db).await;
    let body = Envelope::new(Job::SendEmail { outbox_id }).to_body();

    let response = worker::handle(&harness.state, event_with(&[body]), soon()).await;

    assert!(failed_ids(&response).is_empty());
    assert_eq!(mails_in(&harness.mail_dir), 1);
    let sent: bool = sqlx::query_scalar("select sent_at is not null from outbox where id = $1")
        .bind(outbox_id)
        .fetch_one(&db)
        .await
        .expect("row");
    assert!(sent);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_redelivered_message_runs_its_job_once(db: PgPool) {
    let harness = harness(db.clone());
    let message = Envelope::new(Job::SendEmail { outbox_id: queue_mail(&db).await });

    let first = dispatch::run(&harness.state, &message, soon()).await.expect("first");
    let again = dispatch::run(&harness.state, &message, soon()).await.expect("again");
    let batch = worker::handle(&harness.state, event_with(&[message.to_body(), message.to_body()]), soon()).await;

    assert_eq!((first, again), (Outcome::Done, Outcome::AlreadyProcessed));
    assert!(failed_ids(&batch).is_empty());
    assert_eq!(mails_in(&harness.mail_dir), 1);
    let recorded: i64 = sqlx::query_scalar("select count(*) from processed_jobs where id = $1")
        .bind(message.id)
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(recorded, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mail_queued_by_both_the_request_and_the_sweep_is_sent_once(db: PgPool) {
    let harness = harness(db.clone());
    let outbox_id = queue_mail(&db).await;
    sqlx::query("update outbox set created_at = now() - interval '5 minutes', next_attempt_at = now() where id = $1")
        .bind(outbox_id)
        .execute(&db)
        .await
        .expect("age");
    // Two different messages for the same mail: the request's and the sweep's.
    let from_request = Envelope::new(Job::SendEmail { outbox_id }).to_body();
    let from_sweep = Envelope::new(Job::SendEmail { outbox_id }).to_body();

    let (batch, sweep) = tokio::join!(
        worker::handle(&harness.state, event_with(&[from_request, from_sweep]), soon()),
        ScheduledJob::OutboxSweep.run(&harness.state, soon())
    );

    assert!(failed_ids(&batch).is_empty());
    sweep.expect("sweep runs");
    assert_eq!(mails_in(&harness.mail_dir), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_failed_delivery_is_retried_and_not_recorded_as_processed(db: PgPool) {
    // A mail directory that cannot be created: the file mailer fails like an unreachable SES.
    let blocker = std::env::temp_dir().join(format!("worker-blocker-{}", uuid::Uuid::new_v4()));
    std::fs::write(&blocker, b"a file, not a directory").expect("blocker");
    let config = test_config(&[("MAIL_DIR", &blocker.join("mail").display().to_string())]);
    let state = AppState::with_pool(config, db.clone());
    let message = Envelope::new(Job::SendEmail { outbox_id: queue_mail(&db).await });

    let response = worker::handle(&state, event_with(&[message.to_body()]), soon()).await;

    assert_eq!(failed_ids(&response), vec!["m-0".to_owned()]);
    let (attempts, processed): (i32, bool) = sqlx::query_as(
        "select attempts, exists (select 1 from processed_jobs where id = $2) from outbox where id = (select id from outbox limit 1)",
    )
    .bind(message.id)
    .bind(message.id)
    .fetch_one(&db)
    .await
    .expect("row");
    assert_eq!((attempts, processed), (1, false));
    let _ = std::fs::remove_file(blocker);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_sweep_pauses_longer_each_time_and_gives_up_after_a_day(db: PgPool) {
    // Mail that keeps failing would be swept forever without a pause; make it look due.
    let stuck = queue_mail(&db).await;
    let ancient = queue_mail(&db).await;
    sqlx::query("update outbox set next_attempt_at = now() where id = $1").bind(stuck).execute(&db).await.expect("due");
    sqlx::query("update outbox set next_attempt_at = now(), created_at = now() - interval '25 hours' where id = $1")
        .bind(ancient)
        .execute(&db)
        .await
        .expect("old");
    // Deliveries fail: the mail directory cannot be created.
    let blocker = std::env::temp_dir().join(format!("sweep-blocker-{}", uuid::Uuid::new_v4()));
    std::fs::write(&blocker, b"a file").expect("blocker");
    let config = test_config(&[("MAIL_DIR", &blocker.join("mail").display().to_string())]);
    let failing = AppState::with_pool(config, db.clone());

    let first = ScheduledJob::OutboxSweep.run(&failing, soon()).await.expect("sweep");
    let right_after = ScheduledJob::OutboxSweep.run(&failing, soon()).await.expect("sweep");
    let pause: f64 =
        sqlx::query_scalar("select extract(epoch from next_attempt_at - now())::float8 from outbox where id = $1")
            .bind(stuck)
            .fetch_one(&db)
            .await
            .expect("pause");
    sqlx::query("update outbox set next_attempt_at = now() where id = $1").bind(stuck).execute(&db).await.expect("due");
    ScheduledJob::OutboxSweep.run(&failing, soon()).await.expect("sweep");
    let second_pause: f64 =
        sqlx::query_scalar("select extract(epoch from next_attempt_at - now())::float8 from outbox where id = $1")
            .bind(stuck)
            .fetch_one(&db)
            .await
            .expect("pause");

    assert_eq!((first.count("mail_queued"), right_after.count("mail_queued")), (1, 0), "only the young mail, once");
    assert!((55.0..=60.0).contains(&pause), "{pause}");
    assert!((115.0..=120.0).contains(&second_pause), "{second_pause}");
    let _ = std::fs::remove_file(blocker);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn messages_that_would_start_too_close_to_the_deadline_are_handed_back_unrun(db: PgPool) {
    let harness = harness(db.clone());
    let body = Envelope::new(Job::SendEmail { outbox_id: queue_mail(&db).await }).to_body();

    let response = worker::handle(&harness.state, event_with(&[body]), Instant::now() + Duration::from_secs(5)).await;

    assert_eq!(failed_ids(&response), vec!["m-0".to_owned()]);
    assert_eq!(mails_in(&harness.mail_dir), 0);
}
