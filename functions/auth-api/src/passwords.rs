//! `POST /auth/forgot-password`, `POST /auth/reset-password`, `POST /auth/change-password`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde::Deserialize;
use shared::AppState;
use shared::domain::rate_limit::Limit;
use shared::error::ApiResult;
use shared::http::uniform_latency::{ADDRESS_LOOKUP_FLOOR, no_sooner_than};
use shared::http::{AppJson, CurrentUser, rate_limit};
use shared::services::Caller;
use shared::services::passwords::{self, FORGOT_REPLY};
use utoipa::ToSchema;

use crate::responses::{Detail, lookup_email};

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let reset = Router::new()
        .route("/api/v1/auth/forgot-password", post(forgot_password))
        .route("/api/v1/auth/reset-password", post(reset_password))
        .route_layer(rate_limit::layer(state, Limit::PASSWORD_RESET));
    let change = Router::new()
        .route("/api/v1/auth/change-password", post(change_password))
        .route_layer(rate_limit::layer(state, Limit::DEFAULT));
    reset.merge(change)
}

/// Body of `forgot-password`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ForgotBody {
    email: String,
}

/// Body of `reset-password`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ResetBody {
    token: String,
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
}

/// Body of `change-password`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChangeBody {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
}

/// Mails a reset link; the answer and its timing are the same whether or not the account exists.
#[utoipa::path(
    post,
    path = "/api/v1/auth/forgot-password",
    tag = "auth",
    request_body = ForgotBody,
    responses((status = 200, body = Detail), (status = 422, description = "Malformed email"))
)]
pub(crate) async fn forgot_password(
    State(state): State<AppState>,
    AppJson(body): AppJson<ForgotBody>,
) -> ApiResult<Json<Detail>> {
    let email = lookup_email(&body.email)?;
    no_sooner_than(ADDRESS_LOOKUP_FLOOR, passwords::forgot(&state, &email)).await?;
    Ok(Json(Detail::new(FORGOT_REPLY)))
}

/// Sets a new password with the mailed token (single use); every session of the account ends.
#[utoipa::path(
    post,
    path = "/api/v1/auth/reset-password",
    tag = "auth",
    request_body = ResetBody,
    responses(
        (status = 200, body = Detail),
        (status = 400, description = "Invalid or expired reset token"),
        (status = 422, description = "The new password breaks a rule")
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<ResetBody>,
) -> ApiResult<Json<Detail>> {
    passwords::reset(&state, &body.token, body.new_password, &caller).await?;
    Ok(Json(Detail::new("Password has been reset successfully")))
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
