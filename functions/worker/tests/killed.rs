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

use std::collections::VecDeque;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::{Value, json};
use shared::jobs::message::{Envelope, Job};
use shared::mail::Mail;
use sqlx::PgPool;

/// The worker's timeout in template.yaml: each invocation's deadline.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait for anything the worker does; past it the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- the fake Lambda Runtime API

/// What the function sent back for one invocation.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct RuntimeState {
    /// Invocations not yet handed out: `(request id, event)`.
    pending: Mutex<VecDeque<(String, Value)>>,
    /// Request ids handed out, in order.
    handed_out: Mutex<Vec<String>>,
    /// Answers by request id (`init` for an initialisation error).
    answers: Mutex<Vec<(String, Answer)>>,
}

/// The Lambda Runtime API of one execution environment, on 127.0.0.1.
struct FakeRuntime {
    address: String,
    state: Arc<RuntimeState>,
    next_id: u32,
}

impl FakeRuntime {
    async fn start() -> Self {
        let state = Arc::new(RuntimeState::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(invocation_response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the runtime API");
        let address = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, state, next_id: 0 }
    }

    /// Queues an invocation with `event`; returns its request id.
    fn invoke(&mut self, event: &Value) -> String {
        self.next_id += 1;
        let id = format!("request-{}", self.next_id);
        self.state.pending.lock().expect("lock").push_back((id.clone(), event.clone()));
        id
    }

    fn handed_out(&self) -> Vec<String> {
        self.state.handed_out.lock().expect("lock").clone()
    }

    fn answers(&self) -> Vec<(String, Answer)> {
        self.state.answers.lock().expect("lock").clone()
    }

    async fn answer(&self, request_id: &str) -> Answer {
        wait_for(&format!("the answer to {request_id}"), || async move {
            self.answers().into_iter().find(|(id, _)| id == request_id).map(|(_, answer)| answer)
        })
        .await
    }
}

/// Long-polls like Lambda: answers once an invocation is queued.
async fn next_invocation(State(state): State<Arc<RuntimeState>>) -> Response {
    loop {
        let next = state.pending.lock().expect("lock").pop_front();
        if let Some((id, event)) = next {
            state.handed_out.lock().expect("lock").push(id.clone());
            let deadline = SystemTime::now() + FUNCTION_TIMEOUT;
            let deadline_ms = deadline.duration_since(UNIX_EPOCH).expect("after 1970").as_millis();
            return (
                [
                    ("Lambda-Runtime-Aws-Request-Id", id),
                    ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:worker".to_owned(),
                    ),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned()),
                    ("Content-Type", "application/json".to_owned()),
                ],
                event.to_string(),
            )
                .into_response();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn record(state: &RuntimeState, id: String, answer: Answer) -> StatusCode {
    state.answers.lock().expect("lock").push((id, answer));
    StatusCode::ACCEPTED
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn invocation_response(
    State(state): State<Arc<RuntimeState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    record(&state, id, Answer::Response(json_or_text(&body)))
}

async fn invocation_error(
    State(state): State<Arc<RuntimeState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    record(&state, id, Answer::Error(json_or_text(&body)))
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: Bytes) -> StatusCode {
    record(&state, "init".to_owned(), Answer::Error(json_or_text(&body)))
}

// ---------------------------------------------------------------- the worker process

/// A running `worker` binary; killed (and reaped) when dropped.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts the worker against `runtime` with the test database and `settings` on top.
    fn start(runtime: &FakeRuntime, database_url: &str, settings: &[(&str, String)]) -> Self {
        let log = std::env::temp_dir().join(format!("killed-worker-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_worker"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "worker")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/worker")
            .env("DATABASE_URL", database_url)
            // Nothing here queues further jobs; `inline` spares the worker a queue URL.
            .env("QUEUE_BACKEND", "inline")
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (name, value) in settings {
            command.env(name, value);
        }
        Self { child: command.spawn().expect("start the worker"), log }
    }

    /// SIGKILL; returns once the process is gone.
    fn kill(&mut self) {
        self.child.kill().expect("kill the worker");
        let status = self.child.wait().expect("reap the worker");
        assert_eq!(status.signal(), Some(SIGKILL), "killed by SIGKILL, not exited: {status}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- worker log ({}):\n{}", self.log.display(), self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// SIGKILL's number on Linux and macOS.
const SIGKILL: i32 = 9;

// ---------------------------------------------------------------- helpers

/// Polls `check` until it returns `Some`, for at most [`PATIENCE`].
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The URL of the test's own database (the sqlx test harness created it; trust auth, as in
/// scripts/lib.sh, so no password is needed).
fn database_url(db: &PgPool) -> String {
    let options = db.connect_options();
    let database = options.get_database().expect("the test database has a name");
    format!("postgres://{}@{}:{}/{database}", options.get_username(), options.get_host(), options.get_port())
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

fn mails_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|entries| entries.count()).unwrap_or(0)
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
