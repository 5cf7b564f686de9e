//! The tasks API against a real Postgres: who may call it, submitting every task (run inline,
//! as with no queue configured), validation, and the seed's names and shortcut routes.

mod celery;
mod helpers;
mod reads;
mod worker;

use helpers::*;
use http::{StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Every route with a body that would be valid for a superuser.
fn every_route() -> Vec<(&'static str, String, Option<Value>)> {
    let id = uuid::Uuid::new_v4();
    vec![
        ("POST", "/api/v1/tasks".into(), Some(json!({"task_name": "cleanup"}))),
        ("GET", "/api/v1/tasks".into(), None),
        ("GET", format!("/api/v1/tasks/{id}"), None),
        ("DELETE", format!("/api/v1/tasks/{id}"), None),
        ("GET", "/api/v1/tasks/status".into(), None),
        ("POST", "/api/v1/tasks/send-email".into(), Some(json!({"to": "a@example.com", "subject": "s", "body": "b"}))),
        ("POST", "/api/v1/tasks/process-data".into(), Some(json!({"data": [1]}))),
        ("POST", "/api/v1/tasks/cleanup".into(), None),
        ("POST", "/api/v1/tasks/long-running".into(), Some(json!({"duration": 1, "steps": 1}))),
        ("POST", "/api/v1/tasks/permanently-delete-accounts".into(), None),
        ("GET", "/api/v1/celery/status".into(), None),
        ("POST", "/api/v1/celery/tasks/submit".into(), Some(json!({"task_name": "cleanup_task"}))),
        ("GET", format!("/api/v1/celery/tasks/{id}/status"), None),
        ("DELETE", format!("/api/v1/celery/tasks/{id}/cancel"), None),
        ("GET", "/api/v1/celery/tasks/active".into(), None),
        ("POST", "/api/v1/celery/tasks/send-email?to_email=a%40example.com&subject=s&body=b".into(), None),
        ("POST", "/api/v1/celery/tasks/process-data".into(), Some(json!([1, 2]))),
        ("POST", "/api/v1/celery/tasks/cleanup".into(), None),
        ("POST", "/api/v1/celery/tasks/long-running?duration=1".into(), None),
        ("POST", "/api/v1/celery/tasks/permanently-delete-accounts".into(), None),
    ]
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_route_refuses_anonymous_callers_and_ordinary_users(db: PgPool) {
    let app = TestApp::new(db.clone());
    let (_, user) = app.signed_in("user@example.com", false).await;

    for (method, path, body) in every_route() {
        let anonymous = app.call(method, &path, None, body.as_ref()).await;
        let ordinary = app.call(method, &path, Some(&user), body.as_ref()).await;

        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(anonymous.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(anonymous.body["detail"], "Not authenticated");
        assert_eq!(ordinary.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(ordinary.body["detail"], "Not enough permissions");
    }
    let tasks: i64 = sqlx::query_scalar("select count(*) from tasks").fetch_one(&db).await.expect("count");
    assert_eq!(tasks, 0, "nothing was submitted");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn send_email_is_accepted_runs_and_the_mail_arrives(db: PgPool) {
    let app = TestApp::new(db);
    let (admin_id, admin) = app.signed_in("admin@example.com", true).await;
    let body = json!({
        "task_name": "send_email",
        "kwargs": {"to": "Jane@Example.com", "subject": "Welcome!", "body": "Hello <b>Jane</b> & co"},
    });

    let response = app.post(&admin, "/api/v1/tasks", &body).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.headers[header::CACHE_CONTROL], "no-store");
    let task_id = response.body["task_id"].as_str().expect("task id").to_owned();
    assert_eq!(response.headers[header::LOCATION], format!("/api/v1/tasks/{task_id}"));
    // The answer is the task as queued, although with no queue configured it ran inside the request.
    assert_eq!(response.body, json!({"task_id": task_id, "task_name": "send_email", "status": "PENDING"}));
    let task = app.get(&admin, &format!("/api/v1/tasks/{task_id}")).await.body;
    assert_eq!(task["status"], "SUCCESS");
    assert_eq!(task["result"]["sent"], true);
    assert!(task["result"]["outbox_id"].is_string());
    assert_eq!(task["created_by"], json!(admin_id));
    let mails = app.mails_to("jane@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: Welcome!"));
    assert!(mails[0].contains("Hello <b>Jane</b> & co"), "the text part is the body as given");
    assert!(mails[0].contains("Hello &lt;b&gt;Jane&lt;/b&gt; &amp; co"), "the HTML part escapes it");
    let audit = app.audit_events("task_submitted").await;
    assert_eq!(audit, vec![(Some(admin_id), json!({"task_id": task_id, "task_name": "send_email"}))]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn arguments_at_the_edge_of_a_double_are_stored_and_read_back(db: PgPool) {
    // Postgres keeps a jsonb number as its exact decimal (309 digits here); reading it back must
    // give the same double, not an out-of-range error (found by the schema fuzzer as a 500).
    let app = TestApp::new(db);
    let admin = app.admin().await;
    let edge = json!([
        1.797_693_134_862_315_5e308,
        -1.797_693_134_862_315_7e308,
        5e-324,
        5_174_018_637_591_693_003_587_584_u128 as f64
    ]);

    let response = app.post(&admin, "/api/v1/tasks/process-data", &json!({"data": edge})).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    let task = app.get(&admin, &format!("/api/v1/tasks/{}", response.body["task_id"].as_str().expect("id"))).await;
    assert_eq!(task.status, StatusCode::OK, "{}", task.body);
    assert_eq!(task.body["kwargs"]["data"], edge);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn process_data_summarises_the_list(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    let response =
        app.post(&admin, "/api/v1/tasks/process-data", &json!({"data": [3, -1, 2.5, "x", null, true]})).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.body["task_name"], "process_data");
    assert_eq!(response.body["status"], "PENDING");
    let task = app.get(&admin, &format!("/api/v1/tasks/{}", response.body["task_id"].as_str().expect("id"))).await;
    assert_eq!(
        task.body["result"],
        json!({
            "count": 6,
            "types": {"array": 0, "boolean": 1, "null": 1, "number": 3, "object": 0, "string": 1},
            "numeric": {"count": 3, "sum": 4.5, "min": -1, "max": 3},
        })
    );
    assert_eq!(task.body["kwargs"], json!({"data": [3, -1, 2.5, "x", null, true]}), "arguments are kept as submitted");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cleanup_runs_the_cleanup_job_and_returns_its_report(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.admin().await;
    let old = app.insert_task("process_data", json!([[]]), json!({}), "SUCCESS").await;
    sqlx::query("update tasks set finished_at = now() - interval '30 days' where id = $1")
        .bind(old)
        .execute(&db)
        .await
        .expect("age");

    let response = app.call("POST", "/api/v1/tasks/cleanup", Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.body["status"], "PENDING");
    let task = app.get(&admin, &format!("/api/v1/tasks/{}", response.body["task_id"].as_str().expect("id"))).await;
    assert_eq!(task.body["result"]["job"], "cleanup-expired");
    assert_eq!(task.body["result"]["complete"], true);
    assert_eq!(task.body["result"]["counts"]["tasks_deleted"], 1);
    assert_eq!(app.get(&admin, &format!("/api/v1/tasks/{old}")).await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn permanently_delete_accounts_purges_accounts_past_their_grace_period(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.admin().await;
    let (leaving, _) = app.signed_in("leaving@example.com", false).await;
    sqlx::query(
        "update users set deletion_requested_at = now() - interval '8 days',
                          deletion_scheduled_for = now() - interval '1 day' where id = $1",
    )
    .bind(leaving)
    .execute(&db)
    .await
    .expect("schedule deletion");

    let response = app.call("POST", "/api/v1/tasks/permanently-delete-accounts", Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.body["task_name"], "permanently_delete_accounts");
    assert_eq!(response.body["status"], "PENDING");
    let task = app.get(&admin, &format!("/api/v1/tasks/{}", response.body["task_id"].as_str().expect("id"))).await;
    assert_eq!(
        task.body["result"],
        json!({"job": "purge-deleted-accounts", "counts": {"accounts_purged": 1}, "complete": true})
    );
    let left: i64 = sqlx::query_scalar("select count(*) from users where id = $1")
        .bind(leaving)
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn long_running_reports_its_progress_and_succeeds(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    let response = app.post(&admin, "/api/v1/tasks/long-running", &json!({"duration": 1, "steps": 4})).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.body["status"], "PENDING");
    let task = app.get(&admin, &format!("/api/v1/tasks/{}", response.body["task_id"].as_str().expect("id"))).await;
    assert_eq!(task.body["result"], json!({"progress": 1.0, "step": 4, "steps": 4, "duration": 1}));
    assert_eq!(task.body["attempts"], 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_seeds_task_names_are_aliases_of_the_canonical_ones(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    // the seed README's own example: module path, positional args and a Celery priority
    let seed = app
        .post(
            &admin,
            "/api/v1/tasks",
            &json!({
                "task_name": "app.services.celery_tasks.send_email_task",
                "args": ["user@example.com", "Welcome!", "Welcome to our platform"],
                "kwargs": {"priority": "high"},
            }),
        )
        .await;
    let short = app.post(&admin, "/api/v1/tasks", &json!({"task_name": "process_data_task", "args": [[1, 2]]})).await;
    let cleanup = app.post(&admin, "/api/v1/tasks", &json!({"task_name": "cleanup_task"})).await;

    assert_eq!(seed.status, StatusCode::ACCEPTED, "{}", seed.body);
    assert_eq!(seed.body["task_name"], "send_email");
    assert_eq!(seed.body["status"], "PENDING");
    assert_eq!(app.mails_to("user@example.com").len(), 1);
    assert_eq!(short.body["task_name"], "process_data");
    assert_eq!(short.body["status"], "PENDING");
    assert_eq!(cleanup.body["task_name"], "cleanup");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_send_email_shortcut_also_takes_the_seeds_query_parameters(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.admin().await;

    let response = app
        .call(
            "POST",
            "/api/v1/tasks/send-email?to_email=user%40example.com&subject=Welcome%21&body=Hi+there",
            Some(&admin),
            None,
        )
        .await;
    let bad = app.call("POST", "/api/v1/tasks/long-running?duration=9000", Some(&admin), None).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.body["status"], "PENDING");
    let mails = app.mails_to("user@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Hi there"));
    assert_eq!(validation_errors(&bad), vec![("less_than_equal".to_owned(), json!(["query", "duration"]))]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_task_name_is_a_422_and_stores_nothing(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.admin().await;

    let unknown = app.post(&admin, "/api/v1/tasks", &json!({"task_name": "mine_bitcoin", "args": [1]})).await;
    let missing = app.post(&admin, "/api/v1/tasks", &json!({"args": []})).await;
    let wrong_shape = app.post(&admin, "/api/v1/tasks", &json!({"task_name": "cleanup", "args": {"a": 1}})).await;

    assert_eq!(validation_errors(&unknown), vec![("enum".to_owned(), json!(["body", "task_name"]))]);
    assert_eq!(unknown.body["detail"][0]["input"], "mine_bitcoin");
    assert!(unknown.body["detail"][0]["msg"].as_str().expect("msg").contains("'send_email'"));
    assert_eq!(validation_errors(&missing), vec![("missing".to_owned(), json!(["body", "task_name"]))]);
    assert_eq!(validation_errors(&wrong_shape)[0].1, json!(["body", "args"]));
    let tasks: i64 = sqlx::query_scalar("select count(*) from tasks").fetch_one(&db).await.expect("count");
    assert_eq!(tasks, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_arguments_are_a_422_that_points_at_each_one(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.admin().await;

    let submitted = app
        .post(
            &admin,
            "/api/v1/tasks",
            &json!({"task_name": "send_email", "args": ["not-an-email"], "kwargs": {"subject": "x".repeat(201), "cc": "x"}}),
        )
        .await;
    let shortcut = app.post(&admin, "/api/v1/tasks/send-email", &json!({"to": "a@example.com", "subject": "s"})).await;
    let too_long = app.post(&admin, "/api/v1/tasks/long-running", &json!({"duration": 601, "steps": 0})).await;
    let not_a_list = app.post(&admin, "/api/v1/tasks/process-data", &json!({"data": "1,2,3"})).await;
    let surplus = app.post(&admin, "/api/v1/tasks/cleanup", &json!({"everything": true})).await;
    let not_an_object = app.post(&admin, "/api/v1/tasks/process-data", &json!([1, 2])).await;

    assert_eq!(
        validation_errors(&submitted),
        vec![
            ("extra_forbidden".to_owned(), json!(["body", "kwargs", "cc"])),
            ("value_error".to_owned(), json!(["body", "args", 0])),
            ("string_too_long".to_owned(), json!(["body", "kwargs", "subject"])),
            ("missing".to_owned(), json!(["body", "kwargs", "body"])),
        ]
    );
    assert_eq!(validation_errors(&shortcut), vec![("missing".to_owned(), json!(["body", "body"]))]);
    assert_eq!(
        validation_errors(&too_long),
        vec![
            ("less_than_equal".to_owned(), json!(["body", "duration"])),
            ("greater_than_equal".to_owned(), json!(["body", "steps"])),
        ]
    );
    assert_eq!(validation_errors(&not_a_list), vec![("list_type".to_owned(), json!(["body", "data"]))]);
    assert_eq!(validation_errors(&surplus), vec![("extra_forbidden".to_owned(), json!(["body", "everything"]))]);
    assert_eq!(validation_errors(&not_an_object)[0].0, "model_attributes_type");
    let tasks: i64 = sqlx::query_scalar("select count(*) from tasks").fetch_one(&db).await.expect("count");
    assert_eq!(tasks, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn with_a_real_queue_the_task_is_answered_pending(db: PgPool) {
    let app = TestApp::with(db, &[("QUEUE_BACKEND", "local")]);
    let admin = app.admin().await;

    let response =
        app.post(&admin, "/api/v1/tasks", &json!({"task_name": "process_data", "kwargs": {"data": []}})).await;

    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    assert_eq!(response.body["status"], "PENDING");
    let status = app.get(&admin, "/api/v1/tasks/status").await;
    assert_eq!(status.body["queue"], json!({"backend": "local", "pending": 1, "in_flight": 0, "dead_letter": null}));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unreachable_queue_is_a_503_and_the_task_is_marked_failed(db: PgPool) {
    let mail_dir = temp_mail_dir();
    let state = shared::AppState::with_pool(app_config(&mail_dir, &[]), db.clone())
        .with_queue(std::sync::Arc::new(shared::adapters::unavailable_queue::UnavailableQueue));
    let app = TestApp::from_state(state, mail_dir);
    let admin = app.admin().await;

    let response = app.call("POST", "/api/v1/tasks/cleanup", Some(&admin), None).await;
    let status = app.get(&admin, "/api/v1/tasks/status").await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.body["detail"], "Task queue unavailable");
    assert_eq!(response.body["code"], "queue_unavailable");
    let (status_text, error): (String, Option<String>) =
        sqlx::query_as("select status, error from tasks").fetch_one(&db).await.expect("task");
    assert_eq!((status_text.as_str(), error.as_deref()), ("FAILURE", Some("queue unavailable")));
    assert_eq!(status.status, StatusCode::OK, "an unreachable queue never makes the status endpoint fail");
    assert_eq!(status.body["queue"]["pending"], Value::Null);
    assert_eq!(status.body["tasks"]["FAILURE"], 1);
}
