//! Real concurrency against Postgres: requests racing for the same rows end in exactly one
//! consistent outcome. The requests run on one test thread but their database work overlaps, which
//! is where these races are decided (row locks, unique constraints, conditional updates).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::*;

/// Rounds per race: each round starts from the same state, so different interleavings get a chance.
const ROUNDS: usize = 10;

async fn count(db: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.expect("count")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_registrations_of_one_username_create_exactly_one_account(db: PgPool) {
    let app = TestApp::new(db.clone());
    for round in 0..ROUNDS {
        let name = format!("racer{round}");
        let (first_email, second_email) = (format!("a{round}@example.com"), format!("b{round}@example.com"));
        let (first, second) = tokio::join!(app.register(&first_email, &name), app.register(&second_email, &name));
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::BAD_REQUEST], "round {round}");
    }
    assert_eq!(count(&db, "select count(*) from users").await, ROUNDS as i64);
    eprintln!("races run: {ROUNDS} same-username registrations");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_refreshes_of_one_token_both_succeed_and_rotate_once(db: PgPool) {
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    for round in 0..ROUNDS {
        let login = app.login("jane@example.com", PASSWORD).await;
        let cookie = login.headers[http::header::SET_COOKIE].to_str().expect("ascii").to_owned();
        let token = cookie.trim_start_matches("refresh_token=").split(';').next().expect("value").to_owned();
        let refresh = || {
            let request = http::Request::post("/api/v1/auth/refresh")
                .header(http::header::COOKIE, format!("refresh_token={token}"))
                .body(axum::body::Body::empty())
                .expect("request");
            app.send(request)
        };

        let (one, two) = tokio::join!(refresh(), refresh());

        assert_eq!((one.status, two.status), (StatusCode::OK, StatusCode::OK), "round {round}");
        let cookies: Vec<String> = [&one, &two].iter().map(|response| refresh_cookie_of(response)).collect();
        assert_eq!(cookies[0], cookies[1], "both callers get the one successor cookie (round {round})");
        let session: Uuid = sqlx::query_scalar("select session_id from refresh_tokens where token_hash = $1")
            .bind(&shared::security::tokens::hash(&token)[..])
            .fetch_one(&db)
            .await
            .expect("session");
        let family: i64 = sqlx::query_scalar("select count(*) from refresh_tokens where session_id = $1")
            .bind(session)
            .fetch_one(&db)
            .await
            .expect("family");
        assert_eq!(family, 2, "the presented token and exactly one successor (round {round})");
    }
    eprintln!("races run: {ROUNDS} double refreshes");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn confirm_and_cancel_of_a_deletion_at_once_leave_the_account_safe(db: PgPool) {
    let app = TestApp::new(db.clone());
    let access = app.signed_in_user("jane@example.com", "jane").await;
    let mut confirmed_first = 0;
    for round in 0..ROUNDS {
        let requested = app.post_json("/api/v1/auth/request-deletion", &json!({"email": "jane@example.com"})).await;
        assert_eq!(requested.status, StatusCode::OK);
        let token = app.last_mailed_token("jane@example.com");

        let confirm_body = json!({"token": token});
        let (confirm, cancel) = tokio::join!(
            app.post_json("/api/v1/auth/confirm-deletion", &confirm_body),
            app.call("POST", "/api/v1/auth/cancel-deletion", Some(&access), None)
        );

        // Either order is fine; what must hold is the end state: nothing scheduled, link dead.
        assert_eq!(cancel.status, StatusCode::OK, "round {round}: {:?}", cancel.body);
        assert_eq!(confirm.status, StatusCode::OK, "round {round}: {:?}", confirm.body);
        confirmed_first += usize::from(confirm.body["deletion_confirmed"] == true);
        let scheduled: Option<chrono::DateTime<chrono::Utc>> =
            sqlx::query_scalar("select deletion_scheduled_for from users where email = 'jane@example.com'")
                .fetch_one(&db)
                .await
                .expect("user");
        assert_eq!(scheduled, None, "round {round}: a cancelled deletion is still scheduled");
        let again = app.post_json("/api/v1/auth/confirm-deletion", &json!({"token": token})).await;
        assert_eq!(again.body["deletion_confirmed"], false, "round {round}: the link outlived the cancel");
    }
    eprintln!("races run: {ROUNDS} confirm/cancel pairs ({confirmed_first} confirmed before the cancel)");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn parallel_requests_are_counted_exactly_by_the_rate_limiter(db: PgPool) {
    let app = TestApp::with(db.clone(), &[("RATE_LIMIT_ENABLED", "true")]);
    const PARALLEL: usize = 12;

    let app = &app;
    let responses = join_all(
        (0..PARALLEL).map(|i| async move { app.register(&format!("user{i}@example.com"), &format!("user{i}")).await }),
    )
    .await;

    let created = responses.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let limited = responses.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(created + limited, PARALLEL);
    // Fixed one-minute windows: a run that straddles a window boundary may pass 3 in each.
    let windows: Vec<i32> =
        sqlx::query_scalar("select count from rate_limits where key like 'register:%' order by window_start")
            .fetch_all(&db)
            .await
            .expect("rows");
    assert!(windows.iter().all(|&n| n <= 3), "never more than the limit is counted: {windows:?}");
    assert_eq!(windows.iter().sum::<i32>(), created as i32, "every served request counted once: {windows:?}");
    // Twelve requests in at most two windows: one window saw six or more, and passed exactly 3.
    assert!(windows.contains(&3), "register allows 3 a minute: {windows:?}");
    assert_eq!(count(&db, "select count(*) from users").await, created as i64);
    eprintln!("races run: {PARALLEL} parallel rate-limited requests");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_forged_forwarded_for_does_not_change_the_rate_limit_key(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "true")]);
    let from = |peer: &str, forged: &str, i: usize| {
        let mut request = json_request(
            "POST",
            "/api/v1/auth/register",
            &json!({"email": format!("u{i}@example.com"), "username": format!("user{i}"), "password": PASSWORD}),
        );
        request.headers_mut().insert("x-forwarded-for", forged.parse().expect("header"));
        request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().expect("addr")));
        request
    };

    let mut statuses = Vec::new();
    for (i, forged) in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5, 6.6.6.6"].iter().enumerate() {
        statuses.push(app.send(from("198.51.100.9:5000", forged, i)).await.status);
    }
    let other_client = app.send(from("203.0.113.20:5000", "1.1.1.1", 9)).await.status;

    assert_eq!(statuses[..3], [StatusCode::CREATED; 3]);
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 2], "a new X-Forwarded-For bought more attempts");
    assert_eq!(other_client, StatusCode::CREATED, "the limit is per client address");
}

