//! Forgot / reset password and change password.

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const NEW_PASSWORD: &str = "Brand-New-Passw0rd!";

fn change_request(access: &str, body: &Value) -> Request<Body> {
    Request::post("/api/v1/auth/change-password")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_password_answers_the_same_for_everyone_and_mails_only_real_accounts(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;

    let known = app.post_json("/api/v1/auth/forgot-password", &json!({"email": "JANE@example.com"})).await;
    let unknown = app.post_json("/api/v1/auth/forgot-password", &json!({"email": "nobody@example.com"})).await;
    let malformed = app.post_json("/api/v1/auth/forgot-password", &json!({"email": "nope"})).await;

    assert_eq!((known.status, unknown.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(known.body, unknown.body);
    assert_eq!(
        known.body,
        json!({"message": "If an account with that email exists, a password reset link has been sent.", "email_sent": true})
    );
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mails = app.mails_to("jane@example.com");
    assert!(mails.last().expect("reset mail").contains("Subject: Reset your password"));
    assert!(mails.last().expect("reset mail").contains("http://localhost:3000/reset-password?token="));
    assert!(app.mails_to("nobody@example.com").is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_reset_sets_the_password_once_and_ends_every_session(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user("jane@example.com", "jane").await;
    app.post_json("/api/v1/auth/forgot-password", &json!({"email": "jane@example.com"})).await;
    let token = app.last_mailed_token("jane@example.com");

    let weak = app.post_json("/api/v1/auth/reset-password", &json!({"token": token, "new_password": "weak"})).await;
    let reset =
        app.post_json("/api/v1/auth/reset-password", &json!({"token": token, "new_password": NEW_PASSWORD})).await;
    let again =
        app.post_json("/api/v1/auth/reset-password", &json!({"token": token, "new_password": NEW_PASSWORD})).await;

    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY, "a rejected password does not burn the link");
    assert_eq!(weak.body["detail"][0]["loc"], json!(["body", "new_password"]));
    assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
    assert_eq!(
        reset.body,
        json!({"message": "Password reset successfully. You can now log in with your new password.", "password_reset": true})
    );
    // The seed answers a spent token with 200 and `password_reset: false`.
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body,
        json!({"message": "Invalid or expired password reset token. Please request a new one.", "password_reset": false})
    );
    assert_eq!(app.get_me(&access).await.status, StatusCode::UNAUTHORIZED, "old sessions end at once");
    assert_eq!(app.login("jane@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("jane@example.com", NEW_PASSWORD).await.status, StatusCode::OK);
    assert!(app.mails_to("jane@example.com").last().expect("notice").contains("Subject: Your password was changed"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reset_tokens_expire_and_do_not_work_for_other_purposes(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.register("jane@example.com", "jane").await;
    let verify_token = app.last_mailed_token("jane@example.com");
    app.post_json("/api/v1/auth/forgot-password", &json!({"email": "jane@example.com"})).await;
    let reset_token = app.last_mailed_token("jane@example.com");
    sqlx::query("update one_time_tokens set expires_at = now() - interval '1 second' where purpose = 'reset_password'")
        .execute(&db)
        .await
        .expect("expire");

    let expired = app
        .post_json("/api/v1/auth/reset-password", &json!({"token": reset_token, "new_password": NEW_PASSWORD}))
        .await;
    let wrong_purpose = app
        .post_json("/api/v1/auth/reset-password", &json!({"token": verify_token, "new_password": NEW_PASSWORD}))
        .await;

    assert_eq!((expired.status, &expired.body["password_reset"]), (StatusCode::OK, &json!(false)));
    assert_eq!((wrong_purpose.status, &wrong_purpose.body["password_reset"]), (StatusCode::OK, &json!(false)));
    assert_eq!(app.login("jane@example.com", NEW_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_change_keeps_the_current_session_and_ends_the_others(db: PgPool) {
    let app = TestApp::new(db);
    let other = app.signed_in_user("jane@example.com", "jane").await;
    let current = app.login("jane@example.com", PASSWORD).await.body["access_token"].as_str().expect("t").to_owned();

    let wrong = app
        .send(change_request(&current, &json!({"current_password": "Not-The-Passw0rd!", "new_password": NEW_PASSWORD})))
        .await;
    let weak =
        app.send(change_request(&current, &json!({"current_password": PASSWORD, "new_password": "password"}))).await;
    let changed =
        app.send(change_request(&current, &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))).await;

    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.body["detail"], "Incorrect current password");
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.body["detail"], "Password updated successfully");
    assert_eq!(app.get_me(&current).await.status, StatusCode::OK, "the current session keeps working");
    assert_eq!(app.get_me(&other).await.status, StatusCode::UNAUTHORIZED, "other sessions end");
    assert_eq!(app.login("jane@example.com", NEW_PASSWORD).await.status, StatusCode::OK);
    assert!(app.mails_to("jane@example.com").last().expect("notice").contains("Subject: Your password was changed"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_password_needs_a_token(db: PgPool) {
    let app = TestApp::new(db);
    let request = Request::post("/api/v1/auth/change-password")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}).to_string()))
        .expect("request");

    assert_eq!(app.send(request).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn guessing_the_current_password_hits_the_login_backoff(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user("jane@example.com", "jane").await;
    let guess = json!({"current_password": "Wrong-Passw0rd!", "new_password": NEW_PASSWORD});

    for _ in 0..5 {
        assert_eq!(app.send(change_request(&access, &guess)).await.status, StatusCode::BAD_REQUEST);
    }
    let blocked =
        app.send(change_request(&access, &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))).await;

    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(blocked.body["code"], "login_backoff");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_change_voids_outstanding_reset_and_deletion_links(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user("jane@example.com", "jane").await;
    let links = app.mailed_account_links("jane@example.com").await;

    let changed =
        app.send(change_request(&access, &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    // Links mailed before the change (perhaps to someone who read the mailbox) are dead now.
    app.assert_account_links_are_dead(links).await;
    assert_eq!(app.login("jane@example.com", NEW_PASSWORD).await.status, StatusCode::OK);
}
