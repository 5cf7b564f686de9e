//! Forged and tampered access tokens, sent the way an attacker would: as the Bearer token of a
//! real request (`GET /api/v1/users/me`). Every one must get 401 and no data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const SECRET: &str = "test-secret-test-secret-test-secret-0123";
const RSA_PEM: &str = include_str!("../../../../shared/tests/keys/test-rsa-private.pem");
const RSA_PUBLIC_PEM: &str = include_str!("../../../../shared/tests/keys/test-rsa-public.pem");
const OTHER_RSA_PEM: &str = include_str!("../../../../shared/tests/keys/test-rsa-other-private.pem");

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