/// The refresh cookie's value in a login answer.
fn refresh_cookie_of(response: &TestResponse) -> String {
    let cookie = response.headers[http::header::SET_COOKIE].to_str().expect("ascii");
    cookie.trim_start_matches("refresh_token=").split(';').next().expect("value").to_owned()
}

async fn refresh_with(app: &TestApp, token: &str) -> StatusCode {
    let request = http::Request::post("/api/v1/auth/refresh")
        .header(http::header::COOKIE, format!("refresh_token={token}"))
        .body(axum::body::Body::empty())
        .expect("request");
    app.send(request).await.status
}

async fn mailed_reset_token(app: &TestApp, email: &str) -> String {
    let forgot = app.post_json("/api/v1/auth/forgot-password", &json!({"email": email})).await;
    assert_eq!(forgot.status, StatusCode::OK);
    app.last_mailed_token(email)
}

/// After a reset to `owners`, only `owners` signs in: `others` fail, and so does `old_session`.
async fn assert_the_reset_won(app: &TestApp, owners: &str, others: &[&str], old_session: Option<&str>, round: usize) {
    for password in others {
        let login = app.login("jane@example.com", password).await;
        assert_eq!(login.status, StatusCode::UNAUTHORIZED, "round {round}: {password} still signs in");
    }
    if let Some(token) = old_session {
        assert_eq!(
            refresh_with(app, token).await,
            StatusCode::UNAUTHORIZED,
            "round {round}: a session outlived the reset"
        );
    }
    // Signing in with the owner's password also clears the failures counted above.
    assert_eq!(app.login("jane@example.com", owners).await.status, StatusCode::OK, "round {round}: the reset was lost");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_change_racing_a_reset_never_undoes_the_reset(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let mut current = PASSWORD.to_owned();
    let mut voided_first = 0;
    for round in 0..ROUNDS {
        // Someone who knows the current password is signed in; the owner resets it meanwhile.
        let attacker = app.login("jane@example.com", &current).await;
        let attacker_access = attacker.body["access_token"].as_str().expect("access token").to_owned();
        let attacker_refresh = refresh_cookie_of(&attacker);
        let reset_token = mailed_reset_token(&app, "jane@example.com").await;
        let (owners, attackers) = (format!("Owner-{round}-Passw0rd!"), format!("Attacker-{round}-Passw0rd!"));

        let change_body = json!({"current_password": current, "new_password": attackers});
        let reset_body = json!({"token": reset_token, "new_password": owners});
        let (change, reset) = tokio::join!(
            app.call("POST", "/api/v1/auth/change-password", Some(&attacker_access), Some(&change_body)),
            app.post_json("/api/v1/auth/reset-password", &reset_body),
        );

        if reset.body["password_reset"] == false {
            // The change committed first and voided the outstanding link: the owner sees the
            // refusal, asks again, and the next reset ends the attacker's session.
            voided_first += 1;
            assert_eq!(change.status, StatusCode::OK, "round {round}: neither won: {:?}", change.body);
            let again = mailed_reset_token(&app, "jane@example.com").await;
            let retry =
                app.post_json("/api/v1/auth/reset-password", &json!({"token": again, "new_password": owners})).await;
            assert_eq!(retry.body["password_reset"], true, "round {round}");
        }
        // A reset that answered success is never undone.
        assert_the_reset_won(&app, &owners, &[&current, &attackers], Some(&attacker_refresh), round).await;
        current = owners;
    }
    eprintln!("races run: {ROUNDS} change/reset pairs ({voided_first} changes committed first and voided the link)");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_login_racing_a_reset_never_keeps_a_session_with_the_old_password(db: PgPool) {
    let app = TestApp::new(db);
    app.signed_in_user("jane@example.com", "jane").await;
    let mut current = PASSWORD.to_owned();
    let mut logged_in = 0;
    for round in 0..ROUNDS * 2 {
        let reset_token = mailed_reset_token(&app, "jane@example.com").await;
        let owners = format!("Owner-{round}-Passw0rd!");
        let reset_body = json!({"token": reset_token, "new_password": owners});

        let (login, _) = tokio::join!(
            app.login("jane@example.com", &current),
            app.post_json("/api/v1/auth/reset-password", &reset_body),
        );

        let session = (login.status == StatusCode::OK).then(|| refresh_cookie_of(&login));
        logged_in += usize::from(session.is_some());
        assert_the_reset_won(&app, &owners, &[&current], session.as_deref(), round).await;
        current = owners;
    }
    eprintln!("races run: {} login/reset pairs ({logged_in} logins answered before the reset)", ROUNDS * 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_login_upgrades_the_stored_hash_only_if_no_reset_replaced_it(db: PgPool) {
    use shared::repo::users::{self, Rehash};
    let app = TestApp::new(db.clone());
    app.signed_in_user("jane@example.com", "jane").await;
    let id = app.user_id("jane@example.com").await;
    let stored = || async {
        sqlx::query_scalar::<_, String>("select password_hash from users where id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .expect("hash")
    };
    let before_reset = stored().await;
    sqlx::query("update users set password_hash = 'set-by-a-reset' where id = $1")
        .bind(id)
        .execute(&db)
        .await
        .expect("reset");

    let late_upgrade = Rehash { verified_hash: &before_reset, new_hash: "upgrade-of-the-old-password" };
    users::record_successful_login(&db, id, Some(late_upgrade)).await.expect("login");
    assert_eq!(stored().await, "set-by-a-reset", "a late re-hash undid the reset");

    let upgrade = Rehash { verified_hash: "set-by-a-reset", new_hash: "upgrade-of-the-new-password" };
    users::record_successful_login(&db, id, Some(upgrade)).await.expect("login");
    assert_eq!(stored().await, "upgrade-of-the-new-password");
}
