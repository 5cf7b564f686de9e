//! The template's Celery files, `test_celery_api.py`, `test_celery_health.py` and
//! `test_celery_mocked.py`: the `/api/v1/celery/*` routes and what the health routes and
//! `/features` say about background tasks.
//!
//! The template patched Celery itself; here the tasks are real. Submissions are queued on the
//! in-process queue (no worker runs, so they stay PENDING) unless a case needs a finished task,
//! which then runs inline. Every route needs a superuser here, registered through the API and
//! promoted in the database.

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::*;

/// Tasks wait on the in-process queue; nothing runs them.
fn queued(db: PgPool) -> TestApp {
    TestApp::with(db, &[("QUEUE_BACKEND", "local")])
}

async fn post(app: &TestApp, admin: &str, path: &str, body: Option<&Value>) -> TestResponse {
    app.call("POST", path, Some(admin), body).await
}

#[track_caller]
fn assert_submitted(response: &TestResponse, task_name: &str, message: &str) {
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["task_id"].is_string(), "{response:?}");
    assert_eq!(response.body["task_name"], task_name);
    assert_eq!(response.body["status"], "PENDING");
    assert_eq!(response.body["message"], message);
}

fn email_task() -> Value {
    json!({
        "task_name": "app.services.celery_tasks.send_email_task",
        "args": ["test@example.com", "Test Subject", "Test Body"],
        "kwargs": {"priority": "high"},
    })
}

