//! The router test client: a crate's real routes with the shared layers on, around a test
//! database, called in-process (no socket), with the mail it sends written to a private
//! directory.

use std::marker::PhantomData;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::AppState;
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use crate::config::{app_config, temp_mail_dir};

/// The routes a crate's tests serve: implemented once per test crate on a unit struct, then
/// `type TestApp = test_support::TestApp<ThatStruct>;`.
pub trait Routes {
    /// The routes under test, before [`shared::http::finish`] puts the shared layers on.
    fn routes(state: &AppState) -> Router<AppState>;
}

/// An app under test: `R`'s routes around a state; removes its mail directory when dropped.
pub struct TestApp<R> {
    /// The finished router, as the function serves it.
    pub router: Router,
    /// Where the file mailer writes this app's mail (see [`TestApp::mails_to`]).
    pub mail_dir: PathBuf,
    /// The state behind the router: its `db` is the test's database, for arranging and checking
    /// rows directly and for running jobs against it.
    pub state: AppState,
    routes: PhantomData<fn() -> R>,
}

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The JSON body, or the text as a JSON string when it is not JSON.
    pub body: Value,
    /// The body as text, for pages and for searching the raw answer.
    pub text: String,
}

impl TestResponse {
    /// The body as JSON; panics (naming the text) when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `refresh_token` cookie this response sets, if any.
    pub fn refresh_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|cookie| cookie.split(';').next()?.trim().strip_prefix("refresh_token=").map(str::to_owned))
            .find(|token| !token.is_empty())
    }
}

impl<R: Routes> TestApp<R> {
    /// The app with the test defaults of [`app_config`]: no rate limits, tasks run inline.
    pub fn new(db: PgPool) -> Self {
        Self::with(db, &[])
    }

    /// The app with `vars` on top of the test defaults.
    pub fn with(db: PgPool, vars: &[(&str, &str)]) -> Self {
        let mail_dir = temp_mail_dir();
        let state = AppState::with_pool(app_config(&mail_dir, vars), db);
        Self::from_state(state, mail_dir)
    }

    /// An app whose database is never reached, for answers given before any query.
    pub fn offline(vars: &[(&str, &str)]) -> Self {
        let mail_dir = temp_mail_dir();
        let state = AppState::new(app_config(&mail_dir, vars));
        Self::from_state(state, mail_dir)
    }

    /// Around a state the test built or adjusted (a queue swapped in, say); `mail_dir` is removed
    /// with the app.
    pub fn from_state(state: AppState, mail_dir: PathBuf) -> Self {
        let router = shared::http::finish(R::routes(&state), state.clone());
        Self { router, mail_dir, state, routes: PhantomData }
    }
}

impl<R> TestApp<R> {
    /// Sends `request` through the router.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send(self.router.clone(), request).await
    }

    /// Sends `method path` with a Bearer token (if any) and a JSON body (if any).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> TestResponse {
        self.send(request(method, path, token, body)).await
    }

    /// `GET path` with a Bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        self.call("GET", path, Some(token), None).await
    }

    /// `POST path` with a JSON body and no token.
    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.send(json_request("POST", path, body)).await
    }

    /// An `application/x-www-form-urlencoded` POST, as browsers and the seed's clients log in.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    /// `method path` with a `refresh_token` cookie and, optionally, a Bearer token.
    pub async fn with_cookie(&self, method: &str, path: &str, refresh: &str, token: Option<&str>) -> TestResponse {
        let mut builder =
            Request::builder().method(method).uri(path).header(header::COOKIE, format!("refresh_token={refresh}"));
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(builder.body(Body::empty()).expect("request")).await
    }

    /// Verifies `email` with the link of the newest mail sent to it.
    pub async fn verify_by_mail(&self, email: &str) {
        let token = self.last_mailed_token(email);
        let verified = self.post_json("/api/v1/auth/verify-email", &json!({"token": token})).await;
        assert_eq!((verified.status, &verified.body["verified"]), (StatusCode::OK, &json!(true)), "{verified:?}");
    }

    /// All mails sent to `to`, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<String> {
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

    /// The token of the newest link mailed to `to`.
    #[track_caller]
    pub fn last_mailed_token(&self, to: &str) -> String {
        let mails = self.mails_to(to);
        let mail = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
        token_in(mail)
    }

    /// The id of the account with `email`.
    pub async fn user_id(&self, email: &str) -> Uuid {
        sqlx::query_scalar("select id from users where email = $1")
            .bind(email)
            .fetch_one(&self.state.db)
            .await
            .expect("user id")
    }
}

impl<R> Drop for TestApp<R> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

/// Sends `request` through `router`, for tests that build a router themselves.
pub async fn send(router: Router, request: Request<Body>) -> TestResponse {
    let response = router.oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(text.clone()));
    TestResponse { status, headers, body, text }
}

/// `method path` with a Bearer token (if any) and a JSON body (if any).
pub fn request(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
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
    builder.body(body).expect("request")
}

/// `method path` with a JSON body, for tests that add to the request (extensions, headers).
pub fn json_request(method: &str, path: &str, body: &Value) -> Request<Body> {
    request(method, path, None, Some(body))
}

/// `GET path`, no token.
pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

/// The token of the first `token=` link in a mail's plain-text part.
pub fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("a link with a token") + "token=".len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
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
