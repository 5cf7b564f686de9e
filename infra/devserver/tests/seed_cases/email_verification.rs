//! The template's `test_auth_email_verification.py`: verification on registration, resending
//! the link, and verifying with it. The template forced its mailer to count as configured; mail
//! here is always configured (written to files), and the link's token is read from the mail.

use http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::*;

const PASSWORD: &str = "TestPassword123!";
const GENERIC_RESEND: &str =
    "If an account with that email exists and is not yet verified, a verification email has been sent.";

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_with_email_verification(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.register("test@example.com", "testuser", PASSWORD).await;

    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.body["email"], "test@example.com");
    assert_eq!(response.body["username"], "testuser");
    assert_eq!(response.body["is_verified"], false);
    assert_eq!(app.mails_to("test@example.com").len(), 1, "the verification mail");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_user_email_not_configured(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Mail that cannot go out stands in for the template's unconfigured mailer.
    let app = TestApp::with_failing_mail(db);

    let response = app.register("test@example.com", "testuser", PASSWORD).await;

    assert_eq!(response.status, StatusCode::CREATED, "{response:?}");
    assert_eq!(response.body["is_verified"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_unverified_user(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register("unverified@example.com", "unverifieduser", PASSWORD).await.status, StatusCode::CREATED);

    let response = app.login("unverified@example.com", PASSWORD).await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{response:?}");
    assert!(response.body["detail"].as_str().expect("detail").contains("Please verify your email before logging in"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_verified_user(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user("verified@example.com", "verifieduser", PASSWORD).await;

    let response = app.login("verified@example.com", PASSWORD).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert!(response.body.get("access_token").is_some());
    assert_eq!(response.body["token_type"], "bearer");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn resend_verification_email_success(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register("test@example.com", "testuser", PASSWORD).await.status, StatusCode::CREATED);

    let response = app.post_json("/api/v1/auth/resend-verification", &json!({"email": "test@example.com"})).await;

    // Differs from the seed: README row "POST /auth/resend-verification" (every
    // address gets the same generic answer, so a sent link reads like an unknown address)
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC_RESEND);
    assert_eq!(response.body["email_sent"], true);
    assert_eq!(app.mails_to("test@example.com").len(), 2, "a new link was sent");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn resend_verification_email_user_not_found(db: PgPool) {
    let app = TestApp::new(db);

    let response =
        app.post_json("/api/v1/auth/resend-verification", &json!({"email": "nonexistent@example.com"})).await;

    // Differs from the seed: README row "POST /auth/resend-verification"
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC_RESEND);
    assert_eq!(response.body["email_sent"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn resend_verification_email_already_verified(db: PgPool) {
    let app = TestApp::new(db);
    app.verified_user("verified@example.com", "verifieduser", PASSWORD).await;

    let response = app.post_json("/api/v1/auth/resend-verification", &json!({"email": "verified@example.com"})).await;

    // Differs from the seed: README row "POST /auth/resend-verification" (a
    // verified address gets the same generic answer, and no mail)
    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC_RESEND);
    assert_eq!(response.body["email_sent"], true);
    assert_eq!(app.mails_to("verified@example.com").len(), 1, "only the first link");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn resend_verification_email_not_configured(db: PgPool) {
    // Differs from the seed: README row "resend, forgot, reset, request and confirm deletion, when mail is not configured or a send fails"
    // Mail that cannot go out stands in for the template's unconfigured mailer: the link is
    // queued for retries, and the answer is the generic one.
    let app = TestApp::with_failing_mail(db);
    assert_eq!(app.register("test@example.com", "testuser", PASSWORD).await.status, StatusCode::CREATED);

    let response = app.post_json("/api/v1/auth/resend-verification", &json!({"email": "test@example.com"})).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], GENERIC_RESEND);
    assert_eq!(response.body["email_sent"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn verify_email_success(db: PgPool) {
    let app = TestApp::new(db);
    assert_eq!(app.register("test@example.com", "testuser", PASSWORD).await.status, StatusCode::CREATED);
    let token = app.last_mailed_token("test@example.com");

    let response = app.post_json("/api/v1/auth/verify-email", &json!({"token": token})).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Email verified successfully");
    assert_eq!(response.body["verified"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn verify_email_invalid_token(db: PgPool) {
    let app = TestApp::new(db);

    let response = app.post_json("/api/v1/auth/verify-email", &json!({"token": "invalid_token"})).await;

    assert_eq!(response.status, StatusCode::OK, "{response:?}");
    assert_eq!(response.body["message"], "Invalid or expired verification token");
    assert_eq!(response.body["verified"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn full_email_verification_flow(db: PgPool) {
    let app = TestApp::new(db);
    let registered = app.register("flow@example.com", "flowuser", PASSWORD).await;
    assert_eq!(registered.status, StatusCode::CREATED);
    assert_eq!(registered.body["is_verified"], false);

    let too_early = app.login("flow@example.com", PASSWORD).await;
    assert_eq!(too_early.status, StatusCode::UNAUTHORIZED);
    assert!(too_early.body["detail"].as_str().expect("detail").contains("Please verify your email before logging in"));

    let token = app.last_mailed_token("flow@example.com");
    let verified = app.post_json("/api/v1/auth/verify-email", &json!({"token": token})).await;
    assert_eq!(verified.status, StatusCode::OK);
    assert_eq!(verified.body["verified"], true);

    let login = app.login("flow@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert!(login.body.get("access_token").is_some());
}
