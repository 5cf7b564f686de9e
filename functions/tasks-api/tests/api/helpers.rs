//! Test harness: the real tasks router around a fresh, migrated database per test (the
//! [`test_support::TestApp`]), and callers signed in by minting a session and access token
//! directly (this function has no login route).

use std::time::{Duration, Instant};

use axum::Router;
use http::StatusCode;
use serde_json::Value;
use shared::AppState;
use shared::repo::tasks::Task;
use test_support::{Routes, mint_session};
use uuid::Uuid;

pub(crate) use test_support::{TestResponse, app_config, temp_mail_dir};

/// The routes under test: the tasks function's.
pub(crate) struct TasksApi;

impl Routes for TasksApi {
    fn routes(state: &AppState) -> Router<AppState> {
        tasks_api::routes(state)
    }
}

/// The tasks router around a test database; tasks run inline, inside the submitting request.
pub(crate) type TestApp = test_support::TestApp<TasksApi>;

/// What the tasks tests do besides plain calls: tokens, task rows, the worker's run.
pub(crate) trait TasksApp {
    /// `GET path` with `token`.
    async fn get(&self, token: &str, path: &str) -> TestResponse;
    /// `POST path` with `token` and a JSON body.
    async fn post(&self, token: &str, path: &str, body: &Value) -> TestResponse;
    /// `DELETE path` with `token`.
    async fn delete(&self, token: &str, path: &str) -> TestResponse;
    /// A verified, active account with a live session; returns its id and an access token.
    async fn signed_in(&self, email: &str, superuser: bool) -> (Uuid, String);
    /// A signed-in superuser's access token.
    async fn admin(&self) -> String;
    /// A task row written directly, as a worker would find it.
    async fn insert_task(&self, name: &str, args: Value, kwargs: Value, status: &str) -> Uuid;
    /// The task row `id`.
    async fn task(&self, id: Uuid) -> Task;
    /// What the worker does with a queued task, with `budget` left before its deadline.
    async fn run_task(&self, id: Uuid, budget: Duration);
    /// The audit entries of `event`, oldest first: who (if anyone) and the details.
    async fn audit_events(&self, event: &str) -> Vec<(Option<Uuid>, Value)>;
}

impl TasksApp for TestApp {
    async fn get(&self, token: &str, path: &str) -> TestResponse {
        self.get_as(token, path).await
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.call("POST", path, Some(token), Some(body)).await
    }

    async fn delete(&self, token: &str, path: &str) -> TestResponse {
        self.call("DELETE", path, Some(token), None).await
    }

    async fn signed_in(&self, email: &str, superuser: bool) -> (Uuid, String) {
        let username = email.split('@').next().expect("local part").replace('.', "_");
        let id: Uuid = sqlx::query_scalar(
            "insert into users (email, username, is_verified, is_superuser, is_active) values ($1, $2, true, $3, true)
             returning id",
        )
        .bind(email)
        .bind(username)
        .bind(superuser)
        .fetch_one(&self.state.db)
        .await
        .expect("user");
        (id, mint_session(&self.state, id, email).await.1)
    }

    async fn admin(&self) -> String {
        self.signed_in("admin@example.com", true).await.1
    }

    async fn insert_task(&self, name: &str, args: Value, kwargs: Value, status: &str) -> Uuid {
        sqlx::query_scalar("insert into tasks (name, args, kwargs, status) values ($1, $2, $3, $4) returning id")
            .bind(name)
            .bind(args)
            .bind(kwargs)
            .bind(status)
            .fetch_one(&self.state.db)
            .await
            .expect("task")
    }

    async fn task(&self, id: Uuid) -> Task {
        shared::repo::tasks::find(&self.state.db, id).await.expect("query").expect("task exists")
    }

    async fn run_task(&self, id: Uuid, budget: Duration) {
        shared::jobs::tasks::run(&self.state, id, Instant::now() + budget).await.expect("task run");
    }

    async fn audit_events(&self, event: &str) -> Vec<(Option<Uuid>, Value)> {
        sqlx::query_as("select user_id, details from audit_log where event = $1 order by at")
            .bind(event)
            .fetch_all(&self.state.db)
            .await
            .expect("audit")
    }
}

/// The `{"type","loc"}` pairs of a 422 body.
#[track_caller]
pub(crate) fn validation_errors(response: &TestResponse) -> Vec<(String, Value)> {
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", response.body);
    response.body["detail"]
        .as_array()
        .expect("a list of errors")
        .iter()
        .map(|error| (error["type"].as_str().expect("type").to_owned(), error["loc"].clone()))
        .collect()
}
