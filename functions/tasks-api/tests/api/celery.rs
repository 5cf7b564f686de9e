//! The seed's `/api/v1/celery/*` paths: the seed's shapes and messages over the same tasks (the
//! seed's `test_celery_api.py` and `test_celery_mocked.py` cases, against Postgres).

use http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn submit_answers_the_seeds_shape_and_the_task_runs(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    let response = app
        .post(&admin, "/api/v1/celery/tasks/submit", &json!({"task_name": "process_data_task", "args": [[1, 2, 3]]}))
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let task_id = response.body["task_id"].as_str().expect("id").to_owned();
    assert_eq!(
        response.body,
        json!({"task_id": task_id, "task_name": "process_data_task", "status": "PENDING", "message": "Task submitted successfully"})
    );
    let status = app.get(&admin, &format!("/api/v1/celery/tasks/{task_id}/status")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["status"], "SUCCESS");
    assert_eq!(
        (status.body["ready"].clone(), status.body["successful"].clone(), status.body["failed"].clone()),
        (json!(true), json!(true), json!(false))
    );
    assert_eq!(status.body["result"]["count"], 3);
    assert!(status.body.get("error").is_none());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_or_malformed_task_id_is_the_seeds_404(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    for id in [uuid::Uuid::new_v4().to_string(), "not-a-task".to_owned()] {
        let response = app.get(&admin, &format!("/api/v1/celery/tasks/{id}/status")).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(response.body["detail"], "Task not found");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_shortcuts_answer_with_the_seeds_names_and_messages(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;
    let cases = [
        (
            "/api/v1/celery/tasks/send-email?to_email=user%40example.com&subject=Hi&body=Hello",
            None,
            "send_email_task",
            "Email task submitted successfully",
        ),
        (
            "/api/v1/celery/tasks/process-data",
            Some(json!([1, 2])),
            "process_data_task",
            "Data processing task submitted successfully for 2 items",
        ),
        ("/api/v1/celery/tasks/cleanup", None, "cleanup_task", "Cleanup task submitted successfully"),
        (
            "/api/v1/celery/tasks/long-running?duration=2",
            None,
            "long_running_task",
            "Long-running task submitted successfully (duration: 2s)",
        ),
        (
            "/api/v1/celery/tasks/permanently-delete-accounts",
            None,
            "app.services.celery_tasks.permanently_delete_accounts_task",
            "Permanent account deletion task submitted successfully",
        ),
    ];
    for (path, body, task_name, message) in cases {
        let response = app.call("POST", path, Some(&admin), body.as_ref()).await;
        assert_eq!(response.status, StatusCode::OK, "{path}: {}", response.body);
        assert_eq!(response.body["task_name"], task_name, "{path}");
        assert_eq!(response.body["message"], message, "{path}");
        assert_eq!(response.body["status"], "PENDING", "{path}");
    }
    assert_eq!(app.mails_to("user@example.com").len(), 1, "the mail task ran");
    let too_long = app.call("POST", "/api/v1/celery/tasks/long-running?duration=9000", Some(&admin), None).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let not_a_list = app.post(&admin, "/api/v1/celery/tasks/process-data", &json!({"data": [1]})).await;
    assert_eq!(not_a_list.status, StatusCode::UNPROCESSABLE_ENTITY, "the seed takes a bare JSON array");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancel_answers_200_and_says_whether_it_cancelled(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;
    let pending = app.insert_task("cleanup", json!([]), json!({}), "PENDING").await;
    let finished = app.insert_task("cleanup", json!([]), json!({}), "SUCCESS").await;

    let cancelled = app.delete(&admin, &format!("/api/v1/celery/tasks/{pending}/cancel")).await;
    let too_late = app.delete(&admin, &format!("/api/v1/celery/tasks/{finished}/cancel")).await;
    let unknown = app.delete(&admin, "/api/v1/celery/tasks/nope/cancel").await;

    assert_eq!(
        cancelled.body,
        json!({"task_id": pending.to_string(), "cancelled": true, "message": "Task cancelled successfully"})
    );
    for refused in [&too_late, &unknown] {
        assert_eq!(refused.status, StatusCode::OK);
        assert_eq!(refused.body["cancelled"], false);
        assert_eq!(refused.body["message"], "Failed to cancel task or task not found");
    }
    assert_eq!(app.task(pending).await.status, "REVOKED");
    assert_eq!(app.task(finished).await.status, "SUCCESS");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn status_and_active_list_what_runs(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;
    let running = app.insert_task("long_running", json!([5]), json!({}), "STARTED").await;
    app.insert_task("cleanup", json!([]), json!({}), "PENDING").await;

    let status = app.get(&admin, "/api/v1/celery/status").await;
    let active = app.get(&admin, "/api/v1/celery/tasks/active").await;

    assert_eq!(status.status, StatusCode::OK);
    for key in
        ["enabled", "broker_url", "result_backend", "active_workers", "registered_tasks", "active_tasks", "error"]
    {
        assert!(status.body.get(key).is_some(), "status has the seed's key {key}");
    }
    assert_eq!(status.body["active_tasks"], 1);
    assert!(status.body["registered_tasks"].as_array().expect("list").contains(&json!("send_email_task")));
    let active = active.body.as_array().expect("list");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["task_id"], json!(running));
    assert_eq!(active[0]["name"], "long_running");
    for key in ["worker", "args", "kwargs", "time_start"] {
        assert!(active[0].get(key).is_some(), "active task has the seed's key {key}");
    }
}
