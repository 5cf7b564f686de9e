//! The WebSocket service against a real Postgres and a recording [`Publisher`]: handshakes,
//! every command's deliveries, gone receivers, and connections whose session ended.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use shared::ports::{PublishError, PublishFuture, Publisher};
use shared::repo::sessions::{self, Origin};
use shared::services::ws::{self, ConnectError, Rejection};
use shared::{AppState, Config};
use sqlx::PgPool;
use uuid::Uuid;

const ALLOWED_ORIGIN: &str = "http://localhost:3000";

/// Records every push; ids in `gone` answer like API Gateway's 410.
#[derive(Debug, Default)]
struct RecordingPublisher {
    sent: Mutex<Vec<(String, String)>>,
    closed: Mutex<Vec<String>>,
    gone: Mutex<HashSet<String>>,
}

impl RecordingPublisher {
    fn mark_gone(&self, connection_id: &str) {
        self.gone.lock().expect("lock").insert(connection_id.to_owned());
    }

    /// The frames pushed to `connection_id`, parsed, in order.
    fn frames_to(&self, connection_id: &str) -> Vec<Value> {
        let sent = self.sent.lock().expect("lock");
        sent.iter()
            .filter(|(to, _)| to == connection_id)
            .map(|(_, frame)| serde_json::from_str(frame).expect("frames are JSON"))
            .collect()
    }

    fn closed(&self) -> Vec<String> {
        self.closed.lock().expect("lock").clone()
    }
}

impl Publisher for RecordingPublisher {
    fn send<'a>(&'a self, connection_id: &'a str, frame: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            if self.gone.lock().expect("lock").contains(connection_id) {
                return Err(PublishError::Gone);
            }
            self.sent.lock().expect("lock").push((connection_id.to_owned(), frame.to_owned()));
            Ok(())
        })
    }

    fn close<'a>(&'a self, connection_id: &'a str) -> PublishFuture<'a> {
        Box::pin(async move {
            self.closed.lock().expect("lock").push(connection_id.to_owned());
            Ok(())
        })
    }
}

fn state(pool: PgPool) -> AppState {
    let vars = [
        ("DATABASE_URL", "postgres://test@127.0.0.1:1/unused"),
        ("JWT_SECRET", "ws-service-test-secret-0123456789abcdef"),
        ("BACKEND_CORS_ORIGINS", ALLOWED_ORIGIN),
    ];
    let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
        .expect("test config is valid");
    AppState::with_pool(config, pool)
}

/// A user with a live session; returns the user id, the session id and an access token for it.
async fn signed_in(state: &AppState, username: &str) -> (Uuid, Uuid, String) {
    let email = format!("{username}@example.com");
    let user_id: Uuid = sqlx::query_scalar("insert into users (email, username) values ($1, $2) returning id")
        .bind(&email)
        .bind(username)
        .fetch_one(&state.db)
        .await
        .expect("user");
    let now = Utc::now();
    let session_id =
        sessions::create(&state.db, user_id, now + Duration::days(1), &Origin::default()).await.expect("session");
    let keys = state.config.require_jwt().expect("keys");
    let (token, _) = keys.issue(user_id, &email, session_id, now).expect("token");
    (user_id, session_id, token)
}

/// Signs `username` in and opens connection `connection_id` for them.
async fn connected(state: &AppState, username: &str, connection_id: &str) -> (Uuid, Uuid) {
    let (user_id, session_id, token) = signed_in(state, username).await;
    ws::connect(state, connection_id, Some(&token), None).await.expect("connects");
    (user_id, session_id)
}

async fn rows_of(state: &AppState, connection_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from ws_connections where connection_id = $1")
        .bind(connection_id)
        .fetch_one(&state.db)
        .await
        .expect("count")
}

async fn revoke(state: &AppState, session_id: Uuid) {
    sqlx::query("update sessions set revoked_at = now() where id = $1")
        .bind(session_id)
        .execute(&state.db)
        .await
        .expect("revoke");
}

