//! The worker's JSON log lines, from the real binary under a Lambda Runtime API: each names its
//! invocation (`aws_request_id`), the X-Ray trace and whether the invocation was the
//! environment's first (`cold_start`), and a job's lines name the request that queued it.
//!
//! Needs Postgres (`DATABASE_URL`), as scripts/test provides.

use serde_json::{Value, json};
use shared::jobs::message::{Envelope, Job};
use sqlx::PgPool;
use test_support::lambda_process::{Answer, FakeRuntime, Function, database_url};

fn sqs_event(message_id: &str, body: &str) -> Value {
    json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": format!("AQEB{message_id}=="),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795700000000"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:serverless-auth-jobs",
        "awsRegion": "us-east-1"
    }]})
}

fn job_done_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "job done")
        .collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_line_names_its_invocation_trace_and_cold_start_and_a_job_its_request(db: PgPool) {
    let mut runtime = FakeRuntime::start().await;
    let settings = [("LOG_FORMAT", "json".to_owned())];
    let worker = Function::start(env!("CARGO_BIN_EXE_worker"), "worker", &runtime, &database_url(&db), &settings);
    let queued_by_a_request = Envelope::new(Job::PublishEvents).queued_by(Some("api-request-7".into()));
    let first = runtime.invoke(&sqs_event("m-1", &queued_by_a_request.to_body()));
    let second = runtime.invoke(&sqs_event("m-2", &Envelope::new(Job::PublishEvents).to_body()));

    for invocation in [&first, &second] {
        assert_eq!(runtime.answer(invocation).await, Answer::Response(json!({"batchItemFailures": []})));
    }

    let log = worker.log();
    let lines = job_done_lines(&log);
    assert_eq!(lines.len(), 2, "{log}");
    let (cold, warm) = (&lines[0], &lines[1]);
    assert_eq!((cold["aws_request_id"].as_str(), cold["cold_start"].as_bool()), (Some(first.as_str()), Some(true)));
    assert_eq!((warm["aws_request_id"].as_str(), warm["cold_start"].as_bool()), (Some(second.as_str()), Some(false)));
    for line in &lines {
        assert!(line["trace_id"].as_str().is_some_and(|trace| trace.starts_with("Root=1-")), "{line}");
        assert_eq!(line["message_id"].as_str().map(|id| id.starts_with("m-")), Some(true), "the SQS message's span");
    }
    assert_eq!(cold["request_id"], "api-request-7", "the request that queued the job");
    assert!(warm.get("request_id").is_none(), "a job no request queued names none");
}
