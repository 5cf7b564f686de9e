//! A worker process killed in the middle of a job, then the same SQS message again: the job is
//! re-run safely and takes effect once.
//!
//! The real `worker` binary runs against a small Lambda Runtime API served by the test
//! (`/runtime/invocation/next` hands out SQS events, `/response` and `/error` record the answers)
//! and the test's Postgres database. It is killed with SIGKILL — no destructor, no answer, like
//! a crashed or timed-out Lambda environment — while
//!
//! * a `long_running` task is between two progress steps (twice: the re-run is killed too), and
//! * an outbox mail is being handed to SES (an endpoint that accepts the request and never
//!   answers), its outbox row locked by the dying transaction.
//!
//! A fresh worker then gets the same event, as SQS redelivers it once the visibility timeout
//! (6 minutes in template.yaml) is over. For the task, that wait is played by moving `started_at`
//! back 6 minutes: a task STARTED that long ago counts as abandoned (`STALE_STARTED_MINUTES`).
//! An early redelivery, while the task still looks alive, is answered as a batch item failure
//! and leaves the task alone.
//!
//! Needs Postgres (`DATABASE_URL`), as scripts/test provides.

use std::io::Read;
use std::net::TcpListener;

use serde_json::{Value, json};
use shared::jobs::message::{Envelope, Job};
use shared::mail::Mail;
use sqlx::PgPool;
use test_support::lambda_process::{Answer, FakeRuntime, Function, PATIENCE, database_url, wait_for};
use test_support::mails_in;

/// A `worker` process against `runtime`, with the test database and `settings` on top.
struct Worker;

impl Worker {
    fn start(runtime: &FakeRuntime, database_url: &str, settings: &[(&str, String)]) -> Function {
        Function::start(env!("CARGO_BIN_EXE_worker"), "worker", runtime, database_url, settings)
    }
}

/// The SQS event Lambda builds for one message with `body`.
fn sqs_event(message_id: &str, body: &str) -> Value {
    json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": format!("AQEB{message_id}=="),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795700000000",
            "SenderId": "AROAEXAMPLEID:tasks-api",
            "ApproximateFirstReceiveTimestamp": "1795700000005"
        },
        "messageAttributes": {},
        "md5OfBody": "00000000000000000000000000000000",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:serverless-auth-jobs",
        "awsRegion": "us-east-1"
    }]})
}

fn no_failures() -> Answer {
    Answer::Response(json!({"batchItemFailures": []}))
}

fn failed(message_id: &str) -> Answer {
    Answer::Response(json!({"batchItemFailures": [{"itemIdentifier": message_id}]}))
}

#[derive(Debug, sqlx::FromRow)]
struct TaskRow {
    status: String,
    attempts: i32,
    result: Option<Value>,
    error: Option<String>,
}

