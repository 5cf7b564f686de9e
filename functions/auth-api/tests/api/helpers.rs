//! Test harness: the real auth and users routers around a fresh, migrated database per test,
//! with mail written to a private directory.

#[path = "../../../worker/tests/support/rate_limit_window.rs"]
mod rate_limit_window;

use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::{AppState, Config};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

pub(crate) const PASSWORD: &str = "Str0ng-Passw0rd!";

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) mail_dir: PathBuf,
    /// The state behind the router: its `db` is the test's database, for arranging and checking
    /// rows directly, and scheduled jobs run against it.
    pub(crate) state: AppState,
}

pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl TestApp {
    pub(crate) fn new(db: PgPool) -> Self {
        Self::with(db, &[("RATE_LIMIT_ENABLED", "false")])
    }

    pub(crate) fn with(db: PgPool, extra: &[(&str, &str)]) -> Self {
        let mail_dir = std::env::temp_dir().join(format!("auth-api-mail-{}", uuid::Uuid::new_v4()));
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), "postgres://unused@127.0.0.1:1/unused".into()),
            ("JWT_SECRET".into(), "test-secret-test-secret-test-secret-0123".into()),
            ("MAIL_DIR".into(), mail_dir.display().to_string()),
            ("FRONTEND_URL".into(), "http://localhost:3000".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("test config");
        if config.rate_limit_enabled {
            rate_limit_window::leave_room_in_the_rate_limit_window();
        }
        let state = AppState::with_pool(config, db);
        let routes = auth_api::routes(&state).merge(users_api::routes(&state));
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

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.send(json_request("POST", path, body)).await
    }

    pub(crate) async fn register(&self, email: &str, username: &str) -> TestResponse {
        self.post_json("/api/v1/auth/register", &json!({"email": email, "username": username, "password": PASSWORD}))
            .await
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post_json("/api/v1/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Registers, verifies through the mailed link, and logs in; returns the access token.
    pub(crate) async fn signed_in_user(&self, email: &str, username: &str) -> String {
        assert_eq!(self.register(email, username).await.status, StatusCode::CREATED);
        let token = self.last_mailed_token(email);
        let verified = self.post_json("/api/v1/auth/verify-email", &json!({"token": token})).await;
        assert_eq!((verified.status, &verified.body["verified"]), (StatusCode::OK, &json!(true)));
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        login.body["access_token"].as_str().expect("token").to_owned()
    }

    pub(crate) async fn get_me(&self, access_token: &str) -> TestResponse {
        let request = Request::get("/api/v1/users/me")
            .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    /// All mails sent to `to`, oldest first.
    pub(crate) fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| std::fs::read_to_string(p).expect("mail"))
            .filter(|mail| mail.contains(&format!("To: {to}\r\n")))
            .collect()
    }

    /// Has a reset-password and a confirm-deletion link mailed to `email`; returns both tokens.
    pub(crate) async fn mailed_account_links(&self, email: &str) -> (String, String) {
        self.post_json("/api/v1/auth/forgot-password", &json!({"email": email})).await;
        let reset = self.last_mailed_token(email);
        self.post_json("/api/v1/auth/request-deletion", &json!({"email": email})).await;
        (reset, self.last_mailed_token(email))
    }

    /// Asserts that neither link can reset the password or confirm a deletion any more.
    pub(crate) async fn assert_account_links_are_dead(&self, (reset, deletion): (String, String)) {
        let reset = self
            .post_json("/api/v1/auth/reset-password", &json!({"token": reset, "new_password": "Attacker-Passw0rd!"}))
            .await;
        assert_eq!(reset.body["password_reset"], false, "{:?}", reset.body);
        let confirm = self.post_json("/api/v1/auth/confirm-deletion", &json!({"token": deletion})).await;
        assert_eq!(confirm.body["deletion_confirmed"], false, "{:?}", confirm.body);
    }

    /// The token of the newest link mailed to `to`.
    #[track_caller]
    pub(crate) fn last_mailed_token(&self, to: &str) -> String {
        let mails = self.mails_to(to);
        let mail = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
        token_in(mail)
    }
}

/// Calls with a token, and the superuser and id lookups the admin, export and deletion tests share.
impl TestApp {
    /// Sends `method path` with a Bearer token (if any) and a JSON body (if any).
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

    pub(crate) async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        self.call("GET", path, Some(token), None).await
    }

    pub(crate) async fn patch_user(&self, token: &str, id: impl std::fmt::Display, body: &Value) -> TestResponse {
        self.call("PATCH", &format!("/api/v1/admin/users/{id}"), Some(token), Some(body)).await
    }

    /// A signed-in superuser (promoted directly in the database); returns the access token.
    pub(crate) async fn signed_in_superuser(&self, email: &str, username: &str) -> String {
        let token = self.signed_in_user(email, username).await;
        sqlx::query("update users set is_superuser = true where email = $1")
            .bind(email)
            .execute(&self.state.db)
            .await
            .expect("promote");
        token
    }

    pub(crate) async fn user_id(&self, email: &str) -> Uuid {
        sqlx::query_scalar("select id from users where email = $1")
            .bind(email)
            .fetch_one(&self.state.db)
            .await
            .expect("user id")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

/// The token of the first `token=` link in a mail's plain-text part.
pub(crate) fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("a link with a token") + "token=".len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

pub(crate) fn json_request(method: &str, path: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}
