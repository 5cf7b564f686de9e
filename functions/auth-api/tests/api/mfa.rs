//! Second factors end to end: enrolment, sign-in with `mfa_required` and the challenge, replay
//! and drift rules, recovery codes, the `mfa_token`'s single use and lifetime, step-up, removal,
//! the administrator's reset, the wrong-code back-off, and two challenges racing with one code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use http::{StatusCode, header};
use serde_json::{Value, json};
use shared::security::totp;
use sqlx::PgPool;

use crate::helpers::*;

const EMAIL: &str = "jane@example.com";

/// A user with an active TOTP factor: their (aal1) access token, the secret and recovery codes.
struct Enrolled {
    token: String,
    secret: Vec<u8>,
    recovery_codes: Vec<String>,
    /// The step the test's codes count from.
    base: i64,
}

impl Enrolled {
    /// The code of `offset` steps from the test's base step.
    fn code(&self, offset: i64) -> String {
        totp::code_at(&self.secret, self.base + offset)
    }
}

fn decode_base32(encoded: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for symbol in encoded.bytes() {
        let index = ALPHABET.iter().position(|a| *a == symbol).expect("base32") as u64;
        value = (value << 5) | index;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

/// The current step, once at least 10 of its 30 seconds remain: the tests compute codes relative
/// to it, and each finishes well within that margin, so no test straddles two steps unawares.
async fn settled_step() -> i64 {
    let into_step = Utc::now().timestamp().rem_euclid(totp::STEP_SECONDS);
    if into_step > totp::STEP_SECONDS - 10 {
        tokio::time::sleep(std::time::Duration::from_secs((totp::STEP_SECONDS - into_step + 1) as u64)).await;
    }
    totp::step_at(Utc::now().timestamp())
}

/// The claims of an access token (not verified: the service did that).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

async fn enroll(app: &TestApp, token: &str) -> (String, Vec<u8>) {
    let enrolled = app.call("POST", "/api/v1/auth/mfa/totp/enroll", Some(token), None).await;
    assert_eq!(enrolled.status, StatusCode::OK, "{enrolled:?}");
    let secret = enrolled.body["secret"].as_str().expect("secret");
    let uri = enrolled.body["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    (enrolled.body["factor_id"].as_str().expect("id").to_owned(), decode_base32(secret))
}

/// Signs a user up and activates a factor with the code of the previous step (so the current
/// and next steps stay free for the test).
async fn enrolled_user(app: &TestApp, email: &str, username: &str) -> Enrolled {
    let token = app.signed_in_user(email, username).await;
    let (factor_id, secret) = enroll(app, &token).await;
    let base = settled_step().await;
    let body = json!({"factor_id": factor_id, "code": totp::code_at(&secret, base - 1)});
    let verified = app.call("POST", "/api/v1/auth/mfa/totp/verify", Some(&token), Some(&body)).await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    let recovery_codes: Vec<String> = serde_json::from_value(verified.body["recovery_codes"].clone()).expect("codes");
    Enrolled { token, secret, recovery_codes, base }
}

/// Logs in with the password and returns the `mfa_token` of the answer.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let login = app.login(email, PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert_eq!(login.body["mfa_required"], true, "{:?}", login.body);
    assert_eq!(login.body["factors"], json!(["totp"]));
    assert!(login.body.get("access_token").is_none() && login.headers.get(header::SET_COOKIE).is_none());
    login.body["mfa_token"].as_str().expect("mfa_token").to_owned()
}

async fn challenge(app: &TestApp, body: Value) -> TestResponse {
    app.post_json("/api/v1/auth/mfa/challenge", &body).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_enrolled_user_signs_in_with_a_second_step_and_gets_aal2(db: PgPool) {
    let app = TestApp::new(db.clone());
    let user = enrolled_user(&app, EMAIL, "jane").await;
    assert_eq!(user.recovery_codes.len(), 10);
    assert!(app.mails_to(EMAIL).iter().any(|mail| mail.contains("Subject: Two-factor authentication is on")));
    let listed = app.get_as(&user.token, "/api/v1/auth/mfa/factors").await;
    assert_eq!(
        (listed.body["factors"][0]["status"].as_str(), listed.body["recovery_codes_left"].as_i64()),
        (Some("verified"), Some(10))
    );
    assert!(listed.body["factors"][0].get("secret").is_none());

    let mfa_token = mfa_token(&app, EMAIL).await;
    let signed_in = challenge(&app, json!({"mfa_token": mfa_token, "code": user.code(0)})).await;

    assert_eq!(signed_in.status, StatusCode::OK, "{signed_in:?}");
    let access = signed_in.body["access_token"].as_str().expect("token");
    assert_eq!((claims(access)["aal"].clone(), claims(access)["amr"].clone()), (json!("aal2"), json!(["pwd", "totp"])));
    let refresh = signed_in.refresh_cookie().expect("cookie");
    let sessions = app.get_as(access, "/api/v1/auth/sessions").await;
    let levels: Vec<&str> =
        sessions.body["sessions"].as_array().expect("list").iter().map(|s| s["aal"].as_str().expect("aal")).collect();
    assert_eq!(levels, ["aal2", "aal1"], "newest first: the challenge's session, then the enrolling one");
    let refreshed = app.with_cookie("POST", "/api/v1/auth/refresh", &refresh, None).await;
    assert_eq!(
        claims(refreshed.body["access_token"].as_str().expect("token"))["aal"],
        "aal2",
        "refresh keeps the level"
    );
    assert_eq!(claims(&user.token)["aal"], "aal1");

    // The secret is stored sealed, never in clear.
    let (sealed, key_id): (Vec<u8>, String) =
        sqlx::query_as("select secret_sealed, key_id from mfa_factors").fetch_one(&db).await.expect("factor");
    assert_eq!(key_id, "default");
    assert!(!sealed.windows(user.secret.len()).any(|window| window == user.secret.as_slice()));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_code_works_once_and_the_neighbouring_steps_are_accepted(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    // As if enrolment had happened long ago: the previous step is free to use again.
    sqlx::query("update mfa_factors set last_used_step = last_used_step - 10")
        .execute(&app.state.db)
        .await
        .expect("age");
    let previous = challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "code": user.code(-1)})).await;
    assert_eq!(previous.status, StatusCode::OK, "one step of drift behind: {previous:?}");

    // One step of drift ahead is accepted too.
    let next = challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "code": user.code(1)})).await;
    assert_eq!(next.status, StatusCode::OK, "{next:?}");
    let replay = challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "code": user.code(1)})).await;
    assert_eq!((replay.status, replay.body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_mfa_code")));
    let older = challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "code": user.code(0)})).await;
    assert_eq!(older.status, StatusCode::BAD_REQUEST, "an unused but older step once a newer one was used");
    let too_far = challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "code": user.code(3)})).await;
    assert_eq!(too_far.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_recovery_code_works_once_and_is_reported(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let typed = user.recovery_codes[3].to_uppercase().replace('-', " ");

    let used = challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "recovery_code": typed})).await;
    assert_eq!(used.status, StatusCode::OK, "{used:?}");
    assert_eq!(claims(used.body["access_token"].as_str().expect("token"))["amr"], json!(["pwd", "recovery_code"]));
    let mails = app.mails_to(EMAIL);
    let notice = mails.last().expect("mail");
    assert!(notice.contains("Subject: A recovery code was used on your account") && notice.contains("9 unused"));

    let again =
        challenge(&app, json!({"mfa_token": mfa_token(&app, EMAIL).await, "recovery_code": user.recovery_codes[3]}))
            .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let listed = app.get_as(&user.token, "/api/v1/auth/mfa/factors").await;
    assert_eq!(listed.body["recovery_codes_left"], 9);
    let both = challenge(&app, json!({"mfa_token": "x", "code": "123456", "recovery_code": "abcde-fghij"})).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_mfa_token_is_single_use_short_lived_and_ended_by_a_password_reset(db: PgPool) {
    let app = TestApp::new(db.clone());
    let user = enrolled_user(&app, EMAIL, "jane").await;

    let token = mfa_token(&app, EMAIL).await;
    assert_eq!(challenge(&app, json!({"mfa_token": token, "code": user.code(0)})).await.status, StatusCode::OK);
    let reused = challenge(&app, json!({"mfa_token": token, "code": user.code(1)})).await;
    assert_eq!((reused.status, reused.body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_mfa_token")));

    let stale = mfa_token(&app, EMAIL).await;
    sqlx::query("update mfa_challenges set expires_at = now() - interval '1 second' where used_at is null")
        .execute(&db)
        .await
        .expect("age");
    let expired = challenge(&app, json!({"mfa_token": stale, "code": user.code(1)})).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);

    let pending = mfa_token(&app, EMAIL).await;
    app.post_json("/api/v1/auth/forgot-password", &json!({"email": EMAIL})).await;
    let reset = app.last_mailed_token(EMAIL);
    let body = json!({"token": reset, "new_password": "An0ther-Passw0rd!"});
    assert_eq!(app.post_json("/api/v1/auth/reset-password", &body).await.body["password_reset"], true);
    let after_reset = challenge(&app, json!({"mfa_token": pending, "code": user.code(1)})).await;
    assert_eq!(after_reset.status, StatusCode::UNAUTHORIZED, "a reset ends pending sign-ins");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn step_up_raises_the_session_and_removal_needs_it_recently_plus_the_password(db: PgPool) {
    let app = TestApp::new(db.clone());
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let factor_id = app.get_as(&user.token, "/api/v1/auth/mfa/factors").await.body["factors"][0]["id"].clone();
    let path = format!("/api/v1/auth/mfa/totp/{}", factor_id.as_str().expect("id"));
    let with_password = json!({"password": PASSWORD});

    let too_weak = app.call("DELETE", &path, Some(&user.token), Some(&with_password)).await;
    assert_eq!((too_weak.status, too_weak.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("mfa_required")));

    let raised =
        app.call("POST", "/api/v1/auth/mfa/challenge", Some(&user.token), Some(&json!({"code": user.code(0)}))).await;
    assert_eq!(raised.status, StatusCode::OK, "{raised:?}");
    let strong = raised.body["access_token"].as_str().expect("token").to_owned();
    assert_eq!(claims(&strong)["aal"], "aal2");
    assert_eq!(claims(&strong)["sid"], claims(&user.token)["sid"], "the same session, raised");

    let no_password = app.call("DELETE", &path, Some(&strong), Some(&json!({}))).await;
    assert_eq!(no_password.body["code"], "incorrect_password");
    let wrong = app.call("DELETE", &path, Some(&strong), Some(&json!({"password": "Wr0ng-Passw0rd!"}))).await;
    assert_eq!(wrong.body["code"], "incorrect_password");
    sqlx::query("update sessions set aal2_at = now() - interval '11 minutes'").execute(&db).await.expect("age");
    let stale = app.call("DELETE", &path, Some(&strong), Some(&with_password)).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "the second factor must be recent");
    sqlx::query("update sessions set aal2_at = now()").execute(&db).await.expect("refresh");

    let removed = app.call("DELETE", &path, Some(&strong), Some(&with_password)).await;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
    assert!(app.mails_to(EMAIL).last().expect("mail").contains("Subject: Two-factor authentication was turned off"));
    let login = app.login(EMAIL, PASSWORD).await;
    assert!(login.body["access_token"].is_string(), "no second step any more: {:?}", login.body);
    let gone = app.call("DELETE", &path, Some(&strong), Some(&with_password)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_account_without_a_password_removes_its_factor_with_a_code(db: PgPool) {
    let app = TestApp::new(db.clone());
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let factor_id = app.get_as(&user.token, "/api/v1/auth/mfa/factors").await.body["factors"][0]["id"].clone();
    let path = format!("/api/v1/auth/mfa/totp/{}", factor_id.as_str().expect("id"));
    let raised =
        app.call("POST", "/api/v1/auth/mfa/challenge", Some(&user.token), Some(&json!({"code": user.code(0)}))).await;
    let strong = raised.body["access_token"].as_str().expect("token").to_owned();
    sqlx::query("update users set password_hash = null").execute(&db).await.expect("passwordless");

    let replayed = app.call("DELETE", &path, Some(&strong), Some(&json!({"code": user.code(0)}))).await;
    assert_eq!(replayed.body["code"], "invalid_mfa_code", "the step-up's code was spent");
    let removed = app.call("DELETE", &path, Some(&strong), Some(&json!({"code": user.code(1)}))).await;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_administrator_resets_a_users_factors_and_sessions(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let admin = app.signed_in_superuser("admin@example.com", "chief").await;
    let id = app.user_id(EMAIL).await;
    let path = format!("/api/v1/admin/users/{id}/mfa");

    assert_eq!(app.call("DELETE", &path, Some(&user.token), None).await.status, StatusCode::FORBIDDEN);
    let reset = app.call("DELETE", &path, Some(&admin), None).await;

    assert_eq!((reset.status, reset.body["removed"].as_i64()), (StatusCode::OK, Some(1)), "{reset:?}");
    assert_eq!(app.get_me(&user.token).await.status, StatusCode::UNAUTHORIZED, "sessions end");
    assert!(app.mails_to(EMAIL).last().expect("mail").contains("Subject: An administrator turned off"));
    assert!(app.login(EMAIL, PASSWORD).await.body["access_token"].is_string());
    assert_eq!(app.call("DELETE", &path, Some(&admin), None).await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wrong_codes_back_off_and_a_correct_password_does_not_reset_the_count(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let wrong = if user.code(0) == "000000" { "111111" } else { "000000" };

    // A fresh mfa_token for each guess, as whoever holds the password can get: fetched first, so
    // the guesses follow each other inside the first back-off window (1 s).
    let mut tokens = Vec::new();
    for _ in 0..6 {
        tokens.push(mfa_token(&app, EMAIL).await);
    }
    let mut statuses = Vec::new();
    for token in &tokens[..5] {
        statuses.push(challenge(&app, json!({"mfa_token": token, "code": wrong})).await.status);
    }
    assert_eq!(statuses, [StatusCode::BAD_REQUEST; 5]);
    let backing_off = challenge(&app, json!({"mfa_token": tokens[5], "code": user.code(0)})).await;

    assert_eq!(backing_off.status, StatusCode::TOO_MANY_REQUESTS, "{backing_off:?}");
    assert_eq!(backing_off.body["code"], "mfa_backoff");
    assert!(backing_off.header("retry-after").is_some());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_challenges_racing_with_one_code_let_exactly_one_in(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let (first, second) = (mfa_token(&app, EMAIL).await, mfa_token(&app, EMAIL).await);
    let code = user.code(0);

    let (a, b) = tokio::join!(
        challenge(&app, json!({"mfa_token": first, "code": code})),
        challenge(&app, json!({"mfa_token": second, "code": code}))
    );

    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST], "{a:?} {b:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_form_login_and_a_google_sign_in_also_need_the_second_factor(db: PgPool) {
    let (app, kid) = crate::oauth::app_with_google(db).await;
    let google = crate::oauth::sign(&kid, test_support::keys::RSA_PEM, &crate::oauth::claims(&[]));
    let first = crate::oauth::oauth_login(&app, "google", &google).await;
    let token = first.body["access_token"].as_str().expect("token").to_owned();
    let (factor_id, secret) = enroll(&app, &token).await;
    let base = settled_step().await;
    let body = json!({"factor_id": factor_id, "code": totp::code_at(&secret, base - 1)});
    assert_eq!(
        app.call("POST", "/api/v1/auth/mfa/totp/verify", Some(&token), Some(&body)).await.status,
        StatusCode::OK
    );

    let second = crate::oauth::oauth_login(&app, "google", &google).await;

    assert_eq!(second.body["mfa_required"], true, "{second:?}");
    assert!(second.headers.get(header::SET_COOKIE).is_none());
    let mfa_token = second.body["mfa_token"].as_str().expect("mfa_token");
    let signed_in = challenge(&app, json!({"mfa_token": mfa_token, "code": totp::code_at(&secret, base)})).await;
    assert_eq!(claims(signed_in.body["access_token"].as_str().expect("token"))["amr"], json!(["oauth", "totp"]));

    let user = enrolled_user(&app, EMAIL, "jane_doe").await;
    let form = app.post_form("/api/v1/auth/login", &[("username", EMAIL), ("password", PASSWORD)]).await;
    assert_eq!(form.body["mfa_required"], true, "{form:?}");
    let token = form.body["mfa_token"].as_str().expect("mfa_token");
    assert_eq!(challenge(&app, json!({"mfa_token": token, "code": user.code(0)})).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stale_bearer_token_does_not_fail_a_sign_in_and_an_unfinished_enrolment_goes_without_a_body(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    let stale = "Bearer not.a.token";
    let request = http::Request::post("/api/v1/auth/mfa/challenge")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, stale)
        .body(axum::body::Body::from(
            json!({"mfa_token": mfa_token(&app, EMAIL).await, "code": user.code(0)}).to_string(),
        ))
        .expect("request");
    assert_eq!(app.send(request).await.status, StatusCode::OK);
    let no_token = challenge(&app, json!({"code": user.code(1)})).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED, "a step-up needs a Bearer token");

    let other = app.signed_in_user("john@example.com", "john").await;
    let (factor_id, _) = enroll(&app, &other).await;
    let cancelled = app.call("DELETE", &format!("/api/v1/auth/mfa/totp/{factor_id}"), Some(&other), None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert!(app.login("john@example.com", PASSWORD).await.body["access_token"].is_string());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_mailed_link_sign_in_also_needs_the_second_factor(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;
    app.post_json("/api/v1/auth/magic-link", &json!({"email": EMAIL})).await;
    let link = app.last_mailed_token(EMAIL);

    let first_step = app.post_json("/api/v1/auth/magic-link/verify", &json!({"token": link})).await;

    assert_eq!(first_step.body["mfa_required"], true, "{first_step:?}");
    let token = first_step.body["mfa_token"].as_str().expect("mfa_token");
    let signed_in = challenge(&app, json!({"mfa_token": token, "code": user.code(0)})).await;
    assert_eq!(claims(signed_in.body["access_token"].as_str().expect("token"))["amr"], json!(["email", "totp"]));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn enrolment_is_refused_while_a_factor_is_active_and_a_wrong_first_code_activates_nothing(db: PgPool) {
    let app = TestApp::new(db);
    let token = app.signed_in_user(EMAIL, "jane").await;
    let (factor_id, secret) = enroll(&app, &token).await;
    let base = settled_step().await;
    let wrong = json!({"factor_id": factor_id, "code": totp::code_at(&secret, base + 5)});
    let refused = app.call("POST", "/api/v1/auth/mfa/totp/verify", Some(&token), Some(&wrong)).await;
    assert_eq!(refused.body["code"], "invalid_mfa_code");
    assert!(app.login(EMAIL, PASSWORD).await.body["access_token"].is_string(), "an unverified factor protects nothing");

    let right = json!({"factor_id": factor_id, "code": totp::code_at(&secret, base)});
    assert_eq!(
        app.call("POST", "/api/v1/auth/mfa/totp/verify", Some(&token), Some(&right)).await.status,
        StatusCode::OK
    );
    let again = app.call("POST", "/api/v1/auth/mfa/totp/enroll", Some(&token), None).await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("mfa_already_enabled")));
    let other = app.signed_in_user("john@example.com", "john").await;
    let foreign = app.call("POST", "/api/v1/auth/mfa/totp/verify", Some(&other), Some(&right)).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "another user's factor is not theirs to verify");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn superusers_can_be_required_to_use_a_second_factor(db: PgPool) {
    let app = TestApp::with(db, &[("MFA_REQUIRED_FOR_SUPERUSERS", "true")]);
    let admin = enrolled_user(&app, "admin@example.com", "chief").await;
    sqlx::query("update users set is_superuser = true").execute(&app.state.db).await.expect("promote");

    let refused = app.get_as(&admin.token, "/api/v1/admin/users").await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("mfa_required")));
    let raised =
        app.call("POST", "/api/v1/auth/mfa/challenge", Some(&admin.token), Some(&json!({"code": admin.code(0)}))).await;
    let strong = raised.body["access_token"].as_str().expect("token");
    assert_eq!(app.get_as(strong, "/api/v1/admin/users").await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_export_lists_factors_without_secrets(db: PgPool) {
    let app = TestApp::new(db);
    let user = enrolled_user(&app, EMAIL, "jane").await;

    let export = app.get_as(&user.token, "/api/v1/users/me/export").await;

    let factors = export.body["mfa_factors"].as_array().expect("factors");
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0]["type"], "totp");
    assert!(factors[0]["activated_at"].is_string());
    let text = export.body.to_string();
    assert!(!text.contains(&totp::base32(&user.secret)) && !text.contains(&user.recovery_codes[0]));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_cleanup_drops_ended_challenges_and_stale_enrolments_only(db: PgPool) {
    let app = TestApp::new(db.clone());
    enrolled_user(&app, EMAIL, "jane").await;
    mfa_token(&app, EMAIL).await;
    mfa_token(&app, EMAIL).await;
    sqlx::query("update mfa_challenges set expires_at = now() - interval '1 second' where ctid = (select min(ctid) from mfa_challenges)")
        .execute(&db)
        .await
        .expect("end one");
    let john = app.signed_in_user("john@example.com", "john").await;
    enroll(&app, &john).await;
    sqlx::query("update mfa_factors set created_at = now() - interval '25 hours' where activated_at is null")
        .execute(&db)
        .await
        .expect("age");

    let report = shared::jobs::ScheduledJob::CleanupExpired
        .run(&app.state, std::time::Instant::now() + std::time::Duration::from_secs(60))
        .await
        .expect("cleanup");

    assert_eq!((report.count("mfa_challenges_deleted"), report.count("mfa_enrolments_deleted")), (1, 1));
    let left: (i64, i64) = sqlx::query_as(
        "select (select count(*) from mfa_challenges), (select count(*) from mfa_factors where activated_at is not null)",
    )
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!(left, (1, 1), "the live challenge and the active factor stay");
}
