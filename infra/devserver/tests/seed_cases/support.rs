//! The harness of the seed cases: every function's routes under one app, as the devserver
//! serves them (a [`test_support::TestApp`]), around a fresh migrated database per test, with
//! mail written to a private directory (one `.eml` file per message) and no rate limits unless a
//! test turns them on.
//!
//! Accounts are set up through the API (register, then the link from the verification mail);
//! the database is touched directly only where no route exists (expiring a token, promoting a
//! superuser).

use std::sync::Arc;

use axum::Router;
use http::StatusCode;
use serde_json::{Value, json};
use shared::AppState;
use shared::adapters::local_ws::LocalHub;
use sqlx::PgPool;
use test_support::Routes;

pub(crate) use test_support::TestResponse;

/// The routes under test: every function's, as the devserver serves them.
pub(crate) struct Devserver;

impl Routes for Devserver {
    fn routes(state: &AppState) -> Router<AppState> {
        devserver::routes(state, Arc::new(LocalHub::default()))
    }
}

/// The devserver's routes around a test database: file mail, tasks run inline, no rate limits.
pub(crate) type TestApp = test_support::TestApp<Devserver>;

/// A signed-in session: the access token and the refresh cookie's value.
pub(crate) struct Session {
    pub(crate) access: String,
    pub(crate) refresh: String,
}

/// The seed's client: form logins, passwords given per account, and the seed's superuser.
pub(crate) trait SeedClient: Sized {
    /// Mail goes out through a backend that refuses every message (SES, unreachable here): the
    /// closest this deployment gets to the seed's "email service not configured".
    fn with_failing_mail(db: PgPool) -> Self;
    /// `GET path` without a token.
    async fn get(&self, path: &str) -> TestResponse;
    /// `POST /api/v1/auth/register` with a JSON body.
    async fn register(&self, email: &str, username: &str, password: &str) -> TestResponse;
    /// The seed's login: a form with the email in `username`.
    async fn login(&self, email: &str, password: &str) -> TestResponse;
    /// Registers and verifies an account through the API.
    async fn verified_user(&self, email: &str, username: &str, password: &str);
    /// Logs in (form); the access token and the refresh cookie.
    async fn session(&self, email: &str, password: &str) -> Session;
    /// Registers, verifies and logs in.
    async fn signed_in(&self, email: &str, username: &str, password: &str) -> Session;
    /// A signed-in superuser: registered through the API, then verified and promoted in the
    /// database (no route makes an administrator, and with a queue but no worker the
    /// verification mail never goes out).
    async fn superuser(&self) -> String;
}

impl SeedClient for TestApp {
    fn with_failing_mail(db: PgPool) -> Self {
        Self::with(db, &[("MAIL_BACKEND", "ses"), ("MAIL_FROM", "noreply@example.com")])
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.call("GET", path, None, None).await
    }

    async fn register(&self, email: &str, username: &str, password: &str) -> TestResponse {
        self.post_json("/api/v1/auth/register", &json!({"email": email, "username": username, "password": password}))
            .await
    }

    async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post_form("/api/v1/auth/login", &[("username", email), ("password", password)]).await
    }

    async fn verified_user(&self, email: &str, username: &str, password: &str) {
        let registered = self.register(email, username, password).await;
        assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
        self.verify_by_mail(email).await;
    }

    async fn session(&self, email: &str, password: &str) -> Session {
        let login = self.login(email, password).await;
        assert_eq!(login.status, StatusCode::OK, "{login:?}");
        let access = login.body["access_token"].as_str().expect("access token").to_owned();
        let refresh = login.refresh_cookie().expect("refresh cookie");
        Session { access, refresh }
    }

    async fn signed_in(&self, email: &str, username: &str, password: &str) -> Session {
        self.verified_user(email, username, password).await;
        self.session(email, password).await
    }

    async fn superuser(&self) -> String {
        let (email, password) = ("admin-user@example.com", "Adm1n-Passw0rd!");
        let registered = self.register(email, "chief", password).await;
        assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
        sqlx::query("update users set is_verified = true, is_superuser = true where email = $1")
            .bind(email)
            .execute(&self.state.db)
            .await
            .expect("promote");
        self.session(email, password).await.access
    }
}