// test_celery_api.py

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn celery_routes_exist(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.get_as(&admin, "/api/v1/celery/status").await;

    assert!([StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&response.status), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_celery_task_enabled(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = post(&app, &admin, "/api/v1/celery/tasks/submit", Some(&email_task())).await;

    assert_submitted(&response, "app.services.celery_tasks.send_email_task", "Task submitted successfully");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_celery_task_failure(db: PgPool) {
    // Differs from the seed: README row "POST /api/v1/celery/tasks/submit (and the shortcuts) when the queue refuses the job"
    // A queue that refuses every message: an SQS queue that does not exist.
    let app = TestApp::with(
        db,
        &[("QUEUE_BACKEND", "sqs"), ("QUEUE_URL", "http://127.0.0.1:5055/000000000000/seed-cases-missing-queue")],
    );
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;
    let mut task = email_task();
    task["kwargs"] = json!({});

    let response = post(&app, &admin, "/api/v1/celery/tasks/submit", Some(&task)).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{response:?}");
    assert_eq!(response.body["detail"], "Task queue unavailable", "{response:?}");
    assert_eq!(response.body["code"], "queue_unavailable");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_task_status_not_found(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.get_as(&admin, "/api/v1/celery/tasks/non-existent-id/status").await;

    assert_eq!(response.status, StatusCode::NOT_FOUND, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Task not found"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_email_task_enabled(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = post(
        &app,
        &admin,
        "/api/v1/celery/tasks/send-email?to_email=test%40example.com&subject=Test%20Subject&body=Test%20Body",
        None,
    )
    .await;

    assert_submitted(&response, "send_email_task", "Email task submitted successfully");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_data_processing_task_enabled(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;
    let data = json!([{"id": 1, "name": "item1"}, {"id": 2, "name": "item2"}]);

    let response = post(&app, &admin, "/api/v1/celery/tasks/process-data", Some(&data)).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["task_name"], "process_data_task");
    assert_eq!(response.body["status"], "PENDING");
    assert!(response.body["message"].as_str().expect("message").contains("2 items"), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_cleanup_task_enabled(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = post(&app, &admin, "/api/v1/celery/tasks/cleanup", None).await;

    assert_submitted(&response, "cleanup_task", "Cleanup task submitted successfully");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_long_running_task_enabled(db: PgPool) {
    let app = queued(db);
    let admin = app.superuser().await;

    let response = post(&app, &admin, "/api/v1/celery/tasks/long-running?duration=120", None).await;

    // Differs from the seed: README row "POST /api/v1/celery/tasks/long-running" (at most 45 s)
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    assert_eq!(response.body["detail"][0]["loc"], json!(["query", "duration"]), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_long_running_task_default_duration(db: PgPool) {
    let app = queued(db);
    let admin = app.superuser().await;

    let response = post(&app, &admin, "/api/v1/celery/tasks/long-running", None).await;

    // Differs from the seed: README row "POST /api/v1/celery/tasks/long-running" (default 10 s)
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["message"].as_str().expect("message").contains("10s"), "{response:?}");
}

// test_celery_health.py: the template patched Celery's statistics; tasks here have no broker or
// worker pool to report on, so the health routes report the database and the application only.

#[track_caller]
fn assert_health_without_celery(response: &TestResponse) {
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["status"], "healthy");
    assert!(response.body["checks"].get("celery").is_none(), "{response:?}");
    assert!(response.body.get("celery_stats").is_none());
    assert!(response.body.get("celery_error").is_none());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_check_with_celery_enabled(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    assert_health_without_celery(&app.get("/api/v1/health").await);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_check_with_celery_disabled(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    assert_health_without_celery(&app.get("/api/v1/health").await);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_check_with_celery_error(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    assert_health_without_celery(&app.get("/api/v1/health").await);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_check_with_celery_exception(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    assert_health_without_celery(&app.get("/api/v1/health").await);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn readiness_check_with_celery_enabled(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/ready").await;

    assert!([StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&response.status), "{response:?}");
    if response.status == StatusCode::OK {
        assert!(response.body.get("components").is_some());
    } else {
        assert!(response.body["detail"].get("components").is_some(), "{response:?}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn readiness_check_with_celery_disabled(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/ready").await;

    // Readiness depends on the database only: tasks have no worker pool that could be down.
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["components"].get("celery").is_none());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn readiness_check_with_celery_error(db: PgPool) {
    // Differs from the seed: README row "/api/v1/health, /health/ready"
    let app = TestApp::new(db);

    let response = app.get("/api/v1/health/ready").await;

    // Readiness depends on the database only: tasks have no worker pool that could be down.
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["components"].get("celery").is_none());
}

#[tokio::test]
async fn features_endpoint_with_celery_enabled() {
    let app = TestApp::offline(&[]);

    let response = app.get("/features").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["celery"], true);
}

#[tokio::test]
async fn features_endpoint_with_celery_disabled() {
    let app = TestApp::offline(&[]);

    let response = app.get("/features").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["celery"], true);
}

// test_celery_mocked.py

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_celery_status_enabled_mocked(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.get_as(&admin, "/api/v1/celery/status").await;

    // The template's values were its mock's; the shape is the seed's.
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["enabled"], true);
    for key in ["broker_url", "result_backend", "active_workers", "registered_tasks", "active_tasks"] {
        assert!(response.body.get(key).is_some(), "{key}: {response:?}");
    }
    assert!(response.body["active_workers"].is_i64() && response.body["active_tasks"].is_i64());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_task_status_enabled_mocked(db: PgPool) {
    // Tasks run inline: the task has finished when the submission answers.
    let app = TestApp::new(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;
    let submitted = post(&app, &admin, "/api/v1/celery/tasks/cleanup", None).await;
    let task_id = submitted.body["task_id"].as_str().expect("task id").to_owned();

    let response = app.get_as(&admin, &format!("/api/v1/celery/tasks/{task_id}/status")).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["task_id"], task_id);
    assert_eq!(response.body["status"], "SUCCESS");
    assert_eq!(response.body["ready"], true);
    assert_eq!(response.body["successful"], true);
    assert_eq!(response.body["failed"], false);
    assert!(response.body["result"].is_object(), "{response:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_active_tasks_enabled_mocked(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;
    // A task a worker is running now (no route starts one without finishing it).
    let running: Uuid = sqlx::query_scalar(
        "insert into tasks (name, args, status, started_at)
         values ('send_email', '[\"test@example.com\"]', 'STARTED', now()) returning id",
    )
    .fetch_one(&app.state.db)
    .await
    .expect("task");

    let response = app.get_as(&admin, "/api/v1/celery/tasks/active").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    let tasks = response.body.as_array().expect("a list");
    assert_eq!(tasks.len(), 1, "{response:?}");
    assert_eq!(tasks[0]["task_id"], running.to_string());
    assert_eq!(tasks[0]["name"], "send_email");
    assert!(tasks[0]["worker"].is_string());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_task_enabled_success_mocked(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;
    let submitted = post(&app, &admin, "/api/v1/celery/tasks/cleanup", None).await;
    let task_id = submitted.body["task_id"].as_str().expect("task id").to_owned();

    let response = app.call("DELETE", &format!("/api/v1/celery/tasks/{task_id}/cancel"), Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["task_id"], task_id);
    assert_eq!(response.body["cancelled"], true);
    assert_eq!(response.body["message"], "Task cancelled successfully");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_task_enabled_failure_mocked(db: PgPool) {
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.call("DELETE", "/api/v1/celery/tasks/test-task-id/cancel", Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["task_id"], "test-task-id");
    assert_eq!(response.body["cancelled"], false);
    assert!(response.body["message"].as_str().expect("message").contains("Failed to cancel task"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_celery_status_error_mocked(db: PgPool) {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.get_as(&admin, "/api/v1/celery/status").await;

    // The status is read from the task table; with the database up there is no failure to report.
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body["error"].is_null());
}

// The template's four "Celery disabled" cases: tasks cannot be switched off here, so each
// route answers as enabled.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_celery_task_disabled_mocked(db: PgPool) {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;
    let mut task = email_task();
    task["kwargs"] = json!({});

    let response = post(&app, &admin, "/api/v1/celery/tasks/submit", Some(&task)).await;

    assert_submitted(&response, "app.services.celery_tasks.send_email_task", "Task submitted successfully");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_task_status_disabled_mocked(db: PgPool) {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.get_as(&admin, "/api/v1/celery/tasks/test-task-id/status").await;

    assert_eq!(response.status, StatusCode::NOT_FOUND, "{response:?}");
    assert_eq!(response.body["detail"], "Task not found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_task_disabled_mocked(db: PgPool) {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.call("DELETE", "/api/v1/celery/tasks/test-task-id/cancel", Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["cancelled"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn get_active_tasks_disabled_mocked(db: PgPool) {
    // Differs from the seed: README row "ENABLE_WEBSOCKETS, ENABLE_CELERY"
    let app = queued(db);
    // Differs from the seed: README row "/api/v1/celery/*, /api/v1/tasks/*"
    let admin = app.superuser().await;

    let response = app.get_as(&admin, "/api/v1/celery/tasks/active").await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body, json!([]));
}
