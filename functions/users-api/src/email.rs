//! `POST /api/v1/users/me/email`: the first step of an email change (the mailed links are
//! confirmed and undone through auth-api).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::error::ApiResult;
use shared::http::{AppJson, CurrentUser};
use shared::services::Caller;
use shared::services::email_change::{self, REQUESTED_REPLY};
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/users/me/email", post(request_email_change))
}

/// Body of an email change request.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EmailChangeBody {
    /// The address to move the account to; the registration rules apply.
    #[schema(format = Email)]
    new_email: String,
    /// The account's current password.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// `{"message"}`: the same whether or not the new address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmailChangeRequested {
    message: &'static str,
}

/// Mails a confirmation link to the new address; the account keeps its address until the link is
/// opened. The answer is the same when the new address belongs to another account (whose owner
/// is told instead).
#[utoipa::path(
    post,
    path = "/api/v1/users/me/email",
    tag = "users",
    request_body = EmailChangeBody,
    security(("bearer" = [])),
    responses(
        (status = 202, body = EmailChangeRequested),
        (status = 400, description = "Incorrect password (`incorrect_password`), or the account has none (`password_not_set`)"),
        (status = 422, description = "The new address breaks a registration rule, or is the current one"),
        (status = 429, description = "Too many wrong passwords (`login_backoff`)")
    )
)]
pub(crate) async fn request_email_change(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
    AppJson(body): AppJson<EmailChangeBody>,
) -> ApiResult<(StatusCode, Json<EmailChangeRequested>)> {
    email_change::request(&state, &current.user, &body.new_email, body.password, &caller).await?;
    Ok((StatusCode::ACCEPTED, Json(EmailChangeRequested { message: REQUESTED_REPLY })))
}