#[track_caller]
fn assert_rejected(result: Result<Uuid, ConnectError>, expected: Rejection) {
    match result {
        Err(ConnectError::Rejected(rejection)) => assert_eq!(rejection, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_handshake_without_a_valid_token_is_unauthorized(pool: PgPool) {
    let state = state(pool);
    let (user_id, session_id, token) = signed_in(&state, "jane").await;
    let expired_keys = state.config.require_jwt().expect("keys");
    let (expired, _) =
        expired_keys.issue(user_id, "jane@example.com", session_id, Utc::now() - Duration::days(1)).expect("token");

    assert_rejected(ws::connect(&state, "c1", None, None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some(""), None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some("not-a-jwt"), None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some(&format!("{token}x")), None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some(&expired), None).await, Rejection::Unauthorized);
    revoke(&state, session_id).await;
    assert_rejected(ws::connect(&state, "c1", Some(&token), None).await, Rejection::Unauthorized);
    assert_eq!(rows_of(&state, "c1").await, 0);
    assert_eq!(Rejection::Unauthorized.status(), 401);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_page_from_another_origin_is_forbidden_even_with_a_valid_token(pool: PgPool) {
    let state = state(pool);
    let (_, _, token) = signed_in(&state, "jane").await;

    let evil = ws::connect(&state, "c1", Some(&token), Some("https://evil.example")).await;
    let allowed = ws::connect(&state, "c2", Some(&token), Some(ALLOWED_ORIGIN)).await;

    assert_rejected(evil, Rejection::ForbiddenOrigin);
    assert_eq!(Rejection::ForbiddenOrigin.status(), 403);
    assert_eq!(rows_of(&state, "c1").await, 0);
    assert!(allowed.is_ok(), "{allowed:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_valid_token_stores_the_connection_in_the_default_room(pool: PgPool) {
    let state = state(pool);
    let (user_id, session_id, token) = signed_in(&state, "jane").await;

    let connected = ws::connect(&state, "c1", Some(&token), None).await.expect("connects");

    assert_eq!(connected, user_id);
    let row: (Uuid, Uuid, String) =
        sqlx::query_as("select user_id, session_id, room from ws_connections where connection_id = 'c1'")
            .fetch_one(&state.db)
            .await
            .expect("row");
    assert_eq!(row, (user_id, session_id, "default".to_owned()));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn echo_answers_only_the_sender(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;

    ws::on_frame(&state, &publisher, "a", r#"{"type":"echo","message":"hi"}"#).await.expect("frame");
    ws::on_frame(&state, &publisher, "a", "plain text").await.expect("frame");

    let frames = publisher.frames_to("a");
    assert_eq!((frames[0]["type"].clone(), frames[0]["message"].clone()), (json!("echo"), json!("hi")));
    assert_eq!(frames[1]["message"], "plain text");
    assert!(publisher.frames_to("b").is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_broadcast_reaches_every_connection_in_the_default_room_with_its_sender(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    let (jane, _) = connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;
    connected(&state, "joan", "c").await;

    ws::on_frame(&state, &publisher, "a", r#"{"type":"broadcast","message":"hello all"}"#).await.expect("frame");

    for receiver in ["a", "b", "c"] {
        let frames = publisher.frames_to(receiver);
        assert_eq!(frames.len(), 1, "{receiver}: {frames:?}");
        assert_eq!(frames[0]["type"], "broadcast");
        assert_eq!(frames[0]["message"], "hello all");
        assert_eq!(frames[0]["room"], "default");
        assert_eq!(frames[0]["sender"], json!({"user_id": jane.to_string(), "username": "jane"}));
        assert!(frames[0]["timestamp"].as_str().expect("timestamp").ends_with('Z'));
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_room_broadcast_reaches_only_the_rooms_members(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;
    connected(&state, "joan", "c").await;
    for member in ["b", "c"] {
        ws::on_frame(&state, &publisher, member, r#"{"type":"join","room":"lobby"}"#).await.expect("join");
    }

    ws::on_frame(&state, &publisher, "b", r#"{"type":"room_broadcast","room":"lobby","message":"psst"}"#)
        .await
        .expect("frame");

    assert!(publisher.frames_to("a").is_empty(), "{:?}", publisher.frames_to("a"));
    for member in ["b", "c"] {
        let frames = publisher.frames_to(member);
        assert_eq!(frames[0]["type"], "joined");
        assert_eq!(frames[0]["room"], "lobby");
        let broadcast = frames.last().expect("broadcast");
        assert_eq!(broadcast["type"], "room_broadcast");
        assert_eq!(broadcast["room"], "lobby");
        assert_eq!(broadcast["message"], "psst");
        assert_eq!(broadcast["sender"]["username"], "john");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_room_broadcast_from_a_non_member_is_an_error_frame(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;
    ws::on_frame(&state, &publisher, "b", r#"{"type":"join","room":"lobby"}"#).await.expect("join");

    ws::on_frame(&state, &publisher, "a", r#"{"type":"room_broadcast","room":"lobby","message":"sneaky"}"#)
        .await
        .expect("frame");

    let frames = publisher.frames_to("a");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["type"], "error");
    assert_eq!(publisher.frames_to("b").len(), 1, "only b's own join reply");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_gone_receiver_is_forgotten(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;
    ws::on_frame(&state, &publisher, "b", r#"{"type":"join","room":"lobby"}"#).await.expect("join");
    publisher.mark_gone("b");
    // past the handshake window, in which a "gone" answer is not trusted
    sqlx::query("update ws_connections set connected_at = now() - interval '1 minute'")
        .execute(&state.db)
        .await
        .expect("age");

    ws::on_frame(&state, &publisher, "a", r#"{"type":"broadcast","message":"anyone?"}"#).await.expect("frame");

    assert_eq!(rows_of(&state, "b").await, 0, "both of b's rooms are forgotten");
    assert_eq!(publisher.frames_to("a").len(), 1);
    assert_eq!(ws::status(&state).await.expect("status").total_connections, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn status_counts_connections_and_rooms(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;
    ws::on_frame(&state, &publisher, "a", r#"{"type":"join","room":"lobby"}"#).await.expect("join");

    ws::on_frame(&state, &publisher, "a", r#"{"type":"status","room":"lobby"}"#).await.expect("status");
    let overall = ws::status(&state).await.expect("status");

    let frame = publisher.frames_to("a").pop().expect("status frame");
    assert_eq!(frame["type"], "status");
    assert_eq!(frame["total_connections"], 2);
    assert_eq!(frame["room"], "lobby");
    assert_eq!(frame["room_connections"], 1);
    assert_eq!(frame["current_rooms"], json!(["default", "lobby"]));
    assert_eq!(overall.total_connections, 2);
    assert_eq!(overall.room_connections, vec![("default".to_owned(), 2), ("lobby".to_owned(), 1)]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_frame_from_a_revoked_session_closes_its_connection(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    let (_, revoked) = connected(&state, "jane", "a").await;
    connected(&state, "john", "b").await;
    revoke(&state, revoked).await;

    ws::on_frame(&state, &publisher, "b", r#"{"type":"broadcast","message":"still there?"}"#).await.expect("frame");
    ws::on_frame(&state, &publisher, "a", r#"{"type":"broadcast","message":"let me in"}"#).await.expect("frame");

    assert!(publisher.frames_to("a").is_empty(), "a receives nothing: {:?}", publisher.frames_to("a"));
    assert_eq!(publisher.frames_to("b").len(), 1, "b only sees its own broadcast");
    assert_eq!(publisher.closed(), vec!["a".to_owned()]);
    assert_eq!(rows_of(&state, "a").await, 0);
    assert_eq!(ws::status(&state).await.expect("status").total_connections, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn close_dead_closes_the_connections_of_ended_sessions(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    let (_, revoked) = connected(&state, "jane", "a").await;
    ws::on_frame(&state, &publisher, "a", r#"{"type":"join","room":"lobby"}"#).await.expect("join");
    let (john, _) = connected(&state, "john", "b").await;
    connected(&state, "joan", "c").await;
    revoke(&state, revoked).await;
    sqlx::query("update users set is_active = false where id = $1").bind(john).execute(&state.db).await.expect("off");

    let closed = ws::close_dead(&state, &publisher).await.expect("close_dead");

    assert_eq!(closed, 2);
    let mut closed = publisher.closed();
    closed.sort();
    assert_eq!(closed, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!((rows_of(&state, "a").await, rows_of(&state, "b").await, rows_of(&state, "c").await), (0, 0, 1));
    assert_eq!(ws::close_dead(&state, &publisher).await.expect("again"), 0);
}
