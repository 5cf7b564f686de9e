//! The harness of the seed cases: every function's routes under one app, as the devserver
//! serves them, around a fresh migrated database per test, with mail written to a private
//! directory (one `.eml` file per message) and no rate limits unless a test turns them on.
//!
//! Accounts are set up through the API (register, then the link from the verification mail);
//! the database is touched directly only where no route exists (expiring a token, promoting a
//! superuser).

#[path = "../../../../functions/worker/tests/support/rate_limit_window.rs"]
mod rate_limit_window;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::adapters::local_ws::LocalHub;
use shared::{AppState, Config};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

/// The HS256 secret of every test app.
pub(crate) const JWT_SECRET: &str = "seed-cases-secret-seed-cases-secret-0123";

pub(crate) struct TestApp {
    router: Router,
    mail_dir: PathBuf,
    /// The state behind the router; its `db` is the test's database.
    pub(crate) state: AppState,
}

#[derive(Debug)]
pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The JSON body, or the text as a JSON string when it is not JSON.
    pub(crate) body: Value,
}

impl TestResponse {
    /// The body as the seed's tests search it: its serialized text.
    pub(crate) fn text(&self) -> String {
        self.body.to_string()
    }

    /// A header's value, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `refresh_token` this response sets, if any.
    pub(crate) fn refresh_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|cookie| cookie.split(';').next()?.trim().strip_prefix("refresh_token=").map(str::to_owned))
            .find(|token| !token.is_empty())
    }
}

/// A signed-in session: the access token and the refresh cookie's value.
pub(crate) struct Session {
    pub(crate) access: String,
    pub(crate) refresh: String,
}

