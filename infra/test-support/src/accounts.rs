//! Signed-in callers: through the JSON API as a client would ([`Accounts`], for the crates that
//! serve the auth routes), or minted directly ([`mint_session`], for the ones that do not).

use chrono::Utc;
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use shared::AppState;
use shared::repo::sessions::{self, Origin};
use uuid::Uuid;

use crate::app::{TestApp, TestResponse};

/// The password of every account [`Accounts`] makes.
pub const PASSWORD: &str = "Str0ng-Passw0rd!";

/// Accounts through the JSON API of the auth and users routes, as the auth-api and users-api
/// tests make them. A trait rather than inherent methods, so that other clients (the seed cases'
/// form logins) can keep the same names for their own flows.
#[allow(async_fn_in_trait, reason = "awaited on the test's own task; no caller needs a Send bound")]
pub trait Accounts {
    /// `POST /api/v1/auth/register` with [`PASSWORD`].
    async fn register(&self, email: &str, username: &str) -> TestResponse;

    /// `POST /api/v1/auth/login` with a JSON body.
    async fn login(&self, email: &str, password: &str) -> TestResponse;

    /// Registers, verifies through the mailed link, and logs in; returns the access token.
    async fn signed_in_user(&self, email: &str, username: &str) -> String;

    /// A signed-in superuser (promoted directly in the database); returns the access token.
    async fn signed_in_superuser(&self, email: &str, username: &str) -> String;

    /// `GET /api/v1/users/me` with `access_token`: the probe of whether a token still works.
    async fn get_me(&self, access_token: &str) -> TestResponse;

    /// `PATCH /api/v1/admin/users/{id}` with `body`, as the superuser holding `token`.
    async fn patch_user(&self, token: &str, id: impl std::fmt::Display, body: &Value) -> TestResponse;

    /// Has a reset-password and a confirm-deletion link mailed to `email`; returns both tokens.
    async fn mailed_account_links(&self, email: &str) -> (String, String);

    /// Asserts that neither link can reset the password or confirm a deletion any more.
    async fn assert_account_links_are_dead(&self, links: (String, String));
}

impl<R> Accounts for TestApp<R> {
    async fn register(&self, email: &str, username: &str) -> TestResponse {
        self.post_json("/api/v1/auth/register", &json!({"email": email, "username": username, "password": PASSWORD}))
            .await
    }

    async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post_json("/api/v1/auth/login", &json!({"email": email, "password": password})).await
    }

    async fn signed_in_user(&self, email: &str, username: &str) -> String {
        assert_eq!(self.register(email, username).await.status, StatusCode::CREATED);
        self.verify_by_mail(email).await;
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        login.body["access_token"].as_str().expect("token").to_owned()
    }

    async fn signed_in_superuser(&self, email: &str, username: &str) -> String {
        let token = self.signed_in_user(email, username).await;
        sqlx::query("update users set is_superuser = true where email = $1")
            .bind(email)
            .execute(&self.state.db)
            .await
            .expect("promote");
        token
    }

    async fn get_me(&self, access_token: &str) -> TestResponse {
        let request = Request::get("/api/v1/users/me")
            .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
            .body(axum::body::Body::empty())
            .expect("request");
        self.send(request).await
    }

    async fn patch_user(&self, token: &str, id: impl std::fmt::Display, body: &Value) -> TestResponse {
        self.call("PATCH", &format!("/api/v1/admin/users/{id}"), Some(token), Some(body)).await
    }

    async fn mailed_account_links(&self, email: &str) -> (String, String) {
        self.post_json("/api/v1/auth/forgot-password", &json!({"email": email})).await;
        let reset = self.last_mailed_token(email);
        self.post_json("/api/v1/auth/request-deletion", &json!({"email": email})).await;
        (reset, self.last_mailed_token(email))
    }

    async fn assert_account_links_are_dead(&self, (reset, deletion): (String, String)) {
        let reset = self
            .post_json("/api/v1/auth/reset-password", &json!({"token": reset, "new_password": "Attacker-Passw0rd!"}))
            .await;
        assert_eq!(reset.body["password_reset"], false, "{:?}", reset.body);
        let confirm = self.post_json("/api/v1/auth/confirm-deletion", &json!({"token": deletion})).await;
        assert_eq!(confirm.body["deletion_confirmed"], false, "{:?}", confirm.body);
    }
}

/// A live session (a day long) for the account `user_id` with `email`, and an access token for
/// it, written directly: signs callers in where no login route is served, or where a test needs
/// many sessions. Returns the session id and the token.
pub async fn mint_session(state: &AppState, user_id: Uuid, email: &str) -> (Uuid, String) {
    let now = Utc::now();
    let session = sessions::create(
        &state.db,
        user_id,
        now + chrono::Duration::days(1),
        &Origin::default(),
        &password_assurance(),
    )
    .await
    .expect("session");
    let keys = state.config.require_jwt().expect("signing key");
    let (token, _) = keys.issue(user_id, email, session, &password_assurance(), now).expect("token");
    (session, token)
}

/// The assurance of a password sign-in, for sessions written directly.
pub fn password_assurance() -> shared::domain::assurance::Assurance {
    shared::domain::assurance::Assurance::first_factor(shared::domain::assurance::PASSWORD)
}

/// Registers an account with [`PASSWORD`] through `router` (a function's own router, as Lambda
/// runs it) and checks the 201: for tests that need what a registration leaves behind, its
/// outbox row and delivery job.
pub async fn register_through(router: axum::Router, email: &str, username: &str) {
    use tower::ServiceExt;
    let body = json!({"email": email, "username": username, "password": PASSWORD});
    let response = router.oneshot(crate::app::json_request("POST", "/api/v1/auth/register", &body)).await;
    assert_eq!(response.expect("response").status(), StatusCode::CREATED);
}
