//! `POST /auth/forgot-password`, `POST /auth/reset-password`, `POST /auth/change-password`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::error::ApiResult;
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{AppJson, CurrentUser, rate_limit};
use shared::services::passwords::{self, FORGOT_REPLY, INVALID_RESET_TOKEN_REPLY, RESET_REPLY};
use shared::services::{Caller, TokenUse};
use utoipa::ToSchema;

use crate::responses::{Detail, EmailSent, lookup_email};

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let reset = Router::new()
        .route("/api/v1/auth/forgot-password", post(forgot_password))
        .route("/api/v1/auth/reset-password", post(reset_password))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.password_reset));
    let change = Router::new()
        .route("/api/v1/auth/change-password", post(change_password))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default));
    reset.merge(change)
}

/// Body of `forgot-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "jane@example.com"}))]
pub(crate) struct ForgotBody {
    email: String,
}

/// Body of `reset-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"token": "Zr8kQm2w0b5Xy7TnV4pLs1HcJ9dGfE3uAiOqN6eRxYk", "new_password": "N3w-Passw0rd!x"}))]
pub(crate) struct ResetBody {
    token: String,
    /// 8 to 128 characters.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    new_password: SecretString,
}

/// The token is cleaned of control characters before use, as the seed cleans it.
impl DropsControlCharacters for ResetBody {
    const FIELDS: &'static [&'static str] = &["token"];
}

/// Body of `change-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "Str0ng-Passw0rd!", "new_password": "N3w-Passw0rd!x"}))]
pub(crate) struct ChangeBody {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    /// 8 to 128 characters.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 128)]
    new_password: SecretString,
}

/// Mails a reset link; the answer and its timing are the same whether or not the account exists.
#[utoipa::path(
    post,
    path = "/api/v1/auth/forgot-password",
    tag = "auth",
    request_body = ForgotBody,
    responses((status = 200, body = EmailSent), (status = 422, description = "Malformed email"))
)]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    AppJson(body): AppJson<ForgotBody>,
) -> ApiResult<Json<EmailSent>> {
    let email = lookup_email(&body.email)?;
    passwords::forgot(&state, &email).await?;
    Ok(Json(EmailSent::new(FORGOT_REPLY)))
}

/// Seed answer of `reset-password`: 200 either way, `password_reset` says whether it worked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResetReply {
    message: &'static str,
    password_reset: bool,
}

/// Sets a new password with the mailed token (single use); every session of the account ends.
/// An unknown, expired or used token is `password_reset: false`, as in the seed.
#[utoipa::path(
    post,
    path = "/api/v1/auth/reset-password",
    tag = "auth",
    request_body = ResetBody,
    responses((status = 200, body = ResetReply), (status = 422, description = "The new password breaks a rule"))
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<ResetBody>,
) -> ApiResult<Json<ResetReply>> {
    let reply = match passwords::reset(&state, &body.token, body.new_password, &caller).await? {
        TokenUse::Accepted(()) => ResetReply { message: RESET_REPLY, password_reset: true },
        TokenUse::Invalid => ResetReply { message: INVALID_RESET_TOKEN_REPLY, password_reset: false },
    };
    Ok(Json(reply))
}

/// Changes the caller's password; their other sessions end, this one keeps working.
#[utoipa::path(
    post,
    path = "/api/v1/auth/change-password",
    tag = "auth",
    request_body = ChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Detail),
        (status = 400, description = "Incorrect current password / OAuth users cannot change password"),
        (status = 422, description = "The new password breaks a rule")
    )
)]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
    AppJson(body): AppJson<ChangeBody>,
) -> ApiResult<Json<Detail>> {
    passwords::change(&state, &current.user, current.claims.sid, body.current_password, body.new_password, &caller)
        .await?;
    Ok(Json(Detail::new("Password updated successfully")))
}
