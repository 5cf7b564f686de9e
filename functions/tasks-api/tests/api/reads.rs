//! Reading, listing and cancelling tasks, and the status endpoint.

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_reads_back_with_every_field(db: PgPool) {
    let app = TestApp::new(db);
    let (admin_id, admin) = app.signed_in("admin@example.com", true).await;
    let submitted = app.post(&admin, "/api/v1/tasks", &json!({"task_name": "process_data", "args": [[1, 2]]})).await;
    let id = submitted.body["task_id"].as_str().expect("id").to_owned();

    let response = app.get(&admin, &format!("/api/v1/tasks/{id}")).await;

    assert_eq!(response.status, StatusCode::OK);
    let task = response.body;
    let mut keys: Vec<&str> = task.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "args",
            "attempts",
            "created_at",
            "created_by",
            "error",
            "finished_at",
            "kwargs",
            "result",
            "started_at",
            "status",
            "task_id",
            "task_name"
        ]
    );
    assert_eq!(task["task_id"], id.as_str());
    assert_eq!(task["status"], "SUCCESS");
    assert_eq!(task["args"], json!([[1, 2]]));
    assert_eq!(task["kwargs"], json!({}));
    assert_eq!(task["error"], Value::Null);
    assert_eq!(task["attempts"], 1);
    assert_eq!(task["created_by"], json!(admin_id));
    for field in ["created_at", "started_at", "finished_at"] {
        let at = task[field].as_str().unwrap_or_else(|| panic!("{field} set"));
        assert!(at.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{field}: {at}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_task_is_404_and_a_malformed_id_422(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    let unknown = app.get(&admin, &format!("/api/v1/tasks/{}", Uuid::new_v4())).await;
    let malformed = app.get(&admin, "/api/v1/tasks/not-a-uuid").await;
    let cancel_unknown = app.delete(&admin, &format!("/api/v1/tasks/{}", Uuid::new_v4())).await;

    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, json!({"detail": "Task not found", "code": "task_not_found"}));
    assert_eq!(validation_errors(&malformed), vec![("uuid_parsing".to_owned(), json!(["path", "id"]))]);
    assert_eq!(cancel_unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(cancel_unknown.body["code"], "task_not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_status_path_is_not_read_as_a_task_id(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    let response = app.get(&admin, "/api/v1/tasks/status").await;
    let shortcut_get = app.get(&admin, "/api/v1/tasks/cleanup").await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(response.body["queue"].is_object() && response.body["tasks"].is_object());
    assert_eq!(shortcut_get.status, StatusCode::METHOD_NOT_ALLOWED, "a shortcut path is not an id either");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_list_is_newest_first_filtered_and_paginated(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.admin().await;
    let mut ids = Vec::new();
    for (minutes_ago, status) in [(5, "SUCCESS"), (4, "PENDING"), (3, "SUCCESS"), (2, "FAILURE"), (1, "SUCCESS")] {
        let id = app.insert_task("cleanup", json!([]), json!({}), status).await;
        sqlx::query("update tasks set created_at = now() - make_interval(mins => $2) where id = $1")
            .bind(id)
            .bind(minutes_ago)
            .execute(&db)
            .await
            .expect("age");
        ids.push(id.to_string());
    }
    let listed = |response: &TestResponse| -> Vec<String> {
        response.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|task| task["task_id"].as_str().expect("id").to_owned())
            .collect()
    };

    let all = app.get(&admin, "/api/v1/tasks").await;
    let succeeded = app.get(&admin, "/api/v1/tasks?status=success&size=2").await;
    let second_page = app.get(&admin, "/api/v1/tasks?status=SUCCESS&size=2&page=2").await;
    let bad_status = app.get(&admin, "/api/v1/tasks?status=DONE").await;
    let too_big = app.get(&admin, "/api/v1/tasks?size=101").await;

    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(listed(&all), [ids[4].as_str(), &ids[3], &ids[2], &ids[1], &ids[0]]);
    assert_eq!(
        (all.body["total"].clone(), all.body["page"].clone(), all.body["size"].clone()),
        (json!(5), json!(1), json!(20))
    );
    assert_eq!(listed(&succeeded), [ids[4].as_str(), &ids[2]]);
    assert_eq!(succeeded.body["total"], 3);
    assert_eq!(listed(&second_page), [ids[0].as_str()]);
    assert_eq!(validation_errors(&bad_status), vec![("enum".to_owned(), json!(["query", "status"]))]);
    assert_eq!(validation_errors(&too_big), vec![("less_than_equal".to_owned(), json!(["query", "size"]))]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_pending_task_can_be_cancelled_and_the_worker_then_skips_it(db: PgPool) {
    let app = TestApp::with(db, &[("QUEUE_BACKEND", "local")]);
    let (admin_id, admin) = app.signed_in("admin@example.com", true).await;
    let submitted = app.post(&admin, "/api/v1/tasks/process-data", &json!({"data": [1]})).await;
    assert_eq!(submitted.body["status"], "PENDING");
    let id: Uuid = submitted.body["task_id"].as_str().expect("id").parse().expect("uuid");

    let cancelled = app.delete(&admin, &format!("/api/v1/tasks/{id}")).await;
    app.run_task(id, std::time::Duration::from_secs(30)).await;
    let again = app.delete(&admin, &format!("/api/v1/tasks/{id}")).await;

    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "REVOKED");
    assert!(cancelled.body["finished_at"].is_string());
    let task = app.task(id).await;
    assert_eq!(task.status, "REVOKED");
    assert_eq!((task.attempts, task.started_at, task.result), (0, None, None), "the worker did not run it");
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body, json!({"detail": "Task can no longer be cancelled", "code": "task_not_cancellable"}));
    let audit = app.audit_events("task_cancelled").await;
    assert_eq!(audit, vec![(Some(admin_id), json!({"task_id": id, "task_name": "process_data"}))]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_finished_or_running_task_cannot_be_cancelled(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;
    let finished = app.post(&admin, "/api/v1/tasks/cleanup", &json!({})).await;
    let finished_id = finished.body["task_id"].as_str().expect("id").to_owned();
    let running = app.insert_task("cleanup", json!([]), json!({}), "STARTED").await;

    let first = app.delete(&admin, &format!("/api/v1/tasks/{finished_id}")).await;
    let second = app.delete(&admin, &format!("/api/v1/tasks/{running}")).await;

    assert_eq!(first.status, StatusCode::CONFLICT);
    assert_eq!(first.body["code"], "task_not_cancellable");
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(app.get(&admin, &format!("/api/v1/tasks/{finished_id}")).await.body["status"], "SUCCESS");
    assert!(app.audit_events("task_cancelled").await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_status_endpoint_counts_tasks_by_status(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;
    for status in ["PENDING", "PENDING", "STARTED", "SUCCESS", "REVOKED"] {
        app.insert_task("cleanup", json!([]), json!({}), status).await;
    }

    let response = app.get(&admin, "/api/v1/tasks/status").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({
            "queue": {"backend": "inline", "pending": 0, "in_flight": 0, "dead_letter": null},
            "tasks": {"PENDING": 2, "STARTED": 1, "SUCCESS": 1, "FAILURE": 0, "REVOKED": 1},
        })
    );
}
