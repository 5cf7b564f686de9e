//! A `tasks-api` process killed after it stored a task and before the task's message left for
//! SQS: the task is committed PENDING and nothing would ever run it. The outbox sweep queues it
//! again once it has waited five minutes, and a worker then runs it once.
//!
//! The real `tasks-api` binary answers an API Gateway (HTTP API v2) event through a small Lambda
//! Runtime API served by the test, against the test's Postgres database, with an SQS endpoint
//! that accepts the connection and never answers. It is killed with SIGKILL (no destructor, no
//! answer, like a crashed or timed-out Lambda environment) while it waits for SQS.
//!
//! Needs Postgres (`DATABASE_URL`) and moto (`AWS_ENDPOINT_URL`), as scripts/test provides.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::jobs::ScheduledJob;
use shared::jobs::message::{Envelope, Job};
use shared::{AppState, Config};
use sqlx::PgPool;
use test_support::lambda_process::{FakeRuntime, Function, database_url, wait_for};
use test_support::{JWT_SECRET, mint_session, test_config};
use uuid::Uuid;

/// A superuser with a live session; returns an access token for it.
async fn admin_token(db: &PgPool) -> String {
    let id: Uuid = sqlx::query_scalar(
        "insert into users (email, username, is_verified, is_superuser, is_active)
         values ('admin@example.com', 'admin', true, true, true) returning id",
    )
    .fetch_one(db)
    .await
    .expect("admin");
    let state = AppState::with_pool(config(&[("QUEUE_BACKEND", "inline")]), db.clone());
    mint_session(&state, id, "admin@example.com").await.1
}

fn config(settings: &[(&str, &str)]) -> Config {
    let mut vars = vec![("JWT_SECRET", JWT_SECRET), ("RATE_LIMIT_ENABLED", "false")];
    vars.extend_from_slice(settings);
    test_config(&vars)
}

/// The event API Gateway's HTTP API builds for `POST path` with a JSON body and a Bearer token.
fn http_event(path: &str, token: &str, body: &Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "host": "abc123def4.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123def4",
            "domainName": "abc123def4.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123def4",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "requestId": "Bq1Zbh3SjoEEMjw=",
            "routeKey": format!("POST {path}"),
            "stage": "$default",
            "time": "06/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1796558400000_i64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

async fn status_of(db: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("select status from tasks where id = $1").bind(id).fetch_one(db).await.expect("task")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_whose_function_is_killed_before_queueing_it_is_queued_by_the_sweep_and_runs_once(db: PgPool) {
    let moto = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (run scripts/test)");
    let token = admin_token(&db).await;
    // An SQS endpoint that takes the connection and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a silent SQS");
    let silent_url = format!("http://{}", silent.local_addr().expect("address"));
    let settings = [
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("QUEUE_BACKEND", "sqs".to_owned()),
        ("QUEUE_URL", format!("{silent_url}/123456789012/jobs")),
        ("AWS_ENDPOINT_URL", silent_url),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];

    // The function stores the task, then dies waiting for SQS.
    let mut runtime = FakeRuntime::start().await;
    let mut function =
        Function::start(env!("CARGO_BIN_EXE_tasks-api"), "tasks-api", &runtime, &database_url(&db), &settings);
    runtime.invoke(&http_event("/api/v1/tasks/process-data", &token, &json!({"data": [1, 2, 3]})));
    let sqs_called = tokio::task::spawn_blocking(move || {
        let (connection, _) = silent.accept().expect("the function calls SQS");
        (connection, silent)
    });
    let (connection, _silent) = sqs_called.await.expect("SQS call");
    let db_ref = &db;
    let task_id: Uuid = wait_for("the stored task", || async move {
        sqlx::query_scalar("select id from tasks").fetch_optional(db_ref).await.expect("tasks")
    })
    .await;
    function.kill();
    drop(connection);
    assert_eq!(runtime.answers(), vec![], "a killed function answers nothing");
    assert_eq!(status_of(&db, task_id).await, "PENDING", "stored, never queued");

    // A sweep within five minutes leaves it alone: its message may only be late.
    let queue_name = format!("jobs-{}", Uuid::new_v4().simple());
    let queue_url = format!("{moto}/123456789012/{queue_name}");
    let sqs = aws_sdk_sqs::Client::new(&shared::adapters::aws_env::sdk_config(None));
    sqs.create_queue().queue_name(&queue_name).send().await.expect("create queue");
    let state = AppState::with_pool(
        config(&[("QUEUE_BACKEND", "sqs"), ("QUEUE_URL", &queue_url), ("MAIL_DIR", "/nonexistent")]),
        db.clone(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let early = ScheduledJob::OutboxSweep.run(&state, deadline).await.expect("sweep");
    assert_eq!(early.count("tasks_queued"), 0);

    // Five minutes on, the sweep queues it; the next sweep waits longer before trying again.
    sqlx::query("update tasks set next_sweep_at = now() - interval '1 second'").execute(&db).await.expect("age");
    let sweep = ScheduledJob::OutboxSweep.run(&state, deadline).await.expect("sweep");
    assert_eq!(sweep.count("tasks_queued"), 1);
    let again = ScheduledJob::OutboxSweep.run(&state, deadline).await.expect("sweep");
    assert_eq!(again.count("tasks_queued"), 0, "one message per sweep interval, not per sweep");

    let received =
        sqs.receive_message().queue_url(&queue_url).max_number_of_messages(10).send().await.expect("receive");
    let bodies: Vec<&str> = received.messages().iter().filter_map(|message| message.body()).collect();
    assert_eq!(bodies.len(), 1);
    let envelope = Envelope::decode(bodies[0]).expect("a job message");
    assert_eq!(envelope.job, Job::RunTask { task_id });

    // The worker's claim runs it once, however many messages name it.
    let inline = AppState::with_pool(config(&[("QUEUE_BACKEND", "inline")]), db.clone());
    for _ in 0..2 {
        shared::jobs::tasks::run(&inline, task_id, deadline).await.expect("run");
    }
    let (status, attempts): (String, i32) = sqlx::query_as("select status, attempts from tasks where id = $1")
        .bind(task_id)
        .fetch_one(&db)
        .await
        .expect("row");
    assert_eq!((status.as_str(), attempts), ("SUCCESS", 1));
    eprintln!("faults injected: tasks-api killed between storing a task and queueing it; the sweep queued it once");
}
