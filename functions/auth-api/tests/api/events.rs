//! Auth events end to end: the changes a user makes land in the outbox with the change, the
//! outbox sweep's publisher writes them (locally, as files) once, each matching its schema in
//! docs/events, and a rolled-back change announces nothing.

use std::time::{Duration, Instant};

use chrono::Utc;
use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::events::{AuthEvent, EventType};
use shared::jobs::ScheduledJob;
use shared::repo::audit::{self, AuditEvent};
use sqlx::PgPool;

use crate::helpers::*;

/// Runs the outbox sweep, which (queue inline) publishes the waiting events.
async fn sweep(app: &TestApp) -> shared::jobs::Report {
    ScheduledJob::OutboxSweep.run(&app.state, Instant::now() + Duration::from_secs(60)).await.expect("sweep")
}

/// The published events (EventBridge's shape: source, detail-type, detail), oldest first.
fn published(app: &TestApp) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(app.mail_dir.join("events")) else { return Vec::new() };
    let mut paths: Vec<_> = entries
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json"))
        .collect()
}

/// Checks `detail` against its schema in docs/events: the envelope's fields, the type's `data`
/// fields and none other.
fn assert_matches_schema(detail: &Value) {
    let kind = detail["type"].as_str().expect("type");
    let path = format!("{}/../../docs/events/{kind}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("schema")).expect("json");
    let keys = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        keys
    };
    assert_eq!(keys(detail), keys(&schema["properties"]), "{kind}: envelope");
    let data = &schema["properties"]["data"];
    for key in keys(&detail["data"]) {
        assert!(data["properties"].get(&key).is_some(), "{kind}: data.{key} is not in the schema");
    }
    for required in data["required"].as_array().expect("required") {
        let required = required.as_str().expect("name");
        assert!(!detail["data"][required].is_null(), "{kind}: data.{required} missing");
    }
    assert_eq!(detail["version"], 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_accounts_changes_are_published_once_in_order_and_without_secrets(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user("jane@example.com", "jane").await;
    let login = app.login("jane@example.com", PASSWORD).await;
    let refresh = login.refresh_cookie().expect("cookie");
    app.with_cookie("POST", "/api/v1/auth/logout", &refresh, None).await;
    let changed = app
        .call(
            "POST",
            "/api/v1/auth/change-password",
            Some(&access),
            Some(&json!({"current_password": PASSWORD, "new_password": "An0ther-Passw0rd!"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    let user_id = app.user_id("jane@example.com").await;
    assert!(published(&app).is_empty(), "nothing leaves before the publisher runs");

    let first = sweep(&app).await;
    let second = sweep(&app).await;

    assert_eq!((first.count("event_publishers_queued"), second.count("event_publishers_queued")), (1, 0));
    let events = published(&app);
    let kinds: Vec<&str> = events.iter().map(|event| event["detail-type"].as_str().expect("type")).collect();
    assert_eq!(
        kinds,
        ["user.registered", "user.verified", "user.login", "user.login", "session.revoked", "password.changed"]
    );
    for event in &events {
        assert_eq!(event["source"], "serverless-auth");
        assert_eq!(event["detail"]["user_id"], json!(user_id));
        assert_matches_schema(&event["detail"]);
    }
    assert_eq!(events[4]["detail"]["data"]["reason"], "logout");
    let attempts: Vec<i32> = sqlx::query_scalar("select attempts from outbox where kind = 'event' order by created_at")
        .fetch_all(&app.state.db)
        .await
        .expect("attempts");
    assert_eq!(attempts, [1; 6], "each event was sent once and marked sent");
    let text = serde_json::to_string(&events).expect("json");
    for secret in [PASSWORD, "An0ther-Passw0rd!", refresh.as_str(), access.as_str(), "jane@example.com"] {
        assert!(!text.contains(secret), "an event carries {secret:?}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rolled_back_change_publishes_nothing(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.register("jane@example.com", "jane").await;
    let user_id = app.user_id("jane@example.com").await;
    sweep(&app).await;
    let before = published(&app).len();

    let mut tx = db.begin().await.expect("begin");
    let entry = AuditEvent {
        event: "password_change",
        user_id: Some(user_id),
        ip: None,
        user_agent: None,
        success: true,
        details: json!({}),
    };
    let event = AuthEvent::new(EventType::PasswordChanged, user_id, json!({}), Utc::now());
    audit::record(&mut *tx, &entry, Some(&event)).await.expect("recorded");
    tx.rollback().await.expect("rollback");
    sweep(&app).await;

    assert_eq!(published(&app).len(), before);
    let waiting: i64 = sqlx::query_scalar("select count(*) from outbox where kind = 'event' and sent_at is null")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(waiting, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_registration_of_a_taken_address_announces_no_account(db: PgPool) {
    let app = TestApp::new(db);
    app.register("jane@example.com", "jane").await;
    app.register("jane@example.com", "jane_two").await;
    sweep(&app).await;

    let kinds: Vec<Value> = published(&app).iter().map(|event| event["detail-type"].clone()).collect();
    assert_eq!(kinds, [json!("user.registered")]);
}
