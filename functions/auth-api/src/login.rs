//! `POST /api/v1/auth/login`: form (`username` = email, `password`, as OAuth2 password flow
//! clients and the seed send it) or JSON (`email`, `password`).

use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::AppState;
use shared::error::{ApiError, ApiResult};
use shared::http::{AppJson, cookies, rate_limit};
use shared::services::Caller;
use shared::services::login::{self, Credentials};
use utoipa::ToSchema;

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.login))
}

/// JSON login body; `username` is accepted in place of `email` for seed clients.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginBody {
    #[serde(alias = "username")]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Form login body (OAuth2 password flow): the email goes in `username`. `scope`, `client_id`
/// and `client_secret` are accepted and unused, as in the seed.
#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: SecretString,
    /// Must be `password` when sent (the password grant).
    grant_type: Option<String>,
}

/// FastAPI's 422 for a form `grant_type` other than `password`.
fn wrong_grant_type(given: &str) -> ApiError {
    ApiError::field(
        "string_pattern_mismatch",
        vec![json!("body"), json!("grant_type")],
        "String should match pattern '^password$'",
        json!(given),
    )
}

/// Successful login or refresh.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

impl TokenResponse {
    pub(crate) fn bearer(access_token: String, expires_in: i64) -> Self {
        Self { access_token, token_type: "bearer", expires_in }
    }
}

/// Either body format, decided by `Content-Type`.
pub(crate) struct LoginInput(Credentials);

impl FromRequest<AppState> for LoginInput {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let Form(form) = Form::<LoginForm>::from_request(request, state).await.map_err(|rejection| {
                ApiError::field("missing", vec![json!("body")], rejection.body_text(), Value::Null).into_response()
            })?;
            if let Some(grant_type) = form.grant_type.as_deref().filter(|grant| *grant != "password") {
                return Err(wrong_grant_type(grant_type).into_response());
            }
            return Ok(Self(Credentials { email: form.username, password: form.password }));
        }
        let AppJson(body) = AppJson::<LoginBody>::from_request(request, state).await?;
        Ok(Self(Credentials { email: body.email, password: body.password }))
    }
}

/// Signs in: returns an access token and sets the `refresh_token` cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body(content = LoginBody, description = "JSON, or a form with `username` (the email) and `password`"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Invalid email format (malformed or disposable address)"),
        (status = 401, description = "Invalid email or password / email not verified"),
        (status = 422, description = "Missing fields, or a form grant_type other than password"),
        (status = 429, description = "Too many requests or login back-off")
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    caller: Caller,
    LoginInput(credentials): LoginInput,
) -> ApiResult<Response> {
    let success = login::login(&state, credentials, &caller).await?;
    let body = TokenResponse::bearer(success.access_token, success.expires_in);
    let cookie = cookies::set_refresh(&state.config, &success.refresh_token);
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}
