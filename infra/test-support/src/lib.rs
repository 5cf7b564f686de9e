//! What the workspace's tests share, in one place instead of a copy per crate: the router test
//! client ([`TestApp`], [`TestResponse`]), test configurations ([`test_config`], [`app_config`]),
//! account set-up through the JSON API ([`Accounts`]), test keys and a local JWKS, a recording
//! WebSocket publisher and metrics sink, and the process-level helpers (a fake Lambda Runtime API, the cold-start
//! check, the rate-limit window). A dev-dependency only: nothing here ships.

pub mod accounts;
pub mod app;
pub mod cold_start;
pub mod config;
pub mod keys;
pub mod lambda_process;
pub mod metrics;
pub mod rate_limit_window;
pub mod ws;

pub use accounts::{Accounts, PASSWORD, mint_session, password_assurance, register_through};
pub use app::{Routes, TestApp, TestResponse, get, json_request, request, send, token_in};
pub use config::{JWT_SECRET, UNUSED_DATABASE_URL, app_config, temp_mail_dir, test_config};
pub use metrics::RecordingMetrics;
pub use ws::RecordingPublisher;

/// The JSON event `tests/fixtures/{name}` (real AWS event shapes the handlers are fed).
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// How many mails the file mailer wrote to `dir` (none when it does not exist).
pub fn mails_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|entries| entries.count()).unwrap_or(0)
}
