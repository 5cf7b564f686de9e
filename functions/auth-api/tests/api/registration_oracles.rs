//! A registration must not tell whether its address was free or already had an account, neither
//! in its own answer nor in what it leaves behind: registering again, registering the username
//! from another address, changing one's username to it, and signing in with the submitted
//! password answer alike for both.

use http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

/// Pairs of (taken, free) addresses tried.
const PAIRS: usize = 20;

/// What a client can compare: status, body without the values that differ per call anyway, and
/// the header names.
fn observable(response: &TestResponse) -> (StatusCode, Value, Vec<String>) {
    let mut body = response.body.clone();
    if let Some(fields) = body.as_object_mut() {
        for varying in ["id", "email", "username", "created_at", "date_created"] {
            if let Some(value) = fields.get_mut(varying) {
                *value = json!(value.as_str().map(str::len));
            }
        }
    }
    let mut names: Vec<String> = response.headers.keys().map(|name| name.as_str().to_owned()).collect();
    names.sort();
    (response.status, body, names)
}

/// register → register again → sign in with the submitted password.
async fn register_twice_and_sign_in(
    app: &TestApp,
    email: &str,
    username: &str,
    password: &str,
) -> Vec<(StatusCode, Value, Vec<String>)> {
    let body = json!({"email": email, "username": username, "password": password});
    let first = app.post_json("/api/v1/auth/register", &body).await;
    let again = app.post_json("/api/v1/auth/register", &body).await;
    let login = app.login(email, password).await;
    [first, again, login].iter().map(observable).collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registering_twice_and_signing_in_answer_alike_for_taken_and_free_addresses(db: PgPool) {
    let app = TestApp::new(db);
    for pair in 0..PAIRS {
        let owner = format!("owner{pair:02}@example.com");
        app.signed_in_user(&owner, &format!("owner{pair:02}")).await;
        let password = format!("Probe-{pair:02}-Passw0rd!");

        let taken = register_twice_and_sign_in(&app, &owner, &format!("probe_t{pair:02}"), &password).await;
        let free = register_twice_and_sign_in(
            &app,
            &format!("fresh{pair:02}@example.com"),
            &format!("probe_f{pair:02}"),
            &password,
        )
        .await;

        assert_eq!(taken, free, "pair {pair}: taken (left) and free (right) differ");
        assert_eq!(free[2].0, StatusCode::UNAUTHORIZED);
        assert_eq!(free[2].1["code"], "email_not_verified", "pair {pair}");
    }
    eprintln!("registration pairs compared: {PAIRS} (taken, free)");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_username_a_registration_used_is_taken_whether_or_not_its_address_was(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let outsider = app.signed_in_user("outsider@example.com", "outsider").await;
    assert_eq!(app.register("jane@example.com", "held_by_taken").await.status, StatusCode::CREATED);
    assert_eq!(app.register("free@example.com", "held_by_free").await.status, StatusCode::CREATED);

    for username in ["held_by_taken", "held_by_free"] {
        let register = app.register("someone@example.com", username).await;
        assert_eq!(
            (register.status, register.body["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("username_exists")),
            "{username}"
        );
        let rename = app.call("PATCH", "/api/v1/users/me", Some(&outsider), Some(&json!({"username": username}))).await;
        assert_eq!(
            (rename.status, rename.body["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("username_exists")),
            "{username}"
        );
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_registration_of_a_taken_address_leaves_its_owner_in_charge(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    let squatter = json!({"email": "jane@example.com", "username": "squatter", "password": "Squatter-Passw0rd!"});
    assert_eq!(app.post_json("/api/v1/auth/register", &squatter).await.status, StatusCode::CREATED);
    for _ in 0..3 {
        assert_eq!(app.login("jane@example.com", "Wrong-Passw0rd!").await.status, StatusCode::UNAUTHORIZED);
    }

    // The squatter's password gets the pending answer, but does not clear the owner's failures.
    let pending = app.login("jane@example.com", "Squatter-Passw0rd!").await;
    assert_eq!((pending.status, pending.body["code"].clone()), (StatusCode::UNAUTHORIZED, json!("email_not_verified")));
    let failures: i32 = sqlx::query_scalar("select failed_login_count from users where email = 'jane@example.com'")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(failures, 4, "the squatter's attempt counts as a failure on the account");
    assert_eq!(app.login("jane@example.com", PASSWORD).await.status, StatusCode::OK, "the owner signs in as before");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_hold_ends_after_thirty_days_or_once_the_address_is_verified(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    let holds = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from registration_holds").fetch_one(&db).await.expect("n")
    };
    assert_eq!(holds().await, 0, "verifying jane's address released her registration's hold");
    let squatter = json!({"email": "jane@example.com", "username": "squatter", "password": "Squatter-Passw0rd!"});
    assert_eq!(app.post_json("/api/v1/auth/register", &squatter).await.status, StatusCode::CREATED);
    assert_eq!(holds().await, 1);

    sqlx::query("update registration_holds set expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .expect("expire");
    assert_eq!(app.login("jane@example.com", "Squatter-Passw0rd!").await.body["code"], "invalid_credentials");
    assert_eq!(
        app.register("someone@example.com", "squatter").await.status,
        StatusCode::CREATED,
        "the username is free"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let cleanup = shared::jobs::ScheduledJob::CleanupExpired.run(&app.state, deadline).await.expect("cleanup");
    assert_eq!(cleanup.count("registration_holds_deleted"), 1);
}
