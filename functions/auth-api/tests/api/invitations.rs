//! Invitations: a superuser creates an account, the invitee sets its password from the mail.

use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const ANN: &str = "ann@example.com";
const ANN_PASSWORD: &str = "Ann-Passw0rd-2026!";

async fn invite(app: &TestApp, admin: &str, body: &Value) -> TestResponse {
    app.call("POST", "/api/v1/admin/users", Some(admin), Some(body)).await
}

async fn accept(app: &TestApp, body: &Value) -> TestResponse {
    app.post_json("/api/v1/auth/accept-invite", body).await
}

async fn boss(app: &TestApp) -> String {
    app.signed_in_superuser("boss@example.com", "boss").await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invitee_sets_a_password_and_is_signed_in(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = boss(&app).await;

    let invited = invite(&app, &admin, &json!({"email": " Ann@Example.com", "username": "ann"})).await;

    assert_eq!(invited.status, StatusCode::CREATED, "{:?}", invited.body);
    assert_eq!(invited.body["email"], ANN);
    assert_eq!(invited.body["username"], "ann");
    assert_eq!(
        (&invited.body["is_active"], &invited.body["is_verified"], &invited.body["has_password"]),
        (&json!(true), &json!(false), &json!(false))
    );
    let mail = app.mails_to(ANN).pop().expect("the invitation");
    assert!(mail.contains("Subject: You're invited to Serverless Auth"), "{mail}");
    assert!(mail.contains("http://localhost:3000/accept-invite?token=") && mail.contains("7 days"), "{mail}");
    assert_eq!(app.login(ANN, PASSWORD).await.status, StatusCode::UNAUTHORIZED, "no password yet");
    let token = app.last_mailed_token(ANN);

    let accepted = accept(&app, &json!({"token": token, "password": ANN_PASSWORD})).await;
    let again = accept(&app, &json!({"token": token, "password": ANN_PASSWORD})).await;

    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    assert!(accepted.refresh_cookie().is_some());
    let me = app.get_me(accepted.body["access_token"].as_str().expect("token")).await;
    assert_eq!((&me.body["email"], &me.body["is_verified"]), (&json!(ANN), &json!(true)));
    assert_eq!(app.login(ANN, ANN_PASSWORD).await.status, StatusCode::OK);
    assert_eq!((again.status, &again.body["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_invitation")));
    let events: Vec<String> = sqlx::query_scalar(
        "select event from audit_log where event in ('admin_user_invited', 'invitation_accepted') order by id",
    )
    .fetch_all(&db)
    .await
    .expect("events");
    assert_eq!(events, ["admin_user_invited", "invitation_accepted"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_invitee_may_choose_the_username_and_the_policy_applies(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    let invited = invite(&app, &admin, &json!({"email": ANN})).await;
    assert!(invited.body["username"].as_str().expect("username").starts_with("user_"), "{:?}", invited.body);
    let token = app.last_mailed_token(ANN);

    let weak = accept(&app, &json!({"token": token, "password": "weak"})).await;
    let taken = accept(&app, &json!({"token": token, "password": ANN_PASSWORD, "username": "boss"})).await;
    let named = accept(&app, &json!({"token": token, "password": ANN_PASSWORD, "username": "ann_b"})).await;

    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY, "a refused password does not burn the link");
    assert_eq!((taken.status, &taken.body["code"]), (StatusCode::BAD_REQUEST, &json!("username_exists")));
    assert_eq!(named.status, StatusCode::OK, "{:?}", named.body);
    assert_eq!(app.get_me(named.body["access_token"].as_str().expect("token")).await.body["username"], "ann_b");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn taken_addresses_and_usernames_get_the_seeds_messages(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    app.signed_in_user("jane@example.com", "jane").await;

    let email = invite(&app, &admin, &json!({"email": "JANE@example.com"})).await;
    let username = invite(&app, &admin, &json!({"email": ANN, "username": "jane"})).await;
    let malformed = invite(&app, &admin, &json!({"email": "nope", "username": "x"})).await;
    let unknown_field = invite(&app, &admin, &json!({"email": ANN, "password": "Chosen-By-Admin1!"})).await;

    assert_eq!((email.status, &email.body["detail"]), (StatusCode::BAD_REQUEST, &json!("Email already registered")));
    assert_eq!(
        (username.status, &username.body["detail"]),
        (StatusCode::BAD_REQUEST, &json!("Username already taken. Please choose a different username."))
    );
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed.body["detail"].as_array().expect("errors").len(), 2, "both fields reported");
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY, "an admin never sets a password");
    assert!(app.mails_to(ANN).is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn only_superusers_invite(db: PgPool) {
    let app = TestApp::new(db);
    let user = app.signed_in_user("jane@example.com", "jane").await;
    assert_eq!(invite(&app, &user, &json!({"email": ANN})).await.status, StatusCode::FORBIDDEN);
    let anonymous = app.post_json("/api/v1/admin/users", &json!({"email": ANN})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let resend =
        app.call("POST", &format!("/api/v1/admin/users/{}/invite", uuid::Uuid::nil()), Some(&user), None).await;
    assert_eq!(resend.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn resending_voids_the_older_link_and_stops_once_accepted(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    let id = invite(&app, &admin, &json!({"email": ANN, "username": "ann"})).await.body["id"].clone();
    let id = id.as_str().expect("id").to_owned();
    let first = app.last_mailed_token(ANN);

    let resent = app.call("POST", &format!("/api/v1/admin/users/{id}/invite"), Some(&admin), None).await;
    let second = app.last_mailed_token(ANN);

    assert_eq!(resent.status, StatusCode::OK, "{:?}", resent.body);
    assert_ne!(first, second);
    assert_eq!(accept(&app, &json!({"token": first, "password": ANN_PASSWORD})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(accept(&app, &json!({"token": second, "password": ANN_PASSWORD})).await.status, StatusCode::OK);
    let late = app.call("POST", &format!("/api/v1/admin/users/{id}/invite"), Some(&admin), None).await;
    assert_eq!((late.status, &late.body["code"]), (StatusCode::CONFLICT, &json!("invitation_not_pending")));
    let missing =
        app.call("POST", &format!("/api/v1/admin/users/{}/invite", uuid::Uuid::nil()), Some(&admin), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_simultaneous_acceptances_sign_in_once(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = boss(&app).await;
    for round in 0..5 {
        let email = format!("ann{round}@example.com");
        invite(&app, &admin, &json!({"email": email})).await;
        let body = json!({"token": app.last_mailed_token(&email), "password": ANN_PASSWORD});
        let (one, two) = tokio::join!(accept(&app, &body), accept(&app, &body));
        let mut statuses = [one.status, two.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST], "round {round}");
    }
    eprintln!("races run: 5 double acceptances of one invitation");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivated_invitee_cannot_accept(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    let id = invite(&app, &admin, &json!({"email": ANN})).await.body["id"].as_str().expect("id").to_owned();
    let token = app.last_mailed_token(ANN);
    assert_eq!(app.patch_user(&admin, &id, &json!({"is_active": false})).await.status, StatusCode::OK);

    assert_eq!(accept(&app, &json!({"token": token, "password": ANN_PASSWORD})).await.status, StatusCode::BAD_REQUEST);
    let resend = app.call("POST", &format!("/api/v1/admin/users/{id}/invite"), Some(&admin), None).await;
    assert_eq!(resend.status, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invited_superuser_can_administer_once_accepted(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    let invited = invite(&app, &admin, &json!({"email": ANN, "is_superuser": true})).await;
    assert_eq!(invited.body["is_superuser"], true);
    let accepted = accept(&app, &json!({"token": app.last_mailed_token(ANN), "password": ANN_PASSWORD})).await;
    let token = accepted.body["access_token"].as_str().expect("token");
    assert_eq!(app.get_as(token, "/api/v1/admin/users").await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_sites_page_cannot_accept_for_its_visitor(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    invite(&app, &admin, &json!({"email": ANN})).await;
    let body = json!({"token": app.last_mailed_token(ANN), "password": ANN_PASSWORD});
    let request = Request::post("/api/v1/auth/accept-invite")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "https://evil.example")
        .body(axum::body::Body::from(body.to_string()))
        .expect("request");
    assert_eq!(app.send(request).await.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invitee_cannot_take_a_username_a_registration_holds(db: PgPool) {
    let app = TestApp::new(db);
    let admin = boss(&app).await;
    // a registration of a taken address creates no account, but holds its username
    app.signed_in_user("jane@example.com", "jane").await;
    assert_eq!(app.register("jane@example.com", "held_name").await.status, StatusCode::CREATED);
    invite(&app, &admin, &json!({"email": ANN})).await;
    let body = json!({"token": app.last_mailed_token(ANN), "password": ANN_PASSWORD, "username": "held_name"});

    let accepted = accept(&app, &body).await;

    assert_eq!((accepted.status, &accepted.body["code"]), (StatusCode::BAD_REQUEST, &json!("username_exists")));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_cleanup_removes_expired_links_of_every_new_kind(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = boss(&app).await;
    invite(&app, &admin, &json!({"email": ANN})).await;
    app.post_json("/api/v1/auth/magic-link", &json!({"email": "boss@example.com"})).await;
    let body = json!({"new_email": "boss.new@example.com", "password": PASSWORD});
    assert_eq!(
        app.call("POST", "/api/v1/users/me/email", Some(&admin), Some(&body)).await.status,
        StatusCode::ACCEPTED
    );
    let kinds = "select purpose from one_time_tokens where purpose in ('accept_invite', 'magic_link', 'change_email') order by purpose";
    let before: Vec<String> = sqlx::query_scalar(kinds).fetch_all(&db).await.expect("kinds");
    assert_eq!(before, ["accept_invite", "change_email", "magic_link"]);

    sqlx::query("update one_time_tokens set expires_at = now() - interval '2 days'")
        .execute(&db)
        .await
        .expect("expire");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    shared::jobs::ScheduledJob::CleanupExpired.run(&app.state, deadline).await.expect("cleanup");

    let after: Vec<String> = sqlx::query_scalar(kinds).fetch_all(&db).await.expect("kinds");
    assert!(after.is_empty(), "{after:?}");
}
