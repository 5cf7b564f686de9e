//! The `ws` handler fed real API Gateway WebSocket event JSON from `tests/fixtures/`, against a
//! real Postgres, with a recording publisher standing in for the Management API.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use serde_json::{Value, json};
use shared::AppState;
use sqlx::PgPool;
use test_support::RecordingPublisher as Recorder;
use test_support::{JWT_SECRET, fixture, mint_session, rate_limit_window, test_config};
use uuid::Uuid;

fn state(db: PgPool) -> AppState {
    let config = test_config(&[("JWT_SECRET", JWT_SECRET), ("BACKEND_CORS_ORIGINS", "http://localhost:3000")]);
    AppState::with_pool(config, db)
}

/// A user with a live session; returns an access token for it.
async fn signed_in(state: &AppState, username: &str) -> String {
    let email = format!("{username}@example.com");
    let user_id: Uuid =
        sqlx::query_scalar("insert into users (email, username, is_verified) values ($1, $2, true) returning id")
            .bind(&email)
            .bind(username)
            .fetch_one(&state.db)
            .await
            .expect("user");
    mint_session(state, user_id, &email).await.1
}

fn connect_event(connection_id: &str, token: Option<&str>, origin: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let mut event = fixture("ws-connect.json");
    event["requestContext"]["connectionId"] = json!(connection_id);
    match token {
        Some(token) => {
            event["queryStringParameters"]["token"] = json!(token);
            event["multiValueQueryStringParameters"]["token"] = json!([token]);
        }
        None => {
            event["queryStringParameters"] = json!({});
            event["multiValueQueryStringParameters"] = json!({});
        }
    }
    match origin {
        Some(origin) => event["headers"]["Origin"] = json!(origin),
        None => {
            event["headers"].as_object_mut().expect("headers").remove("Origin");
            event["multiValueHeaders"].as_object_mut().expect("headers").remove("Origin");
        }
    }
    serde_json::from_value(event).expect("a WebSocket event")
}

fn message_event(connection_id: &str, body: &Value) -> ApiGatewayWebsocketProxyRequest {
    let mut event = fixture("ws-message.json");
    event["requestContext"]["connectionId"] = json!(connection_id);
    event["body"] = json!(body.to_string());
    serde_json::from_value(event).expect("a WebSocket event")
}

