//! Refresh rotation with reuse detection, logout, and session management.

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

/// Logs in and returns (access token, refresh token from the cookie).
async fn login_pair(app: &TestApp) -> (String, String) {
    let response = app.login("jane@example.com", PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    let access = response.body["access_token"].as_str().expect("token").to_owned();
    (access, refresh_cookie_of(&response).expect("cookie"))
}

fn refresh_cookie_of(response: &TestResponse) -> Option<String> {
    let cookie = response.headers.get(header::SET_COOKIE)?.to_str().ok()?;
    let value = cookie.strip_prefix("refresh_token=")?.split(';').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}

fn with_cookie(method: &str, path: &str, refresh: Option<&str>, access: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(refresh) = refresh {
        builder = builder.header(header::COOKIE, format!("refresh_token={refresh}"));
    }
    if let Some(access) = access {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {access}"));
    }
    builder.body(Body::empty()).expect("request")
}

async fn refresh(app: &TestApp, token: &str) -> TestResponse {
    app.send(with_cookie("POST", "/api/v1/auth/refresh", Some(token), None)).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_refresh_rotates_the_cookie(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let (_, first) = login_pair(&app).await;

    let one = refresh(&app, &first).await;
    let second = refresh_cookie_of(&one).expect("a new cookie");
    let two = refresh(&app, &second).await;
    let third = refresh_cookie_of(&two).expect("a new cookie");

    assert_eq!((one.status, two.status), (StatusCode::OK, StatusCode::OK));
    assert!(first != second && second != third);
    assert_eq!(one.body["token_type"], "bearer");
    assert_eq!(app.get_me(one.body["access_token"].as_str().expect("token")).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_lost_refresh_answer_is_sent_again_to_a_replay_inside_the_grace_window(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    let (_, first) = login_pair(&app).await;
    // The answer to this refresh never reaches the client (a dropped connection, a closed tab).
    let lost = refresh(&app, &first).await;
    assert_eq!(lost.status, StatusCode::OK);

    let replay = refresh(&app, &first).await;

    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(app.get_me(replay.body["access_token"].as_str().expect("token")).await.status, StatusCode::OK);
    let resent = refresh_cookie_of(&replay).expect("the replay gets the successor cookie the lost answer carried");
    assert_eq!(Some(&resent), refresh_cookie_of(&lost).as_ref(), "the same successor, not a second one");
    sqlx::query("update refresh_tokens set rotated_at = now() - interval '1 minute' where rotated_at is not null")
        .execute(&db)
        .await
        .expect("the grace window passes");
    let next = refresh(&app, &resent).await;
    assert_eq!(next.status, StatusCode::OK, "the session survives: {:?}", next.body);
    assert!(refresh_cookie_of(&next).is_some());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_replay_inside_the_grace_window_gets_no_cookie_once_the_successor_was_used(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let (_, first) = login_pair(&app).await;
    let second = refresh_cookie_of(&refresh(&app, &first).await).expect("cookie");
    assert_eq!(refresh(&app, &second).await.status, StatusCode::OK);

    let replay = refresh(&app, &first).await;

    assert_eq!(replay.status, StatusCode::OK);
    assert!(replay.headers.get(header::SET_COOKIE).is_none(), "a used successor is never handed out again");
    assert_eq!(app.get_me(replay.body["access_token"].as_str().expect("token")).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_replay_after_the_grace_window_revokes_the_whole_session(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    let (access, first) = login_pair(&app).await;
    let rotated = refresh(&app, &first).await;
    let second = refresh_cookie_of(&rotated).expect("cookie");
    sqlx::query("update refresh_tokens set rotated_at = now() - interval '1 minute' where rotated_at is not null")
        .execute(&db)
        .await
        .expect("age the rotation");

    let replay = refresh(&app, &first).await;

    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.body, json!({"detail": "Invalid refresh token", "code": "invalid_refresh_token"}));
    assert_eq!(replay.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(refresh(&app, &second).await.status, StatusCode::UNAUTHORIZED, "the successor dies with the session");
    assert_eq!(app.get_me(&access).await.status, StatusCode::UNAUTHORIZED, "and so do its access tokens");
    let audited: i64 = sqlx::query_scalar("select count(*) from audit_log where event = 'refresh_token_reuse'")
        .fetch_one(&db)
        .await
        .expect("audit");
    assert_eq!(audited, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn refresh_without_or_with_a_bad_cookie_is_a_401(db: PgPool) {
    let app = TestApp::new(db);

    let missing = app.send(with_cookie("POST", "/api/v1/auth/refresh", None, None)).await;
    let garbage = refresh(&app, "garbage").await;
    let unknown = refresh(&app, &"A".repeat(43)).await;

    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body["detail"], "No refresh token provided");
    assert_eq!(garbage.body["detail"], "Invalid refresh token");
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn logout_revokes_the_session_and_clears_the_cookie(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let (access, cookie) = login_pair(&app).await;

    let out = app.send(with_cookie("POST", "/api/v1/auth/logout", Some(&cookie), None)).await;
    let anonymous = app.send(with_cookie("POST", "/api/v1/auth/logout", None, None)).await;

    assert_eq!((out.status, anonymous.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(out.body, json!({"message": "Successfully logged out"}));
    assert_eq!(anonymous.body, out.body);
    let cleared = out.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cleared.starts_with("refresh_token=;")
            && cleared.contains("Max-Age=0")
            && cleared.contains("Path=/api/v1/auth")
    );
    assert_eq!(refresh(&app, &cookie).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_me(&access).await.status, StatusCode::UNAUTHORIZED, "logout is immediate");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_session_list_shows_live_sessions_newest_first_with_the_current_one(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let (_, older) = login_pair(&app).await;
    let (access, _) = login_pair(&app).await;

    let by_cookie = app.send(with_cookie("GET", "/api/v1/auth/sessions", Some(&older), Some(&access))).await;
    let by_token = app.send(with_cookie("GET", "/api/v1/auth/sessions", None, Some(&access))).await;

    let list = by_cookie.body["sessions"].as_array().expect("list");
    assert_eq!(list.len(), 3, "signed_in_user logged in once too");
    assert_eq!(by_cookie.body["total_sessions"], 3);
    assert!(list[0]["created_at"].as_str() >= list[1]["created_at"].as_str());
    let current: Vec<usize> =
        list.iter().enumerate().filter(|(_, s)| s["is_current"] == true).map(|(i, _)| i).collect();
    assert_eq!(current, vec![1], "the refresh cookie's session is current");
    let by_token = by_token.body["sessions"].as_array().expect("list").clone();
    assert_eq!(by_token[0]["is_current"], true, "without a cookie, the access token's session");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_can_revoke_only_their_own_sessions(db: PgPool) {
    let app = TestApp::new(db);
    let jane = app.signed_in_user("jane@example.com", "jane").await;
    let joe = app.signed_in_user("joe@example.com", "joe").await;
    let joes_sessions = app.send(with_cookie("GET", "/api/v1/auth/sessions", None, Some(&joe))).await;
    let joes_session = joes_sessions.body["sessions"][0]["id"].as_str().expect("id").to_owned();

    let foreign =
        app.send(with_cookie("DELETE", &format!("/api/v1/auth/sessions/{joes_session}"), None, Some(&jane))).await;
    let malformed = app.send(with_cookie("DELETE", "/api/v1/auth/sessions/not-a-uuid", None, Some(&jane))).await;
    let own = app.send(with_cookie("DELETE", &format!("/api/v1/auth/sessions/{joes_session}"), None, Some(&joe))).await;

    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["detail"], "Invalid session ID format");
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body, json!({"message": "Session revoked successfully"}));
    assert_eq!(app.get_me(&joe).await.status, StatusCode::UNAUTHORIZED, "joe revoked his own current session");
    assert_eq!(app.get_me(&jane).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn revoking_all_sessions_keeps_the_current_one(db: PgPool) {
    let app = TestApp::new(db);
    let first = app.signed_in_user("jane@example.com", "jane").await;
    let (_, _) = login_pair(&app).await;
    let (current, _) = login_pair(&app).await;

    let response = app.send(with_cookie("DELETE", "/api/v1/auth/sessions", None, Some(&current))).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({"message": "Successfully revoked 2 sessions", "revoked_count": 2}));
    assert_eq!(app.get_me(&current).await.status, StatusCode::OK);
    assert_eq!(app.get_me(&first).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_refresh_lookup_uses_primary_keys_only(db: PgPool) {
    // Thousands of other users' sessions and tokens must not change how a refresh is found.
    sqlx::query(
        "with u as (insert into users (email, username)
                    select 'user' || g || '@example.com', 'user' || g from generate_series(1, 2000) g returning id),
              s as (insert into sessions (user_id, expires_at) select id, now() + interval '1 day' from u returning id)
         insert into refresh_tokens (token_hash, session_id) select sha256(id::text::bytea), id from s",
    )
    .execute(&db)
    .await
    .expect("seed");
    sqlx::query("analyze").execute(&db).await.expect("analyze");

    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "explain (format json) {}",
        shared::repo::sessions::FIND_REFRESH_TOKEN_SQL.replace("$1", "'\\x00'::bytea")
    )))
    .fetch_one(&db)
    .await
    .expect("plan");

    let text = plan.to_string();
    assert!(!text.contains("Seq Scan"), "refresh must not scan: {text}");
    assert!(text.contains("refresh_tokens_pkey"), "{text}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_logins_still_respect_the_session_limit(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    for _ in 0..3 {
        login_pair(&app).await;
    }

    let (a, b, c) = tokio::join!(login_pair(&app), login_pair(&app), login_pair(&app));
    drop((a, b, c));

    let live: i64 =
        sqlx::query_scalar("select count(*) from sessions where revoked_at is null").fetch_one(&db).await.expect("n");
    assert_eq!(live, 5);
}
