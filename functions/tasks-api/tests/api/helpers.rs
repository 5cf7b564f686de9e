//! Test harness: the real tasks router around a fresh, migrated database per test, mail written
//! to a private directory, and callers signed in by minting a session and access token directly
//! (this function has no login route).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use chrono::Utc;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use shared::repo::sessions::{self, Origin};
use shared::repo::tasks::Task;
use shared::{AppState, Config};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) mail_dir: PathBuf,
    /// The state behind the router: its `db` is the test's database, for arranging and checking
    /// rows directly, and the worker's `tasks::run` runs against it.
    pub(crate) state: AppState,
}

pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

/// The configuration of a test: no queue (tasks run inline), no rate limits, mail to `mail_dir`.
pub(crate) fn test_config(mail_dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), "postgres://unused@127.0.0.1:1/unused".into()),
        ("JWT_SECRET".into(), "test-secret-test-secret-test-secret-0123".into()),
        ("MAIL_DIR".into(), mail_dir.display().to_string()),
        ("FRONTEND_URL".into(), "http://localhost:3000".into()),
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())).expect("test config")
}

pub(crate) fn temp_mail_dir() -> PathBuf {
    std::env::temp_dir().join(format!("tasks-api-mail-{}", Uuid::new_v4()))
}

impl TestApp {
    /// Tasks run inline, inside the submitting request.
    pub(crate) fn new(db: PgPool) -> Self {
        Self::with(db, &[])
    }

    pub(crate) fn with(db: PgPool, extra: &[(&str, &str)]) -> Self {
        let mail_dir = temp_mail_dir();
        let state = AppState::with_pool(test_config(&mail_dir, extra), db);
        Self::from_state(state, mail_dir)
    }

    /// Around a state the test adjusted (a queue swapped in, say).
    pub(crate) fn from_state(state: AppState, mail_dir: PathBuf) -> Self {
        Self { router: tasks_api::router(state.clone()), mail_dir, state }
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        TestResponse { status, headers, body }
    }

    /// Sends `method path` with a Bearer token (if any) and a JSON body (if any).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("request")).await
    }

    pub(crate) async fn get(&self, token: &str, path: &str) -> TestResponse {
        self.call("GET", path, Some(token), None).await
    }

    pub(crate) async fn post(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub(crate) async fn delete(&self, token: &str, path: &str) -> TestResponse {
        self.call("DELETE", path, Some(token), None).await
    }

    /// A verified, active account with a live session; returns its id and an access token.
    pub(crate) async fn signed_in(&self, email: &str, superuser: bool) -> (Uuid, String) {
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
        let session = sessions::create(&self.state.db, id, Utc::now() + chrono::Duration::days(1), &Origin::default())
            .await
            .expect("session");
        let keys = self.state.config.require_jwt().expect("signing key");
        let (token, _) = keys.issue(id, email, session, Utc::now()).expect("token");
        (id, token)
    }

    /// A signed-in superuser's access token.
    pub(crate) async fn admin(&self) -> String {
        self.signed_in("admin@example.com", true).await.1
    }

    /// A task row written directly, as a worker would find it.
    pub(crate) async fn insert_task(&self, name: &str, args: Value, kwargs: Value, status: &str) -> Uuid {
        sqlx::query_scalar("insert into tasks (name, args, kwargs, status) values ($1, $2, $3, $4) returning id")
            .bind(name)
            .bind(args)
            .bind(kwargs)
            .bind(status)
            .fetch_one(&self.state.db)
            .await
            .expect("task")
    }

    pub(crate) async fn task(&self, id: Uuid) -> Task {
        shared::repo::tasks::find(&self.state.db, id).await.expect("query").expect("task exists")
    }

    /// What the worker does with a queued task, with `budget` left before its deadline.
    pub(crate) async fn run_task(&self, id: Uuid, budget: Duration) {
        shared::jobs::tasks::run(&self.state, id, Instant::now() + budget).await.expect("task run");
    }

    /// All mails sent to `to`, oldest first.
    pub(crate) fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| std::fs::read_to_string(p).expect("mail"))
            .filter(|mail| mail.contains(&format!("To: {to}\r\n")))
            .collect()
    }

    pub(crate) async fn audit_events(&self, event: &str) -> Vec<(Option<Uuid>, Value)> {
        sqlx::query_as("select user_id, details from audit_log where event = $1 order by at")
            .bind(event)
            .fetch_all(&self.state.db)
            .await
            .expect("audit")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
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
