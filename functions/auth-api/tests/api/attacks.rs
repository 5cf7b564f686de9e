//! Forged and tampered access tokens, sent the way an attacker would: as the Bearer token of a
//! real request (`GET /api/v1/users/me`). Every one must get 401 and no data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::JWT_SECRET as SECRET;
use test_support::keys::{OTHER_RSA_PEM, RSA_PEM, RSA_PUBLIC_PEM};

use crate::helpers::*;

fn part(token: &str, index: usize) -> Value {
    let encoded = token.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("json")
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).expect("sign")
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

fn with(claims: &Value, field: &str, value: Value) -> Value {
    let mut changed = claims.clone();
    changed[field] = value;
    changed
}

async fn assert_refused(app: &TestApp, forgeries: &[(&str, String)]) {
    for (name, token) in forgeries {
        let response = app.get_me(token).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name} was accepted: {:?}", response.body);
        assert!(response.body.get("email").is_none(), "{name} leaked the account");
    }
    eprintln!("attacks refused: {} forged access tokens", forgeries.len());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forged_shared_secret_tokens_are_refused(db: PgPool) {
    let app = TestApp::new(db);
    let valid = app.signed_in_user("jane@example.com", "jane").await;
    app.signed_in_user("mallory@example.com", "mallory").await;
    assert_eq!(app.get_me(&valid).await.status, StatusCode::OK);
    let claims = part(&valid, 1);
    let now = chrono::Utc::now().timestamp();
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let hs = || Header::new(Algorithm::HS256);
    let (head, body, _) = {
        let mut parts = valid.split('.');
        (parts.next().expect("h"), parts.next().expect("c"), parts.next().expect("s"))
    };
    let mallory = app.user_id("mallory@example.com").await;
    let tampered_body = URL_SAFE_NO_PAD.encode(with(&claims, "sub", json!(mallory)).to_string());

    assert_refused(
        &app,
        &[
            ("alg none", unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims)),
            ("alg None", unsigned(&json!({"alg": "None", "typ": "JWT"}), &claims)),
            ("signature stripped", format!("{head}.{body}.")),
            (
                "claims swapped for another user",
                format!("{head}.{tampered_body}.{}", valid.rsplit('.').next().expect("sig")),
            ),
            ("wrong secret", sign(&hs(), &claims, &EncodingKey::from_secret(b"not-the-secret-not-the-secret-000"))),
            ("expired", sign(&hs(), &with(&with(&claims, "exp", json!(now - 60)), "iat", json!(now - 1000)), &key)),
            ("not yet valid", sign(&hs(), &with(&claims, "nbf", json!(now + 600)), &key)),
            ("wrong issuer", sign(&hs(), &with(&claims, "iss", json!("https://evil.example")), &key)),
            ("wrong audience", sign(&hs(), &with(&claims, "aud", json!("someone-else")), &key)),
            (
                "no expiry",
                sign(
                    &hs(),
                    &{
                        let mut c = claims.clone();
                        c.as_object_mut().expect("object").remove("exp");
                        c
                    },
                    &key,
                ),
            ),
            ("a kid on a shared-secret token", sign(&Header { kid: Some("k1".into()), ..hs() }, &claims, &key)),
            ("HS512", sign(&Header::new(Algorithm::HS512), &claims, &key)),
            ("unknown session", sign(&hs(), &with(&claims, "sid", json!(uuid::Uuid::new_v4())), &key)),
            ("another user's id in a valid session", sign(&hs(), &with(&claims, "sub", json!(mallory)), &key)),
        ],
    )
    .await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forged_rsa_tokens_are_refused(db: PgPool) {
    let app = TestApp::with(db, &[("RATE_LIMIT_ENABLED", "false"), ("JWT_PRIVATE_KEY", RSA_PEM)]);
    let valid = app.signed_in_user("jane@example.com", "jane").await;
    assert_eq!(app.get_me(&valid).await.status, StatusCode::OK);
    let header = part(&valid, 0);
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let claims = part(&valid, 1);
    let other = EncodingKey::from_rsa_pem(OTHER_RSA_PEM.as_bytes()).expect("other key");
    let rs_with_kid = |kid: &str| Header { kid: Some(kid.to_owned()), ..Header::new(Algorithm::RS256) };

    assert_refused(
        &app,
        &[
            // HS/RS confusion: the public key (which the JWKS publishes) used as an HMAC secret.
            (
                "HS256 keyed with the public key",
                sign(
                    &Header { kid: Some(kid.clone()), ..Header::new(Algorithm::HS256) },
                    &claims,
                    &EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()),
                ),
            ),
            ("another key under our kid", sign(&rs_with_kid(&kid), &claims, &other)),
            ("another key under its own kid", sign(&rs_with_kid("attacker-key"), &claims, &other)),
            ("another key without a kid", sign(&Header::new(Algorithm::RS256), &claims, &other)),
            ("alg none with our kid", unsigned(&json!({"alg": "none", "kid": kid}), &claims)),
        ],
    )
    .await;
}

