//! The template's `test_auth_oauth.py`: Google/Apple sign-in and the provider list. Where the
//! template patched its token verifier, the real verifier checks ID tokens signed with a local
//! key served as the provider's JWKS; "not configured" is a provider without a client id.

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::oidc::{self, Jwks};
use crate::support::*;

async fn google(db: PgPool) -> (TestApp, Jwks) {
    let jwks = oidc::serve().await;
    (oidc::app(db, &oidc::google_vars(&jwks)), jwks)
}

#[tokio::test]
async fn oauth_login_unsupported_provider() {
    let app = TestApp::offline(&[]);

    let response = oidc::login(&app, "unsupported", "test_token").await;

    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{response:?}");
    assert!(response.text.contains("Provider must be 'google' or 'apple'"), "{response:?}");
}

#[tokio::test]
async fn oauth_login_google_not_configured() {
    let app = TestApp::offline(&[]);

    let response = oidc::login(&app, "google", "test_token").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Google OAuth not configured"));
}

#[tokio::test]
async fn oauth_login_apple_not_configured() {
    let app = TestApp::offline(&[]);

    let response = oidc::login(&app, "apple", "test_token").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Apple OAuth not configured"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn oauth_login_google_success_new_user(db: PgPool) {
    let (app, jwks) = google(db).await;
    let token = oidc::google_token(&jwks, "google_user_id", "newuser@example.com", &[]);

    let response = oidc::login(&app, "google", &token).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body.get("access_token").is_some());
    assert_eq!(response.body["token_type"], "bearer");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn oauth_login_google_existing_user(db: PgPool) {
    let (app, jwks) = google(db).await;
    let token = oidc::google_token(&jwks, "google_user_id", "existing@example.com", &[]);
    // The existing Google account, created by its first sign-in.
    assert_eq!(oidc::login(&app, "google", &token).await.status, StatusCode::OK);

    let response = oidc::login(&app, "google", &token).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body.get("access_token").is_some());
    assert_eq!(response.body["token_type"], "bearer");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn oauth_login_email_already_registered(db: PgPool) {
    let jwks = oidc::serve().await;
    let vars: Vec<(&'static str, String)> =
        oidc::google_vars(&jwks).into_iter().chain(oidc::apple_vars(&jwks)).collect();
    let app = oidc::app(db, &vars);
    // The address belongs to an Apple account.
    let apple = oidc::apple_token(&jwks, "apple_user_id", "test@example.com");
    assert_eq!(oidc::login(&app, "apple", &apple).await.status, StatusCode::OK);
    let token = oidc::google_token(&jwks, "google_user_id", "test@example.com", &[]);

    let response = oidc::login(&app, "google", &token).await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(
        response.body["detail"].as_str().expect("detail").contains("Email already registered with different method"),
        "{response:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn oauth_login_invalid_token(db: PgPool) {
    let (app, jwks) = google(db).await;
    // The verifier rejects it: signed by a key Google never published.
    let token = oidc::forged_google_token(&jwks, "google_user_id", "test@example.com");

    let response = oidc::login(&app, "google", &token).await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Invalid Google token"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn oauth_login_missing_user_info(db: PgPool) {
    let (app, jwks) = google(db).await;
    // A genuine token whose user info has only `sub`.
    let token = oidc::google_token(
        &jwks,
        "google_user_id",
        "",
        &[("email", Value::Null), ("email_verified", Value::Null), ("name", Value::Null)],
    );

    let response = oidc::login(&app, "google", &token).await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Invalid OAuth user info"), "{response:?}");
}

#[tokio::test]
async fn get_oauth_providers_none_configured() {
    let app = TestApp::offline(&[]);

    let response = app.get("/api/v1/auth/oauth/providers").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["providers"], json!([]));
}

#[tokio::test]
async fn get_oauth_providers_google_configured() {
    let app = TestApp::offline(&[("GOOGLE_CLIENT_ID", oidc::GOOGLE_CLIENT_ID)]);

    let response = app.get("/api/v1/auth/oauth/providers").await;

    assert_eq!(response.status, StatusCode::OK);
    let providers = response.body["providers"].as_array().expect("a list");
    assert!(providers.contains(&json!("google")));
    assert!(!providers.contains(&json!("apple")));
}

#[tokio::test]
async fn get_oauth_providers_both_configured() {
    let app =
        TestApp::offline(&[("GOOGLE_CLIENT_ID", oidc::GOOGLE_CLIENT_ID), ("APPLE_CLIENT_ID", oidc::APPLE_CLIENT_ID)]);

    let response = app.get("/api/v1/auth/oauth/providers").await;

    assert_eq!(response.status, StatusCode::OK);
    let providers = response.body["providers"].as_array().expect("a list");
    assert!(providers.contains(&json!("google")));
    assert!(providers.contains(&json!("apple")));
}
