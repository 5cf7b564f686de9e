//! Google/Apple sign-in against a local JWKS served on 127.0.0.1, with locally generated keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;
use test_support::keys::{OTHER_RSA_PEM, RSA_PEM, serve_jwks};

use crate::helpers::*;

const CLIENT_ID: &str = "test-client.apps.googleusercontent.com";

pub(crate) fn claims(overrides: &[(&str, Value)]) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": "https://accounts.google.com", "aud": CLIENT_ID, "sub": "google-user-1",
        "email": "Jane@Gmail.example", "email_verified": true, "iat": now, "exp": now + 600,
    });
    for (key, value) in overrides {
        claims[*key] = value.clone();
    }
    claims
}

pub(crate) fn sign(kid: &str, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem")).expect("sign")
}

pub(crate) async fn app_with_google(db: PgPool) -> (TestApp, String) {
    let (url, kid) = serve_jwks().await;
    let app = TestApp::with(
        db,
        &[("RATE_LIMIT_ENABLED", "false"), ("GOOGLE_CLIENT_ID", CLIENT_ID), ("GOOGLE_JWKS_URL", &url)],
    );
    (app, kid)
}

pub(crate) async fn oauth_login(app: &TestApp, provider: &str, token: &str) -> TestResponse {
    app.post_json("/api/v1/auth/oauth/login", &json!({"provider": provider, "access_token": token})).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_valid_google_token_creates_a_verified_account_once(db: PgPool) {
    let (app, kid) = app_with_google(db.clone()).await;
    let token = sign(&kid, RSA_PEM, &claims(&[]));

    let first = oauth_login(&app, "google", &token).await;
    let again = oauth_login(&app, "google", &token).await;

    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert!(first.headers.contains_key(http::header::SET_COOKIE));
    assert_eq!(again.status, StatusCode::OK);
    let me = app.get_me(first.body["access_token"].as_str().expect("token")).await;
    assert_eq!(me.body["email"], "jane@gmail.example");
    assert_eq!(me.body["is_verified"], true);
    assert_eq!(me.body["oauth_provider"], "google", "the seed's key");
    assert!(me.body["username"].as_str().expect("username").starts_with("google_"));
    let (users, identities): (i64, i64) = sqlx::query_as(
        "select (select count(*) from users), (select count(*) from oauth_identities where provider = 'google')",
    )
    .fetch_one(&db)
    .await
    .expect("counts");
    assert_eq!((users, identities), (1, 1));
    let hash: Option<String> = sqlx::query_scalar("select password_hash from users").fetch_one(&db).await.expect("row");
    assert!(hash.is_none(), "OAuth accounts have no password");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forged_or_wrong_tokens_are_refused(db: PgPool) {
    let (app, kid) = app_with_google(db).await;
    let now = chrono::Utc::now().timestamp();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": kid}).to_string()),
        URL_SAFE_NO_PAD.encode(claims(&[]).to_string())
    );
    let cases = [
        ("wrong audience", sign(&kid, RSA_PEM, &claims(&[("aud", json!("someone-else"))]))),
        ("wrong issuer", sign(&kid, RSA_PEM, &claims(&[("iss", json!("https://evil.example"))]))),
        ("expired", sign(&kid, RSA_PEM, &claims(&[("exp", json!(now - 3600)), ("iat", json!(now - 7200))]))),
        ("bad signature", sign(&kid, OTHER_RSA_PEM, &claims(&[]))),
        ("unknown key id", sign("other-kid", RSA_PEM, &claims(&[]))),
        ("alg none", unsigned),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (case, token) in cases {
        let response = oauth_login(&app, "google", &token).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{case}: {:?}", response.body);
        assert_eq!(response.body["detail"], "Invalid Google token", "{case}");
    }
    // Genuine tokens without what an account needs get the seed's other message.
    let without_user_info = [
        ("unverified email", sign(&kid, RSA_PEM, &claims(&[("email_verified", json!(false))]))),
        ("no email", sign(&kid, RSA_PEM, &claims(&[("email", Value::Null)]))),
    ];
    for (case, token) in without_user_info {
        let response = oauth_login(&app, "google", &token).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{case}: {:?}", response.body);
        assert_eq!(response.body["detail"], "Invalid OAuth user info", "{case}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unconfigured_provider_is_a_400_and_an_unknown_one_a_422(db: PgPool) {
    let (app, kid) = app_with_google(db).await;
    let token = sign(&kid, RSA_PEM, &claims(&[("iss", json!("https://appleid.apple.com"))]));

    let apple = oauth_login(&app, "apple", &token).await;
    let unknown = oauth_login(&app, "facebook", &token).await;
    let providers =
        app.send(http::Request::get("/api/v1/auth/oauth/providers").body(axum::body::Body::empty()).expect("r")).await;

    assert_eq!(apple.status, StatusCode::BAD_REQUEST);
    assert_eq!(apple.body["detail"], "Apple OAuth not configured");
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["detail"][0]["loc"], json!(["body", "provider"]));
    assert_eq!(providers.body, json!({"providers": ["google"]}));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_email_owned_by_a_password_account_is_not_linked_silently(db: PgPool) {
    let (app, kid) = app_with_google(db).await;
    app.signed_in_user("jane@gmail.example", "jane").await;

    let response = oauth_login(&app, "google", &sign(&kid, RSA_PEM, &claims(&[]))).await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.body["code"], "email_exists");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_double_submitted_first_sign_in_yields_one_account_and_two_sessions(db: PgPool) {
    let (app, kid) = app_with_google(db.clone()).await;
    let token = sign(&kid, RSA_PEM, &claims(&[]));

    let (first, second) = tokio::join!(oauth_login(&app, "google", &token), oauth_login(&app, "google", &token));

    assert_eq!((first.status, second.status), (StatusCode::OK, StatusCode::OK), "{:?} {:?}", first.body, second.body);
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&db).await.expect("count");
    assert_eq!(users, 1);
}