async fn rows(db: &PgPool, connection_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from ws_connections where connection_id = $1")
        .bind(connection_id)
        .fetch_one(db)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn connecting_needs_a_valid_token_and_an_allowed_origin(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let token = signed_in(&state, "jane").await;

    let without = ws::handle(&state, &publisher, connect_event("c-1", None, None)).await;
    let forged = ws::handle(&state, &publisher, connect_event("c-2", Some("not.a.jwt"), None)).await;
    let elsewhere =
        ws::handle(&state, &publisher, connect_event("c-3", Some(&token), Some("https://evil.example"))).await;
    let valid = ws::handle(&state, &publisher, connect_event("c-4", Some(&token), Some("http://localhost:3000"))).await;

    assert_eq!((without.status_code, forged.status_code, elsewhere.status_code), (401, 401, 403));
    assert_eq!(valid.status_code, 200);
    assert_eq!((rows(&db, "c-1").await, rows(&db, "c-3").await, rows(&db, "c-4").await), (0, 0, 1));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_fixture_echoes_and_a_broadcast_reaches_everyone_in_the_room(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let (jane, john) = (signed_in(&state, "jane").await, signed_in(&state, "john").await);
    ws::handle(&state, &publisher, connect_event("c-jane", Some(&jane), None)).await;
    ws::handle(&state, &publisher, connect_event("c-john", Some(&john), None)).await;
    let mut echo: ApiGatewayWebsocketProxyRequest = serde_json::from_value(fixture("ws-message.json")).expect("event");
    echo.request_context.connection_id = Some("c-jane".into());

    let echoed = ws::handle(&state, &publisher, echo).await;
    let broadcast =
        ws::handle(&state, &publisher, message_event("c-jane", &json!({"type": "broadcast", "message": "hi all"})))
            .await;

    assert_eq!((echoed.status_code, broadcast.status_code), (200, 200));
    let to_jane = publisher.frames_to("c-jane");
    assert_eq!((to_jane[0]["type"].clone(), to_jane[0]["message"].clone()), (json!("echo"), json!("hello")));
    for receiver in ["c-jane", "c-john"] {
        let frames = publisher.frames_to(receiver);
        let received = frames.iter().find(|f| f["type"] == "broadcast").expect("broadcast received");
        assert_eq!(received["message"], "hi all");
        assert_eq!(received["sender"]["username"], "jane");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_gone_connection_is_removed_when_a_push_gets_410(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    publisher.mark_gone("c-gone");
    let (jane, john) = (signed_in(&state, "jane").await, signed_in(&state, "john").await);
    ws::handle(&state, &publisher, connect_event("c-jane", Some(&jane), None)).await;
    ws::handle(&state, &publisher, connect_event("c-gone", Some(&john), None)).await;

    // Still in its handshake window: a 410 then must not forget it.
    ws::handle(&state, &publisher, message_event("c-jane", &json!({"type": "broadcast", "message": "x"}))).await;
    assert_eq!(rows(&db, "c-gone").await, 1, "a connection seconds old is kept");
    sqlx::query("update ws_connections set connected_at = now() - interval '1 minute'")
        .execute(&db)
        .await
        .expect("age");
    ws::handle(&state, &publisher, message_event("c-jane", &json!({"type": "broadcast", "message": "x"}))).await;

    assert_eq!((rows(&db, "c-jane").await, rows(&db, "c-gone").await), (1, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_revoked_sessions_connection_is_closed_on_its_next_frame(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let jane = signed_in(&state, "jane").await;
    ws::handle(&state, &publisher, connect_event("c-jane", Some(&jane), None)).await;
    sqlx::query("update sessions set revoked_at = now()").execute(&db).await.expect("revoke");

    ws::handle(&state, &publisher, message_event("c-jane", &json!({"type": "echo", "message": "x"}))).await;

    assert_eq!(publisher.closed(), vec!["c-jane".to_owned()]);
    assert!(publisher.frames_to("c-jane").is_empty());
    assert_eq!(rows(&db, "c-jane").await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn disconnect_forgets_the_connection(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let jane = signed_in(&state, "jane").await;
    ws::handle(&state, &publisher, connect_event("Yw8aYdCRIAMCJSQ=", Some(&jane), None)).await;
    let event: ApiGatewayWebsocketProxyRequest = serde_json::from_value(fixture("ws-disconnect.json")).expect("event");

    let response = ws::handle(&state, &publisher, event).await;

    assert_eq!(response.status_code, 200);
    assert_eq!(rows(&db, "Yw8aYdCRIAMCJSQ=").await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_token_offered_as_the_subprotocol_connects_and_is_selected(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let token = signed_in(&state, "jane").await;
    let mut event = connect_event("c-proto", None, None);
    event.headers.insert("sec-websocket-protocol", format!("bearer, {token}").parse().expect("header"));
    let mut without_id = connect_event("", Some(&token), None);
    without_id.request_context.connection_id = None;

    let response = ws::handle(&state, &publisher, event).await;
    let no_id = ws::handle(&state, &publisher, without_id).await;

    assert_eq!(response.status_code, 200);
    assert_eq!(response.headers["sec-websocket-protocol"], token.as_str());
    assert_eq!(rows(&db, "c-proto").await, 1);
    assert_eq!(no_id.status_code, 400);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn rooms_per_connection_and_frames_per_minute_are_capped(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let jane = signed_in(&state, "jane").await;
    ws::handle(&state, &publisher, connect_event("c-jane", Some(&jane), None)).await;

    for room in 0..20 {
        ws::handle(&state, &publisher, message_event("c-jane", &json!({"type": "join", "room": format!("r{room}")})))
            .await;
    }
    for _ in 0..101 {
        ws::handle(&state, &publisher, message_event("c-jane", &json!({"type": "echo", "message": "x"}))).await;
    }

    let frames = publisher.frames_to("c-jane");
    let refused_join = frames.iter().find(|f| f["type"] == "error").expect("the 21st room is refused");
    assert!(refused_join["message"].as_str().expect("text").starts_with("Cannot join room r19"), "{refused_join}");
    assert_eq!(rows(&db, "c-jane").await, 20);
    let last = frames.last().expect("frames");
    assert_eq!(last["type"], "error");
    assert!(last["message"].as_str().expect("text").starts_with("Too many messages"), "{last}");
    assert_eq!(frames.iter().filter(|f| f["type"] == "echo").count(), 100);
}

/// Another live session of the user `username` (made by [`signed_in`]); returns its access token.
async fn another_session(state: &AppState, username: &str) -> String {
    let email = format!("{username}@example.com");
    let user_id: Uuid = sqlx::query_scalar("select id from users where username = $1")
        .bind(username)
        .fetch_one(&state.db)
        .await
        .expect("user");
    mint_session(state, user_id, &email).await.1
}

fn disconnect_event(connection_id: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event = fixture("ws-disconnect.json");
    event["requestContext"]["connectionId"] = json!(connection_id);
    serde_json::from_value(event).expect("a WebSocket event")
}

/// Asserts that a `$connect` answer refuses the connection because a cap is reached.
#[track_caller]
fn assert_too_many_connections(response: &ApiGatewayProxyResponse) {
    assert_eq!(response.status_code, 429, "{response:?}");
    let Some(Body::Text(body)) = &response.body else { panic!("a JSON body: {response:?}") };
    let body: Value = serde_json::from_str(body).expect("json");
    assert_eq!(body["code"], "too_many_connections", "{body}");
}

/// Distinct connections stored in total.
async fn connections(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(distinct connection_id) from ws_connections").fetch_one(db).await.expect("count")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_sixth_connect_of_one_session_gets_429_until_one_disconnects(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let jane = signed_in(&state, "jane").await;
    for n in 1..=5 {
        let response = ws::handle(&state, &publisher, connect_event(&format!("c-{n}"), Some(&jane), None)).await;
        assert_eq!(response.status_code, 200, "{response:?}");
    }

    let sixth = ws::handle(&state, &publisher, connect_event("c-6", Some(&jane), None)).await;
    ws::handle(&state, &publisher, disconnect_event("c-1")).await;
    let after_a_disconnect = ws::handle(&state, &publisher, connect_event("c-7", Some(&jane), None)).await;

    assert_too_many_connections(&sixth);
    assert_eq!(rows(&db, "c-6").await, 0);
    assert_eq!(after_a_disconnect.status_code, 200, "{after_a_disconnect:?}");
    assert_eq!(connections(&db).await, 5);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_eleventh_connect_of_one_user_gets_429_across_sessions(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let first = signed_in(&state, "jane").await;
    let (second, third) = (another_session(&state, "jane").await, another_session(&state, "jane").await);
    for n in 1..=5 {
        for (session, token) in [("a", &first), ("b", &second)] {
            let response =
                ws::handle(&state, &publisher, connect_event(&format!("{session}-{n}"), Some(token), None)).await;
            assert_eq!(response.status_code, 200, "{response:?}");
        }
    }

    let eleventh = ws::handle(&state, &publisher, connect_event("c-1", Some(&third), None)).await;
    let john = signed_in(&state, "john").await;
    let someone_else = ws::handle(&state, &publisher, connect_event("j-1", Some(&john), None)).await;

    assert_too_many_connections(&eleventh);
    assert_eq!(someone_else.status_code, 200, "another user has their own cap");
    assert_eq!(connections(&db).await, 11);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_connects_of_one_session_admit_exactly_five(db: PgPool) {
    let state = state(db.clone());
    let publisher = std::sync::Arc::new(Recorder::default());
    let jane = signed_in(&state, "jane").await;
    let mut connects = tokio::task::JoinSet::new();
    for n in 0..12 {
        let (state, publisher, event) =
            (state.clone(), publisher.clone(), connect_event(&format!("c-{n}"), Some(&jane), None));
        connects.spawn(async move { ws::handle(&state, publisher.as_ref(), event).await.status_code });
    }

    let statuses = connects.join_all().await;

    assert_eq!(statuses.iter().filter(|&&status| status == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&status| status == 429).count(), 7, "{statuses:?}");
    assert_eq!(connections(&db).await, 5);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_connections_of_one_session_share_one_frame_budget(db: PgPool) {
    let state = state(db.clone());
    let publisher = Recorder::default();
    let jane = signed_in(&state, "jane").await;
    ws::handle(&state, &publisher, connect_event("c-a", Some(&jane), None)).await;
    ws::handle(&state, &publisher, connect_event("c-b", Some(&jane), None)).await;
    rate_limit_window::leave_room_in_the_rate_limit_window();

    for _ in 0..120 {
        ws::handle(&state, &publisher, message_event("c-a", &json!({"type": "echo", "message": "x"}))).await;
    }
    let extra = ws::handle(&state, &publisher, message_event("c-b", &json!({"type": "echo", "message": "more"}))).await;

    assert_eq!(extra.status_code, 200);
    assert_eq!(publisher.frames_to("c-a").len(), 120);
    let to_b = publisher.frames_to("c-b");
    assert_eq!(to_b.len(), 1, "{to_b:?}");
    assert_eq!(to_b[0]["type"], "error", "a second socket buys no more frames: {to_b:?}");
    assert!(to_b[0]["message"].as_str().expect("text").starts_with("Too many messages"), "{to_b:?}");
}
