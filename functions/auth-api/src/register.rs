//! `POST /api/v1/auth/register`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde::Deserialize;
use shared::AppState;
use shared::error::ApiResult;
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{UserResponse, rate_limit};
use shared::services::Caller;
use shared::services::registration::{self, Registration};
use utoipa::ToSchema;

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.register))
}

/// Registration body. Unknown fields, `is_superuser` included, are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "jane@example.com", "username": "jane", "password": "Str0ng-Passw0rd!"}))]
pub(crate) struct RegisterBody {
    email: String,
    /// 3 to 30 characters: letters, digits, underscores and hyphens.
    #[schema(min_length = 3, max_length = 30)]
    username: String,
    /// 8 to 128 characters.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    password: SecretString,
}

/// The username rules drop control characters before anything else, as the seed does.
impl DropsControlCharacters for RegisterBody {
    const FIELDS: &'static [&'static str] = &["username"];
}

/// Creates an unverified account and mails a verification link. An email that already has an
/// account gets the same 201 (its owner is mailed a notice instead), so registration does not
/// reveal who has an account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, body = UserResponse),
        (status = 400, description = "Username already taken. Please choose a different username."),
        (status = 422, description = "Validation error"),
        (status = 429, description = "Too many requests")
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    let input = Registration { email: body.email, username: body.username, password: body.password };
    let user = registration::register(&state, input, &caller).await?;
    Ok((StatusCode::CREATED, Json(UserResponse::from(&user))))
}