/// The seed's `UserResponse` for `email`/`username` answered with `status`: its keys, and never
/// a password field.
#[track_caller]
pub(crate) fn assert_user_response(response: &TestResponse, status: StatusCode, email: &str, username: &str) {
    assert_eq!(response.status, status, "{response:?}");
    for key in ["id", "email", "username", "date_created"] {
        assert!(response.body.get(key).is_some(), "{key}: {response:?}");
    }
    assert!(response.body.get("password").is_none());
    assert!(response.body.get("hashed_password").is_none());
    assert_eq!(response.body["email"], email);
    assert_eq!(response.body["username"], username);
}

/// Google and Apple sign-in against keys served from 127.0.0.1: the provider's verifier is real,
/// only its keys are local.
pub(crate) mod oidc {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use test_support::keys::{OTHER_RSA_PEM, RSA_PEM, serve_jwks};

    use super::*;

    pub(crate) const GOOGLE_CLIENT_ID: &str = "seed-cases.apps.googleusercontent.com";
    pub(crate) const APPLE_CLIENT_ID: &str = "com.example.seed-cases";

    /// The local key set: where it is served and the key id tokens name.
    pub(crate) struct Jwks {
        pub(crate) url: String,
        kid: String,
    }

    /// Serves the public half of the test key as a JWKS on a free local port.
    pub(crate) async fn serve() -> Jwks {
        let (url, kid) = serve_jwks().await;
        Jwks { url, kid }
    }

    /// Google configured against `jwks`.
    pub(crate) fn google_vars(jwks: &Jwks) -> Vec<(&'static str, String)> {
        vec![("GOOGLE_CLIENT_ID", GOOGLE_CLIENT_ID.to_owned()), ("GOOGLE_JWKS_URL", jwks.url.clone())]
    }

    /// Apple configured against `jwks`.
    pub(crate) fn apple_vars(jwks: &Jwks) -> Vec<(&'static str, String)> {
        vec![("APPLE_CLIENT_ID", APPLE_CLIENT_ID.to_owned()), ("APPLE_JWKS_URL", jwks.url.clone())]
    }

    /// An app with the given providers' variables.
    pub(crate) fn app(db: PgPool, vars: &[(&'static str, String)]) -> TestApp {
        let extra: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
        TestApp::with(db, &extra)
    }

    /// A Google ID token for `sub` and `email` (a verified address), with `overrides` applied.
    pub(crate) fn google_token(jwks: &Jwks, sub: &str, email: &str, overrides: &[(&str, Value)]) -> String {
        token(jwks, RSA_PEM, "https://accounts.google.com", GOOGLE_CLIENT_ID, sub, email, overrides)
    }

    /// An Apple ID token for `sub` and `email`.
    pub(crate) fn apple_token(jwks: &Jwks, sub: &str, email: &str) -> String {
        token(jwks, RSA_PEM, "https://appleid.apple.com", APPLE_CLIENT_ID, sub, email, &[])
    }

    /// A Google ID token signed by a key the provider never published.
    pub(crate) fn forged_google_token(jwks: &Jwks, sub: &str, email: &str) -> String {
        token(jwks, OTHER_RSA_PEM, "https://accounts.google.com", GOOGLE_CLIENT_ID, sub, email, &[])
    }

    fn token(
        jwks: &Jwks,
        pem: &str,
        issuer: &str,
        audience: &str,
        sub: &str,
        email: &str,
        overrides: &[(&str, Value)],
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": issuer, "aud": audience, "sub": sub, "email": email, "email_verified": true,
            "name": "Seed Case", "iat": now, "exp": now + 600,
        });
        for (key, value) in overrides {
            claims[*key] = value.clone();
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(jwks.kid.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem")).expect("sign")
    }

    /// `POST /api/v1/auth/oauth/login`.
    pub(crate) async fn login(app: &TestApp, provider: &str, token: &str) -> TestResponse {
        app.post_json("/api/v1/auth/oauth/login", &json!({"provider": provider, "access_token": token})).await
    }
}
