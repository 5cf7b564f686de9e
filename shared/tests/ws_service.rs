//! The WebSocket service against a real Postgres and a recording publisher: handshakes,
//! every command's deliveries, gone receivers, and connections whose session ended.

use chrono::{Duration, Utc};
use serde_json::json;
use shared::AppState;
use shared::domain::assurance::{Assurance, PASSWORD};
use shared::services::ws::{self, ConnectError, Rejection};
use sqlx::PgPool;
use test_support::{JWT_SECRET, RecordingPublisher, mint_session, rate_limit_window, test_config};
use uuid::Uuid;

const ALLOWED_ORIGIN: &str = "http://localhost:3000";

fn state(pool: PgPool) -> AppState {
    let config = test_config(&[("JWT_SECRET", JWT_SECRET), ("BACKEND_CORS_ORIGINS", ALLOWED_ORIGIN)]);
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
    let (session_id, token) = mint_session(state, user_id, &email).await;
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
    let (expired, _) = expired_keys
        .issue(
            user_id,
            "jane@example.com",
            session_id,
            &Assurance::first_factor(PASSWORD),
            Utc::now() - Duration::days(1),
        )
        .expect("token");

    assert_rejected(ws::connect(&state, "c1", None, None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some(""), None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some("not-a-jwt"), None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some(&format!("{token}x")), None).await, Rejection::Unauthorized);
    assert_rejected(ws::connect(&state, "c1", Some(&expired), None).await, Rejection::Unauthorized);
    revoke(&state, session_id).await;
    assert_rejected(ws::connect(&state, "c1", Some(&token), None).await, Rejection::Unauthorized);
    assert_eq!(rows_of(&state, "c1").await, 0);
    assert_eq!(Rejection::Unauthorized.code().status(), 401);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_page_from_another_origin_is_forbidden_even_with_a_valid_token(pool: PgPool) {
    let state = state(pool);
    let (_, _, token) = signed_in(&state, "jane").await;

    let evil = ws::connect(&state, "c1", Some(&token), Some("https://evil.example")).await;
    let allowed = ws::connect(&state, "c2", Some(&token), Some(ALLOWED_ORIGIN)).await;

    assert_rejected(evil, Rejection::ForbiddenOrigin);
    assert_eq!(Rejection::ForbiddenOrigin.code().status(), 403);
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

/// Another live session of `user_id`; returns its id and an access token for it.
async fn another_session(state: &AppState, user_id: Uuid, username: &str) -> (Uuid, String) {
    mint_session(state, user_id, &format!("{username}@example.com")).await
}

/// Connections in the table, counted once each whatever their rooms.
async fn connections_of_session(state: &AppState, session_id: Uuid) -> i64 {
    sqlx::query_scalar("select count(distinct connection_id) from ws_connections where session_id = $1")
        .bind(session_id)
        .fetch_one(&state.db)
        .await
        .expect("count")
}

/// A handshake refused with 429 because a connection cap is reached.
#[track_caller]
fn assert_too_many(result: &Result<Uuid, ConnectError>) {
    match result {
        Err(ConnectError::Rejected(rejection)) => assert_eq!(rejection.code().status(), 429, "{rejection:?}"),
        other => panic!("expected a 429 rejection, got {other:?}"),
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_session_holds_at_most_five_connections_and_closed_or_expired_ones_do_not_count(pool: PgPool) {
    let state = state(pool);
    let (_, session_id, token) = signed_in(&state, "jane").await;
    for connection_id in ["c1", "c2", "c3", "c4", "c5"] {
        ws::connect(&state, connection_id, Some(&token), None).await.expect("within the cap");
    }

    let sixth = ws::connect(&state, "c6", Some(&token), None).await;
    assert_too_many(&sixth);
    assert_eq!(rows_of(&state, "c6").await, 0, "a refused handshake stores nothing");

    ws::disconnect(&state, "c1").await.expect("disconnect");
    ws::connect(&state, "c6", Some(&token), None).await.expect("a closed connection frees its place");
    // API Gateway ends every connection after 2 hours; a row older than that lost its $disconnect.
    sqlx::query(
        "update ws_connections set connected_at = now() - interval '2 hours 1 minute' where connection_id = 'c2'",
    )
    .execute(&state.db)
    .await
    .expect("age");
    ws::connect(&state, "c7", Some(&token), None).await.expect("an expired connection frees its place");
    assert_too_many(&ws::connect(&state, "c8", Some(&token), None).await);
    assert_eq!(connections_of_session(&state, session_id).await, 6, "c2's stale row is still there");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_holds_at_most_ten_connections_across_sessions(pool: PgPool) {
    let state = state(pool);
    let (user_id, first, first_token) = signed_in(&state, "jane").await;
    let (_, second_token) = another_session(&state, user_id, "jane").await;
    let (_, third_token) = another_session(&state, user_id, "jane").await;
    for n in 0..5 {
        ws::connect(&state, &format!("a{n}"), Some(&first_token), None).await.expect("first session");
        ws::connect(&state, &format!("b{n}"), Some(&second_token), None).await.expect("second session");
    }

    let eleventh = ws::connect(&state, "c0", Some(&third_token), None).await;
    let (_, _, john) = signed_in(&state, "john").await;
    let someone_else = ws::connect(&state, "j0", Some(&john), None).await;

    assert_too_many(&eleventh);
    assert!(someone_else.is_ok(), "another user has their own cap: {someone_else:?}");
    revoke(&state, first).await;
    ws::connect(&state, "c0", Some(&third_token), None).await.expect("a revoked session's connections do not count");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_handshakes_of_one_session_end_with_exactly_the_cap_connected(pool: PgPool) {
    let state = state(pool);
    let (_, session_id, token) = signed_in(&state, "jane").await;
    let ids: Vec<String> = (0..12).map(|n| format!("c{n}")).collect();

    let results =
        futures_util::future::join_all(ids.iter().map(|id| ws::connect(&state, id, Some(&token), None))).await;

    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 5, "{results:?}");
    for refused in results.iter().filter(|result| result.is_err()) {
        assert_too_many(refused);
    }
    assert_eq!(connections_of_session(&state, session_id).await, 5);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_handshakes_of_one_user_end_with_exactly_the_user_cap_connected(pool: PgPool) {
    let state = state(pool);
    let (user_id, first, first_token) = signed_in(&state, "jane").await;
    let (second, second_token) = another_session(&state, user_id, "jane").await;
    let (third, third_token) = another_session(&state, user_id, "jane").await;
    let attempts: Vec<(String, &str)> = (0..5)
        .flat_map(|n| {
            [(format!("a{n}"), first_token.as_str()), (format!("b{n}"), &second_token), (format!("c{n}"), &third_token)]
        })
        .collect();

    let results =
        futures_util::future::join_all(attempts.iter().map(|(id, token)| ws::connect(&state, id, Some(token), None)))
            .await;

    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 10, "{results:?}");
    let mut per_session = Vec::new();
    for session_id in [first, second, third] {
        per_session.push(connections_of_session(&state, session_id).await);
    }
    assert_eq!(per_session.iter().sum::<i64>(), 10, "{per_session:?}");
    assert!(per_session.iter().all(|&n| n <= 5), "{per_session:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn connections_of_one_session_share_one_frame_budget(pool: PgPool) {
    let state = state(pool);
    let publisher = RecordingPublisher::default();
    let (user_id, _, token) = signed_in(&state, "jane").await;
    let (_, other_session) = another_session(&state, user_id, "jane").await;
    for connection_id in ["a", "b"] {
        ws::connect(&state, connection_id, Some(&token), None).await.expect("connects");
    }
    ws::connect(&state, "c", Some(&other_session), None).await.expect("connects");
    rate_limit_window::leave_room_in_the_rate_limit_window();

    for _ in 0..120 {
        ws::on_frame(&state, &publisher, "a", r#"{"type":"echo","message":"x"}"#).await.expect("frame");
    }
    ws::on_frame(&state, &publisher, "b", r#"{"type":"echo","message":"more"}"#).await.expect("frame");
    ws::on_frame(&state, &publisher, "c", r#"{"type":"echo","message":"mine"}"#).await.expect("frame");

    assert_eq!(publisher.frames_to("a").iter().filter(|f| f["type"] == "echo").count(), 120);
    let to_b = publisher.frames_to("b");
    assert_eq!(to_b.len(), 1, "{to_b:?}");
    assert_eq!(to_b[0]["type"], "error", "a second socket of the session buys no more frames: {to_b:?}");
    assert!(to_b[0]["message"].as_str().expect("text").starts_with("Too many messages"), "{to_b:?}");
    assert_eq!(publisher.frames_to("c")[0]["message"], "mine", "another session has its own budget");
}
