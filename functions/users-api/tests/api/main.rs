//! The users API against a real Postgres: the caller's own account (`/users/me`), the superuser
//! API (`admin`) and the data export (`export`). Callers sign in through the auth routes, served
//! beside the users routes as the auth tests serve them.

mod admin;
mod export;
mod helpers;

use axum::body::Body;
use helpers::*;
use http::{Request, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn users_me_returns_the_caller_and_needs_a_token(db: PgPool) {
    let app = TestApp::new(db);
    let token = app.signed_in_user("jane@example.com", "jane").await;

    let me = app.get_me(&token).await;
    let anonymous = app.send(Request::get("/api/v1/users/me").body(Body::empty()).expect("request")).await;
    let garbage = app.get_me("not-a-jwt").await;

    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "jane@example.com");
    assert_eq!(me.body["is_verified"], true);
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.body["detail"], "Not authenticated");
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(garbage.body["detail"], "Could not validate credentials");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn patch_me_changes_the_username_under_the_same_rules(db: PgPool) {
    let app = TestApp::new(db);
    let token = app.signed_in_user("jane@example.com", "jane").await;
    app.signed_in_user("joe@example.com", "joe").await;
    let patch = |username: &str| {
        Request::patch("/api/v1/users/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"username": username}).to_string()))
            .expect("request")
    };

    let renamed = app.send(patch("jane_renamed")).await;
    let taken = app.send(patch("joe")).await;
    let reserved = app.send(patch("root")).await;

    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["username"], "jane_renamed");
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert_eq!(reserved.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reserved.body["detail"][0]["msg"], "Username is reserved and cannot be used");
}
