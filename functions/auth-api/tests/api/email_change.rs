//! Email change: request (users-api), confirm and undo (auth-api), against a real Postgres.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const JANE: &str = "jane@example.com";
const NEW: &str = "jane.new@example.com";

async fn request_change(app: &TestApp, access: &str, new_email: &str, password: &str) -> TestResponse {
    let body = json!({"new_email": new_email, "password": password});
    app.call("POST", "/api/v1/users/me/email", Some(access), Some(&body)).await
}

async fn confirm(app: &TestApp, token: &str) -> TestResponse {
    app.post_json("/api/v1/auth/confirm-email-change", &json!({"token": token})).await
}

async fn undo(app: &TestApp, token: &str) -> TestResponse {
    app.post_json("/api/v1/auth/undo-email-change", &json!({"token": token})).await
}

fn subjects(app: &TestApp, to: &str) -> Vec<String> {
    app.mails_to(to)
        .iter()
        .filter_map(|mail| mail.lines().find_map(|line| line.strip_prefix("Subject: ").map(str::to_owned)))
        .collect()
}

/// Jane signed in, her change to [`NEW`] requested and confirmed; returns her access token.
async fn changed(app: &TestApp) -> String {
    let access = app.signed_in_user(JANE, "jane").await;
    assert_eq!(request_change(app, &access, NEW, PASSWORD).await.status, StatusCode::ACCEPTED);
    let confirmed = confirm(app, &app.last_mailed_token(NEW)).await;
    assert_eq!(confirmed.body["email_changed"], true, "{:?}", confirmed.body);
    access
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_old_address_stays_until_the_link_to_the_new_one_is_opened(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;

    let requested = request_change(&app, &access, " Jane.New@Example.com ", PASSWORD).await;

    assert_eq!(requested.status, StatusCode::ACCEPTED, "{:?}", requested.body);
    assert_eq!(
        requested.body,
        json!({"message": "If the new address can be used, a confirmation link has been sent to it. Your current address stays in use until the link is opened."})
    );
    let mail = app.mails_to(NEW).pop().expect("a link to the new address");
    assert!(mail.contains("Subject: Confirm your new email address"), "{mail}");
    assert!(mail.contains("http://localhost:3000/confirm-email-change?token="), "{mail}");
    assert!(mail.contains("Content-Type: text/html"), "text and HTML parts");
    // Until then the old address is the account's, for sign-in and for mail.
    assert_eq!(app.get_me(&access).await.body["email"], JANE);
    assert_eq!(app.login(JANE, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(app.login(NEW, PASSWORD).await.status, StatusCode::UNAUTHORIZED);

    let token = app.last_mailed_token(NEW);
    let confirmed = confirm(&app, &token).await;
    let again = confirm(&app, &token).await;

    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(confirmed.body, json!({"message": "Email address changed successfully.", "email_changed": true}));
    assert_eq!(again.body, json!({"message": "Invalid or expired email change token.", "email_changed": false}));
    let me = app.get_me(&access).await;
    assert_eq!((&me.body["email"], &me.body["is_verified"]), (&json!(NEW), &json!(true)), "the session goes on");
    assert_eq!(app.login(NEW, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(app.login(JANE, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let notice = app.mails_to(JANE).pop().expect("a notice to the old address");
    assert!(notice.contains("Subject: The email address of your account was changed"), "{notice}");
    assert!(notice.contains(NEW) && notice.contains("http://localhost:3000/undo-email-change?token="), "{notice}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_undo_link_restores_the_old_address_and_ends_every_session(db: PgPool) {
    let app = TestApp::new(db);
    let access = changed(&app).await;
    let other_session = app.login(NEW, PASSWORD).await.body["access_token"].as_str().expect("token").to_owned();
    let undo_token = app.last_mailed_token(JANE);

    let undone = undo(&app, &undo_token).await;
    let again = undo(&app, &undo_token).await;

    assert_eq!(undone.status, StatusCode::OK);
    assert_eq!(undone.body["email_change_undone"], true, "{:?}", undone.body);
    let reset = app.mails_to(JANE).pop().expect("a reset link to the restored address");
    assert!(reset.contains("Subject: Reset your password"), "{reset}");
    assert_eq!(again.body["email_change_undone"], false);
    for token in [&access, &other_session] {
        assert_eq!(app.get_me(token).await.status, StatusCode::UNAUTHORIZED, "every session ended");
    }
    let login = app.login(JANE, PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    let me = app.get_me(login.body["access_token"].as_str().expect("token")).await;
    assert_eq!(me.body["email"], JANE);
    assert_eq!(app.login(NEW, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_taken_address_gets_the_same_answer_in_the_same_time_and_its_owner_a_notice(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    app.signed_in_user("john@example.com", "john").await;
    let owner_mails = app.mails_to("john@example.com").len();

    let started = Instant::now();
    let taken = request_change(&app, &access, "john@example.com", PASSWORD).await;
    let taken_took = started.elapsed();
    let started = Instant::now();
    let free = request_change(&app, &access, NEW, PASSWORD).await;
    let free_took = started.elapsed();

    assert_eq!((taken.status, &taken.body), (free.status, &free.body));
    // Both are padded to one floor, above what either path costs here.
    for took in [taken_took, free_took] {
        assert!(took >= Duration::from_millis(250), "{took:?}");
    }
    let notices = app.mails_to("john@example.com");
    assert_eq!(notices.len(), owner_mails + 1);
    let notice = notices.last().expect("notice");
    assert!(notice.contains("Subject: Someone tried to move an account to your email address"), "{notice}");
    assert!(!notice.contains("token="), "no link to the owner");
    assert_eq!(app.get_me(&access).await.body["email"], JANE);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_password_and_the_address_are_checked(db: PgPool) {
    let app = TestApp::new(db.clone());
    let access = app.signed_in_user(JANE, "jane").await;

    let wrong = request_change(&app, &access, NEW, "Wrong-Passw0rd!").await;
    let malformed = request_change(&app, &access, "not-an-address", PASSWORD).await;
    let disposable = request_change(&app, &access, "jane@mailinator.com", PASSWORD).await;
    let same = request_change(&app, &access, " JANE@example.com", PASSWORD).await;
    let anonymous = app.post_json("/api/v1/users/me/email", &json!({"new_email": NEW, "password": PASSWORD})).await;

    assert_eq!((wrong.status, &wrong.body["code"]), (StatusCode::BAD_REQUEST, &json!("incorrect_password")));
    for refused in [&malformed, &disposable, &same] {
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", refused.body);
        assert_eq!(refused.body["detail"][0]["loc"], json!(["body", "new_email"]));
    }
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(app.mails_to(NEW).is_empty());

    sqlx::query("update users set password_hash = null where email = $1")
        .bind(JANE)
        .execute(&db)
        .await
        .expect("no password");
    let passwordless = request_change(&app, &access, NEW, PASSWORD).await;
    assert_eq!(passwordless.status, StatusCode::BAD_REQUEST);
    assert_eq!(passwordless.body["code"], "password_not_set");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wrong_passwords_back_off_like_login(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(request_change(&app, &access, NEW, "Wrong-Passw0rd!").await.status);
    }
    assert_eq!(statuses[..5], [StatusCode::BAD_REQUEST; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_newer_request_voids_the_older_link(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    request_change(&app, &access, NEW, PASSWORD).await;
    let first = app.last_mailed_token(NEW);
    request_change(&app, &access, "jane.other@example.com", PASSWORD).await;
    let second = app.last_mailed_token("jane.other@example.com");

    assert_eq!(confirm(&app, &first).await.body["email_changed"], false);
    assert_eq!(confirm(&app, &second).await.body["email_changed"], true);
    assert_eq!(app.get_me(&access).await.body["email"], "jane.other@example.com");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_request_for_a_taken_address_voids_the_older_link_too(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    app.signed_in_user("john@example.com", "john").await;
    request_change(&app, &access, NEW, PASSWORD).await;
    let first = app.last_mailed_token(NEW);
    request_change(&app, &access, "john@example.com", PASSWORD).await;

    assert_eq!(confirm(&app, &first).await.body["email_changed"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_simultaneous_confirmations_of_one_link_change_the_address_once(db: PgPool) {
    let app = TestApp::new(db.clone());
    let access = app.signed_in_user(JANE, "jane").await;
    for round in 0..5 {
        let new_email = format!("jane{round}@example.com");
        request_change(&app, &access, &new_email, PASSWORD).await;
        let token = app.last_mailed_token(&new_email);
        let (one, two) = tokio::join!(confirm(&app, &token), confirm(&app, &token));
        let mut outcomes = [one.body["email_changed"].clone(), two.body["email_changed"].clone()];
        outcomes.sort_by_key(Value::to_string);
        assert_eq!(outcomes, [json!(false), json!(true)], "round {round}");
        let undo_links: i64 =
            sqlx::query_scalar("select count(*) from one_time_tokens where purpose = 'undo_email_change'")
                .fetch_one(&db)
                .await
                .expect("count");
        assert_eq!(undo_links, round + 1, "one undo link per change");
    }
    eprintln!("races run: 5 double confirmations of one email-change link");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_registration_that_takes_the_address_first_wins_cleanly(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    request_change(&app, &access, NEW, PASSWORD).await;
    let token = app.last_mailed_token(NEW);
    assert_eq!(app.register(NEW, "someone").await.status, StatusCode::CREATED);

    let confirmed = confirm(&app, &token).await;

    assert_eq!(confirmed.status, StatusCode::BAD_REQUEST, "{:?}", confirmed.body);
    assert_eq!(confirmed.body["code"], "email_exists");
    assert_eq!(app.get_me(&access).await.body["email"], JANE);
    assert_eq!(app.login(JANE, PASSWORD).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_change_voids_a_pending_change_but_not_an_undo_link(db: PgPool) {
    let app = TestApp::new(db);
    let access = changed(&app).await;
    let undo_token = app.last_mailed_token(JANE);
    request_change(&app, &access, "jane.third@example.com", PASSWORD).await;
    let pending = app.last_mailed_token("jane.third@example.com");

    let body = json!({"current_password": PASSWORD, "new_password": "Brand-New-Passw0rd!"});
    let changed = app.call("POST", "/api/v1/auth/change-password", Some(&access), Some(&body)).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    assert_eq!(confirm(&app, &pending).await.body["email_changed"], false);
    // Whoever changed the address may also have changed the password; the owner's way back stays.
    assert_eq!(undo(&app, &undo_token).await.body["email_change_undone"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivated_account_cannot_confirm_a_pending_change(db: PgPool) {
    let app = TestApp::new(db);
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    let access = app.signed_in_user(JANE, "jane").await;
    request_change(&app, &access, NEW, PASSWORD).await;
    let token = app.last_mailed_token(NEW);
    let id = app.user_id(JANE).await;

    assert_eq!(app.patch_user(&admin, id, &json!({"is_active": false})).await.status, StatusCode::OK);

    assert_eq!(confirm(&app, &token).await.body["email_changed"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn malformed_and_unknown_tokens_change_nothing(db: PgPool) {
    let app = TestApp::new(db);
    for token in ["", "short", &"x".repeat(43), &"y".repeat(5000)] {
        let confirmed = confirm(&app, token).await;
        let undone = undo(&app, token).await;
        assert_eq!((confirmed.status, &confirmed.body["email_changed"]), (StatusCode::OK, &json!(false)));
        assert_eq!((undone.status, &undone.body["email_change_undone"]), (StatusCode::OK, &json!(false)));
    }
    assert_eq!(
        app.post_json("/api/v1/auth/confirm-email-change", &json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn each_step_is_in_the_audit_log(db: PgPool) {
    let app = TestApp::new(db.clone());
    changed(&app).await;
    undo(&app, &app.last_mailed_token(JANE)).await;
    let events: Vec<String> =
        sqlx::query_scalar("select event from audit_log where event like 'email_change%' order by id")
            .fetch_all(&db)
            .await
            .expect("events");
    assert_eq!(events, ["email_change_requested", "email_change", "email_change_undone"]);
    assert_eq!(subjects(&app, NEW), ["Confirm your new email address"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_shows_a_pending_change_and_the_purge_removes_it(db: PgPool) {
    let app = TestApp::new(db.clone());
    let access = app.signed_in_user(JANE, "jane").await;
    request_change(&app, &access, NEW, PASSWORD).await;

    let export = app.get_as(&access, "/api/v1/users/me/export").await;

    let links = export.body["live_links"].as_array().expect("live_links");
    assert_eq!(links.len(), 1, "the verification link was used: {links:?}");
    assert_eq!((&links[0]["purpose"], &links[0]["email"]), (&json!("change_email"), &json!(NEW)));
    assert!(!export.text.contains(&app.last_mailed_token(NEW)), "never the token");

    sqlx::query("update users set deletion_scheduled_for = now() - interval '1 minute' where email = $1")
        .bind(JANE)
        .execute(&db)
        .await
        .expect("due");
    let deadline = Instant::now() + Duration::from_secs(60);
    shared::jobs::ScheduledJob::PurgeDeletedAccounts.run(&app.state, deadline).await.expect("purge");
    let left: i64 = sqlx::query_scalar("select count(*) from one_time_tokens where email = $1")
        .bind(NEW)
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_purge_scrubs_the_former_address_from_the_outbox_too(db: PgPool) {
    let app = TestApp::new(db.clone());
    changed(&app).await;
    let to_old = "select count(*) from outbox where normalized_address(payload->>'to') = $1";
    let before: i64 = sqlx::query_scalar(to_old).bind(JANE).fetch_one(&db).await.expect("count");
    assert!(before > 0, "the change notice went to the old address");

    sqlx::query("update users set deletion_scheduled_for = now() - interval '1 minute' where email = $1")
        .bind(NEW)
        .execute(&db)
        .await
        .expect("due");
    let deadline = Instant::now() + Duration::from_secs(60);
    shared::jobs::ScheduledJob::PurgeDeletedAccounts.run(&app.state, deadline).await.expect("purge");

    let after: i64 = sqlx::query_scalar(to_old).bind(JANE).fetch_one(&db).await.expect("count");
    assert_eq!(after, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn undoing_a_change_voids_the_undo_links_of_the_changes_made_after_it(db: PgPool) {
    let app = TestApp::new(db);
    let access = changed(&app).await;
    let first_undo = app.last_mailed_token(JANE);
    // Whoever has the password moves the account on again; the undo of that goes to NEW.
    request_change(&app, &access, "third@example.com", PASSWORD).await;
    confirm(&app, &app.last_mailed_token("third@example.com")).await;
    let second_undo = app.last_mailed_token(NEW);

    assert_eq!(undo(&app, &first_undo).await.body["email_change_undone"], true);

    assert_eq!(undo(&app, &second_undo).await.body["email_change_undone"], false, "no undoing the undo");
    assert_eq!(app.login(JANE, PASSWORD).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registering_the_old_address_meanwhile_cannot_block_the_undo(db: PgPool) {
    let app = TestApp::new(db.clone());
    changed(&app).await;
    let undo_token = app.last_mailed_token(JANE);
    assert_eq!(app.register(JANE, "squatter").await.status, StatusCode::CREATED);

    let undone = undo(&app, &undo_token).await;

    assert_eq!(undone.body["email_change_undone"], true, "{:?}", undone.body);
    let owner: String = sqlx::query_scalar("select username from users where email = $1")
        .bind(JANE)
        .fetch_one(&db)
        .await
        .expect("owner");
    assert_eq!(owner, "jane");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivated_account_cannot_undo_either(db: PgPool) {
    let app = TestApp::new(db);
    let boss = app.signed_in_superuser("boss@example.com", "boss").await;
    changed(&app).await;
    let undo_token = app.last_mailed_token(JANE);
    let id = app.user_id(NEW).await;
    assert_eq!(app.patch_user(&boss, id, &json!({"is_active": false})).await.status, StatusCode::OK);

    assert_eq!(undo(&app, &undo_token).await.body["email_change_undone"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_does_not_tell_a_taken_address_from_a_free_one(db: PgPool) {
    let app = TestApp::new(db);
    let access = app.signed_in_user(JANE, "jane").await;
    app.signed_in_user("john@example.com", "john").await;
    let mut shown = Vec::new();
    for address in ["john@example.com", NEW] {
        request_change(&app, &access, address, PASSWORD).await;
        let export = app.get_as(&access, "/api/v1/users/me/export").await;
        let links: Vec<(Value, Value)> = export.body["live_links"]
            .as_array()
            .expect("live_links")
            .iter()
            .map(|link| (link["purpose"].clone(), link["email"].clone()))
            .collect();
        shown.push(links);
    }
    assert_eq!(shown[0], [(json!("change_email"), json!("john@example.com"))]);
    assert_eq!(shown[1], [(json!("change_email"), json!(NEW))]);
}
