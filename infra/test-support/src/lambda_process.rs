//! A Lambda execution environment on 127.0.0.1, for tests that kill a function binary mid-work:
//! a small Lambda Runtime API (`/runtime/invocation/next` hands out the events the test queues,
//! `/response` and `/error` record the answers) and the function's process, killed with SIGKILL
//! like a crashed or timed-out environment. The test hands in the binary (each crate can only
//! name its own through `CARGO_BIN_EXE_<name>`).

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

/// The functions' timeout in template.yaml: each invocation's deadline.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait for anything the worker does; past it the test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- the fake Lambda Runtime API

/// What the function sent back for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Posted to `/response`: the invocation's result.
    Response(Value),
    /// Posted to `/error` (or `/init/error`): the function reported a failure.
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
pub struct FakeRuntime {
    address: String,
    state: Arc<RuntimeState>,
    next_id: u32,
}

impl FakeRuntime {
    /// Serves the API on a free port; hand it to [`Function::start`].
    pub async fn start() -> Self {
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
    pub fn invoke(&mut self, event: &Value) -> String {
        self.next_id += 1;
        let id = format!("request-{}", self.next_id);
        self.state.pending.lock().expect("lock").push_back((id.clone(), event.clone()));
        id
    }

    /// The request ids the function has fetched so far, in order: what it started working on.
    pub fn handed_out(&self) -> Vec<String> {
        self.state.handed_out.lock().expect("lock").clone()
    }

    /// Every answer recorded so far, by request id (`init` for an initialisation error).
    pub fn answers(&self) -> Vec<(String, Answer)> {
        self.state.answers.lock().expect("lock").clone()
    }

    /// Waits (at most [`PATIENCE`]) for the answer to `request_id`.
    pub async fn answer(&self, request_id: &str) -> Answer {
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
                        "arn:aws:lambda:us-east-1:123456789012:function:under-test".to_owned(),
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

// ---------------------------------------------------------------- the function process

/// A running function binary; killed (and reaped) when dropped.
pub struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    /// Starts `binary` (named `name`) against `runtime` with the test database and `settings`
    /// on top.
    pub fn start(
        binary: &str,
        name: &str,
        runtime: &FakeRuntime,
        database_url: &str,
        settings: &[(&str, String)],
    ) -> Self {
        let log = std::env::temp_dir().join(format!("killed-{name}-{}.log", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("DATABASE_URL", database_url)
            // Local settings (localhost front end, file mail): not a deployment.
            .env("ENVIRONMENT", "development")
            // `inline` spares a function that queues nothing a queue URL; `settings` may override.
            .env("QUEUE_BACKEND", "inline")
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (name, value) in settings {
            command.env(name, value);
        }
        Self { child: command.spawn().expect("start the function"), log }
    }

    /// SIGKILL; returns once the process is gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the function");
        let status = self.child.wait().expect("reap the function");
        assert_eq!(status.signal(), Some(SIGKILL), "killed by SIGKILL, not exited: {status}");
    }

    /// What the function wrote to stdout and stderr, for assertions on its log lines.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- function log ({}):\n{}", self.log.display(), self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// SIGKILL's number on Linux and macOS.
const SIGKILL: i32 = 9;

// ---------------------------------------------------------------- helpers

/// Polls `check` until it returns `Some`, for at most [`PATIENCE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
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
pub fn database_url(db: &PgPool) -> String {
    let options = db.connect_options();
    let database = options.get_database().expect("the test database has a name");
    format!("postgres://{}@{}:{}/{database}", options.get_username(), options.get_host(), options.get_port())
}