/// SQL that would widen a query, end a statement or comment out a check if it were ever pasted
/// into SQL text. Every query binds its values, so these must behave like any other odd string.
const SQL_PAYLOADS: [&str; 6] = [
    "' OR '1'='1",
    "admin'--",
    "x'; DROP TABLE users; --",
    "\" OR \"\"=\"",
    "1; SELECT pg_sleep(5)",
    "%' OR email LIKE '%",
];

/// Line breaks and header names that would add a mail header (Bcc) or split a response if a
/// value reached a header unchecked.
const HEADER_PAYLOADS: [&str; 3] =
    ["jane@example.com\r\nBcc: evil@example.com", "x\nSet-Cookie: stolen=1", "x\r\n\r\n<html>injected"];

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn sql_and_header_injection_payloads_are_inert(db: PgPool) {
    let app = TestApp::new(db.clone());
    let admin = app.signed_in_superuser("boss@example.com", "boss").await;
    app.signed_in_user("jane@example.com", "jane").await;
    let rows_before: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.expect("count");
    let mut sent = 0;

    for payload in SQL_PAYLOADS.iter().chain(&HEADER_PAYLOADS) {
        let email_like = format!("{payload}@example.com");
        let answers = [
            ("login email", app.login(payload, PASSWORD).await),
            ("login password", app.login("jane@example.com", payload).await),
            (
                "register",
                app.post_json(
                    "/api/v1/auth/register",
                    &json!({"email": email_like, "username": payload, "password": PASSWORD}),
                )
                .await,
            ),
            ("forgot-password", app.post_json("/api/v1/auth/forgot-password", &json!({"email": payload})).await),
            ("verify-email", app.post_json("/api/v1/auth/verify-email", &json!({"token": payload})).await),
            (
                "change username",
                app.call("PATCH", "/api/v1/users/me", Some(&admin), Some(&json!({"username": payload}))).await,
            ),
            ("admin search", app.get_as(&admin, &format!("/api/v1/admin/users?search={}", urlencode(payload))).await),
        ];
        for (what, answer) in answers {
            sent += 1;
            assert!(
                answer.status.is_client_error() || answer.status.is_success(),
                "{what} {payload:?}: {}",
                answer.status
            );
            assert!(answer.body.get("access_token").is_none(), "{what} {payload:?} signed someone in");
            if what == "admin search" {
                assert_eq!(answer.body["total"], 0, "{payload:?} matched accounts: {}", answer.body);
            }
            if what == "verify-email" {
                // The seed's shape: always 200, `verified` tells.
                assert_eq!(answer.body["verified"], false, "{payload:?} verified an account: {}", answer.body);
            } else if answer.status.is_success() && what != "admin search" {
                assert!(matches!(what, "forgot-password"), "{what} {payload:?} was accepted: {}", answer.body);
            }
        }
    }

    let rows_after: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.expect("count");
    assert_eq!(rows_after, rows_before, "no account was created, changed into another or dropped");
    let names: Vec<String> =
        sqlx::query_scalar("select username from users order by username").fetch_all(&db).await.expect("names");
    assert_eq!(names, ["boss", "jane"]);
    assert!(app.mails_to("evil@example.com").is_empty(), "no mail went to an injected recipient");
    let mail_dir = std::fs::read_dir(&app.mail_dir).expect("mail dir");
    for mail in mail_dir.map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("mail")) {
        assert!(!mail.contains("Bcc:") && !mail.contains("stolen"), "{mail}");
    }
    eprintln!("attacks refused: {sent} SQL and header injection payloads, all inert");
}

fn urlencode(value: &str) -> String {
    value.bytes().map(|byte| format!("%{byte:02X}")).collect()
}