async fn task(db: &PgPool, id: uuid::Uuid) -> TaskRow {
    sqlx::query_as("select status, attempts, result, error from tasks where id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("the task")
}

async fn processed(db: &PgPool, message_id: uuid::Uuid) -> Vec<String> {
    sqlx::query_scalar("select job from processed_jobs where id = $1")
        .bind(message_id)
        .fetch_all(db)
        .await
        .expect("ids")
}

/// Waits until run `attempt` is between two of its one-second steps, having just recorded
/// `step`. (Each run starts again from step 1 and writes the same progress, so the runs are told
/// apart by being killed at different steps.)
async fn mid_run(db: &PgPool, id: uuid::Uuid, attempt: i32, step: u64) {
    wait_for(&format!("run {attempt} to record step {step}"), || async move {
        let row = task(db, id).await;
        let recorded = row.result.as_ref().and_then(|result| result["step"].as_u64());
        (row.status == "STARTED" && row.attempts == attempt && recorded == Some(step)).then_some(())
    })
    .await;
}

/// Plays the visibility timeout: the task's run began 6 minutes ago, like SQS's redelivery.
async fn six_minutes_pass(db: &PgPool, id: uuid::Uuid) {
    sqlx::query("update tasks set started_at = started_at - interval '6 minutes' where id = $1")
        .bind(id)
        .execute(db)
        .await
        .expect("age the run");
}

// ---------------------------------------------------------------- tests

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_long_task_whose_worker_is_killed_mid_run_is_run_again_and_completes_once(db: PgPool) {
    // A task as the tasks API stores it: 4 steps of one second.
    let task_id: uuid::Uuid = sqlx::query_scalar(
        "insert into tasks (name, args, kwargs, status) values ('long_running', '[]', $1, 'PENDING') returning id",
    )
    .bind(json!({"duration": 4, "steps": 4}))
    .fetch_one(&db)
    .await
    .expect("a task");
    let message = Envelope::new(Job::RunTask { task_id });
    let event = sqs_event("m-1", &message.to_body());
    let url = database_url(&db);
    let mut kills = 0;

    // Kill 1: the first worker dies after step 2 of 4, without answering.
    let mut first_runtime = FakeRuntime::start().await;
    let mut first = Worker::start(&first_runtime, &url, &[]);
    let first_request = first_runtime.invoke(&event);
    mid_run(&db, task_id, 1, 2).await;
    first.kill();
    kills += 1;
    assert_eq!(first_runtime.handed_out(), vec![first_request]);
    assert_eq!(first_runtime.answers(), vec![], "a killed worker answers nothing");
    assert_eq!(task(&db, task_id).await.status, "STARTED", "the task is left STARTED");

    // An early redelivery (the task still looks alive) is handed back, and changes nothing.
    let mut runtime = FakeRuntime::start().await;
    let mut second = Worker::start(&runtime, &url, &[]);
    let early = runtime.invoke(&event);
    assert_eq!(runtime.answer(&early).await, failed("m-1"));
    let row = task(&db, task_id).await;
    assert_eq!((row.status.as_str(), row.attempts), ("STARTED", 1));

    // Kill 2: once the run is stale the same worker claims the task again; it dies after step 1.
    six_minutes_pass(&db, task_id).await;
    let _redelivery = runtime.invoke(&event);
    mid_run(&db, task_id, 2, 1).await;
    second.kill();
    kills += 1;
    assert_eq!(runtime.answers().len(), 1, "only the early redelivery was answered");
    assert_eq!(task(&db, task_id).await.status, "STARTED");

    // A fresh environment gets the message after the next visibility timeout and completes it.
    six_minutes_pass(&db, task_id).await;
    let mut runtime = FakeRuntime::start().await;
    let _third = Worker::start(&runtime, &url, &[]);
    let last = runtime.invoke(&event);
    assert_eq!(runtime.answer(&last).await, no_failures());
    // And SQS's at-least-once delivery hands it over once more.
    let duplicate = runtime.invoke(&event);
    assert_eq!(runtime.answer(&duplicate).await, no_failures());

    let row = task(&db, task_id).await;
    assert_eq!(row.status, "SUCCESS");
    assert_eq!(row.attempts, 3, "claimed by three runs, finished by the last");
    assert_eq!(row.result, Some(json!({"progress": 1.0, "step": 4, "steps": 4, "duration": 4})));
    assert_eq!(row.error, None);
    assert_eq!(processed(&db, message.id).await, vec!["run-task".to_owned()]);
    eprintln!("faults injected: worker killed mid-job {kills} times, re-runs completed once");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mail_whose_worker_is_killed_while_ses_is_sending_it_is_delivered_once_on_redelivery(db: PgPool) {
    let mail =
        Mail { to: "jane@example.com".into(), subject: "Hello".into(), text: "t".into(), html: "<p>t</p>".into() };
    let outbox_id = shared::repo::outbox::insert_mail(&db, &mail).await.expect("outbox row");
    let message = Envelope::new(Job::SendEmail { outbox_id });
    let event = sqs_event("m-1", &message.to_body());
    let url = database_url(&db);
    // An SES endpoint that takes the request and never answers.
    let ses = TcpListener::bind("127.0.0.1:0").expect("a silent SES");
    let ses_url = format!("http://{}", ses.local_addr().expect("address"));

    // The worker sends through SES and is killed while waiting for SES's answer.
    let mut runtime = FakeRuntime::start().await;
    let ses_settings = [
        ("MAIL_BACKEND", "ses".to_owned()),
        ("MAIL_FROM", "Serverless Auth <noreply@example.com>".to_owned()),
        ("AWS_ENDPOINT_URL", ses_url),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    let mut sending = Worker::start(&runtime, &url, &ses_settings);
    runtime.invoke(&event);
    let request = tokio::task::spawn_blocking(move || {
        let (mut connection, _) = ses.accept().expect("the worker calls SES");
        connection.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let mut request = Vec::new();
        let mut buffer = [0; 4096];
        while !String::from_utf8_lossy(&request).contains("Action=SendRawEmail") {
            let n = connection.read(&mut buffer).expect("the SES request");
            assert!(n > 0, "SES request ended early: {}", String::from_utf8_lossy(&request));
            request.extend_from_slice(&buffer[..n]);
        }
        (connection, ses)
    });
    let (connection, _ses) = request.await.expect("SES request");
    let mut tx = db.begin().await.expect("tx");
    let locked = shared::repo::outbox::lock_unsent_mail(&mut tx, outbox_id).await.expect("lock");
    assert!(locked.is_none(), "the dying worker holds the outbox row while SES sends");
    tx.rollback().await.expect("rollback");
    sending.kill();
    drop(connection);
    assert_eq!(runtime.answers(), vec![], "a killed worker answers nothing");

    // Postgres rolls the dead worker's transaction back: the row is free and still unsent.
    let db_ref = &db;
    wait_for("the dead worker's lock to go", || async move {
        let mut tx = db_ref.begin().await.expect("tx");
        let free = shared::repo::outbox::lock_unsent_mail(&mut tx, outbox_id).await.expect("lock").is_some();
        tx.rollback().await.expect("rollback");
        free.then_some(())
    })
    .await;

    // Redelivered to a fresh environment whose mail works (the file mailer stands in for SES).
    let mail_dir = std::env::temp_dir().join(format!("killed-mail-{}", uuid::Uuid::new_v4()));
    let mut runtime = FakeRuntime::start().await;
    let _worker = Worker::start(
        &runtime,
        &url,
        &[("MAIL_BACKEND", "file".to_owned()), ("MAIL_DIR", mail_dir.display().to_string())],
    );
    let redelivery = runtime.invoke(&event);
    let redelivered = runtime.answer(&redelivery).await;
    let duplicate = runtime.invoke(&event);
    let duplicated = runtime.answer(&duplicate).await;

    assert_eq!((redelivered, duplicated), (no_failures(), no_failures()));
    assert_eq!(mails_in(&mail_dir), 1, "delivered once");
    let (sent, attempts): (bool, i32) =
        sqlx::query_as("select sent_at is not null, attempts from outbox where id = $1")
            .bind(outbox_id)
            .fetch_one(&db)
            .await
            .expect("outbox row");
    assert_eq!((sent, attempts), (true, 1), "the killed attempt left no trace");
    assert_eq!(processed(&db, message.id).await, vec!["send-email".to_owned()]);
    let _ = std::fs::remove_dir_all(&mail_dir);
    eprintln!("faults injected: worker killed mid-job 1 times (mail mid-send), re-runs completed once");
}