fn config(mail_dir: &std::path::Path, database_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("DB_ACQUIRE_TIMEOUT_MS".into(), "500".into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("MAIL_DIR".into(), mail_dir.display().to_string()),
        ("FRONTEND_URL".into(), "http://localhost:3000".into()),
        ("RATE_LIMIT_ENABLED".into(), "false".into()),
    ];
    vars.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
    let config = Config::from_lookup(|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        .expect("test config");
    if config.rate_limit_enabled {
        rate_limit_window::leave_room_in_the_rate_limit_window();
    }
    config
}

fn temp_mail_dir() -> PathBuf {
    std::env::temp_dir().join(format!("seed-cases-mail-{}", Uuid::new_v4()))
}

impl TestApp {
    /// The default configuration: file mail, tasks run inline, no rate limits.
    pub(crate) fn new(db: PgPool) -> Self {
        Self::with(db, &[])
    }

    /// The default configuration with `extra` variables on top.
    pub(crate) fn with(db: PgPool, extra: &[(&str, &str)]) -> Self {
        let mail_dir = temp_mail_dir();
        // The pool is the test's; the URL only has to be valid.
        let state = AppState::with_pool(config(&mail_dir, "postgres://unused@127.0.0.1:1/unused", extra), db);
        Self::around(state, mail_dir)
    }

    /// An app whose database is never reached, for cases answered before any query.
    pub(crate) fn offline(extra: &[(&str, &str)]) -> Self {
        let mail_dir = temp_mail_dir();
        let state = AppState::new(config(&mail_dir, "postgres://unused@127.0.0.1:1/unused", extra));
        Self::around(state, mail_dir)
    }

    /// Mail goes out through a backend that refuses every message (SES, unreachable here): the
    /// closest this deployment gets to the seed's "email service not configured".
    pub(crate) fn with_failing_mail(db: PgPool) -> Self {
        Self::with(db, &[("MAIL_BACKEND", "ses"), ("MAIL_FROM", "noreply@example.com")])
    }

    fn around(state: AppState, mail_dir: PathBuf) -> Self {
        let routes = devserver::routes(&state, Arc::new(LocalHub::default()));
        Self { router: shared::http::finish(routes, state.clone()), mail_dir, state }
    }

    pub(crate) async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        TestResponse { status, headers, body }
    }

    /// `method path` with a Bearer token (if any) and a JSON body (if any).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("request")).await
    }

    pub(crate) async fn get(&self, path: &str) -> TestResponse {
        self.call("GET", path, None, None).await
    }

    pub(crate) async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        self.call("GET", path, Some(token), None).await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.call("POST", path, None, Some(body)).await
    }

    /// A request with a `refresh_token` cookie and, optionally, a Bearer token.
    pub(crate) async fn with_cookie(
        &self,
        method: &str,
        path: &str,
        refresh: &str,
        token: Option<&str>,
    ) -> TestResponse {
        let mut builder =
            Request::builder().method(method).uri(path).header(header::COOKIE, format!("refresh_token={refresh}"));
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(builder.body(Body::empty()).expect("request")).await
    }

    /// An `application/x-www-form-urlencoded` POST, as the seed's clients log in.
    pub(crate) async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    pub(crate) async fn register(&self, email: &str, username: &str, password: &str) -> TestResponse {
        self.post_json("/api/v1/auth/register", &json!({"email": email, "username": username, "password": password}))
            .await
    }

    /// The seed's login: a form with the email in `username`.
    pub(crate) async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post_form("/api/v1/auth/login", &[("username", email), ("password", password)]).await
    }

    /// Verifies `email` with the token of the newest mail sent to it.
    pub(crate) async fn verify_by_mail(&self, email: &str) {
        let token = self.last_mailed_token(email);
        let verified = self.post_json("/api/v1/auth/verify-email", &json!({"token": token})).await;
        assert_eq!((verified.status, &verified.body["verified"]), (StatusCode::OK, &json!(true)), "{verified:?}");
    }

    /// Registers and verifies an account through the API.
    pub(crate) async fn verified_user(&self, email: &str, username: &str, password: &str) {
        let registered = self.register(email, username, password).await;
        assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
        self.verify_by_mail(email).await;
    }

    /// Logs in (form); the access token and the refresh cookie.
    pub(crate) async fn session(&self, email: &str, password: &str) -> Session {
        let login = self.login(email, password).await;
        assert_eq!(login.status, StatusCode::OK, "{login:?}");
        let access = login.body["access_token"].as_str().expect("access token").to_owned();
        let refresh = login.refresh_cookie().expect("refresh cookie");
        Session { access, refresh }
    }

    /// Registers, verifies and logs in.
    pub(crate) async fn signed_in(&self, email: &str, username: &str, password: &str) -> Session {
        self.verified_user(email, username, password).await;
        self.session(email, password).await
    }

    /// A signed-in superuser: registered through the API, then verified and promoted in the
    /// database (no route makes an administrator, and with a queue but no worker the
    /// verification mail never goes out).
    pub(crate) async fn superuser(&self) -> String {
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

    pub(crate) async fn user_id(&self, email: &str) -> Uuid {
        sqlx::query_scalar("select id from users where email = $1")
            .bind(email)
            .fetch_one(&self.state.db)
            .await
            .expect("user id")
    }

    /// All mails sent to `to`, oldest first.
    pub(crate) fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|path| std::fs::read_to_string(path).expect("mail"))
            .filter(|mail| mail.contains(&format!("To: {to}\r\n")))
            .collect()
    }

    /// The token of the newest `token=` link mailed to `to`.
    #[track_caller]
    pub(crate) fn last_mailed_token(&self, to: &str) -> String {
        let mails = self.mails_to(to);
        let mail = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
        let start = mail.find("token=").expect("a link with a token") + "token=".len();
        mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

/// Percent-encodes a form value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Google and Apple sign-in against keys served from 127.0.0.1: the provider's verifier is real,
/// only its keys are local.
pub(crate) mod oidc {
    use super::*;

    const RSA_PEM: &str = include_str!("../../../../shared/tests/keys/test-rsa-private.pem");
    const OTHER_RSA_PEM: &str = include_str!("../../../../shared/tests/keys/test-rsa-other-private.pem");
    pub(crate) const GOOGLE_CLIENT_ID: &str = "seed-cases.apps.googleusercontent.com";
    pub(crate) const APPLE_CLIENT_ID: &str = "com.example.seed-cases";

    /// The local key set: where it is served and the key id tokens name.
    pub(crate) struct Jwks {
        pub(crate) url: String,
        kid: String,
    }

    /// Serves the public half of the test key as a JWKS on a free local port.
    pub(crate) async fn serve() -> Jwks {
        let keys = shared::security::jwt::JwtKeys::from_private_pem(RSA_PEM.as_bytes(), "x", "x", 60).expect("keys");
        let jwks = keys.jwks().expect("asymmetric");
        let kid = jwks.keys[0].common.key_id.clone().expect("kid");
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
        let address = listener.local_addr().expect("address");
        let app = Router::new().route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Jwks { url: format!("http://{address}/jwks"), kid }
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
