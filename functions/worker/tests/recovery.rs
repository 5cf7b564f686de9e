//! Mail survives a queue outage: registration succeeds while SQS refuses the message, the mail
//! waits in the outbox, and once the queue is back the outbox sweep queues it and the worker
//! delivers it — once. Runs against moto's SQS (scripts/test sets AWS_ENDPOINT_URL) and Postgres.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::AppState;
use shared::jobs::ScheduledJob;
use sqlx::PgPool;
use test_support::{register_through, test_config};

fn state(db: PgPool, queue_url: &str, mail_dir: &std::path::Path) -> AppState {
    let config = test_config(&[
        ("MAIL_DIR", &mail_dir.display().to_string()),
        ("QUEUE_BACKEND", "sqs"),
        ("QUEUE_URL", queue_url),
        ("RATE_LIMIT_ENABLED", "false"),
    ]);
    AppState::with_pool(config, db)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registration_mail_is_delivered_once_the_queue_is_back(db: PgPool) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let name = format!("jobs-{}", uuid::Uuid::new_v4().simple());
    let queue_url = format!("{endpoint}/123456789012/{name}");
    let mail_dir = std::env::temp_dir().join(format!("recovery-mail-{}", uuid::Uuid::new_v4()));
    let state = state(db.clone(), &queue_url, &mail_dir);

    // The queue does not exist yet: SQS refuses every message.
    register_through(auth_api::router(state.clone()), "jane@example.com", "jane").await;
    let unsent: i64 = sqlx::query_scalar("select count(*) from outbox where sent_at is null and kind = 'email'")
        .fetch_one(&db)
        .await
        .expect("n");
    assert_eq!(unsent, 1, "the mail waits in the outbox");
    assert!(!mail_dir.exists());

    // The queue comes back; a minute later the sweep queues the mail again.
    let config = shared::adapters::aws_env::sdk_config(None);
    let sqs = aws_sdk_sqs::Client::new(&config);
    sqs.create_queue().queue_name(&name).send().await.expect("create queue");
    sqlx::query("update outbox set created_at = now() - interval '2 minutes', next_attempt_at = now()")
        .execute(&db)
        .await
        .expect("age");
    // This test is about the mail: the registration's auth events count as published already.
    sqlx::query("update outbox set sent_at = now() where kind = 'event'").execute(&db).await.expect("events");
    let deadline = Instant::now() + Duration::from_secs(60);
    let sweep = ScheduledJob::OutboxSweep.run(&state, deadline).await.expect("sweep");
    assert_eq!(sweep.count("mail_queued"), 1);

    // The worker receives it from SQS.
    let received =
        sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.expect("receive");
    let records: Vec<_> = received
        .messages()
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "body": m.body(), "eventSource": "aws:sqs"}))
        .collect();
    assert_eq!(records.len(), 1);
    let event = serde_json::from_value(json!({"Records": records})).expect("event");
    let batch = worker::handle(&state, event, deadline).await;

    assert!(batch.batch_item_failures.is_empty());
    let mails: Vec<_> = std::fs::read_dir(&mail_dir).expect("mail dir").collect();
    assert_eq!(mails.len(), 1);
    let again = ScheduledJob::OutboxSweep.run(&state, deadline).await.expect("sweep");
    assert_eq!(again.count("mail_queued"), 0, "nothing is left to send");
    let _ = std::fs::remove_dir_all(&mail_dir);
}
