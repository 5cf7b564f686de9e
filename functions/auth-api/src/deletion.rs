//! `POST /auth/request-deletion`, `POST /auth/confirm-deletion`, `POST /auth/cancel-deletion`,
//! `GET /auth/deletion-status` — the seed's GDPR deletion flow, with cancel and status bound to
//! the signed-in caller.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::AppState;
use shared::domain::deletion::confirmation_message;
use shared::error::{ApiError, ApiResult};
use shared::http::json::{CleanedJson, DropsControlCharacters};
use shared::http::{AppJson, CurrentUser, rate_limit};
use shared::services::deletion::{self, INVALID_TOKEN_REPLY, REQUEST_REPLY};
use shared::services::{Caller, TokenUse};
use shared::time::{now_rfc3339, rfc3339};
use utoipa::ToSchema;

use crate::responses::{EmailSent, lookup_email};

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let anonymous = Router::new()
        .route("/api/v1/auth/request-deletion", post(request_deletion))
        .route("/api/v1/auth/confirm-deletion", post(confirm_deletion))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.account_deletion));
    // Signed-in routes get the ordinary limit, so anonymous requests from a shared address
    // cannot use up the owner's chance to cancel.
    let signed_in = Router::new()
        .route("/api/v1/auth/cancel-deletion", post(cancel_deletion))
        .route("/api/v1/auth/deletion-status", get(deletion_status))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default));
    anonymous.merge(signed_in)
}

/// Body of `request-deletion`. With a Bearer token the email may be left out: the link then goes
/// to the signed-in account.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct RequestBody {
    email: Option<String>,
}

/// Body of `confirm-deletion`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ConfirmBody {
    token: String,
}

/// The token is cleaned of control characters before use, as the seed cleans it.
impl DropsControlCharacters for ConfirmBody {
    const FIELDS: &'static [&'static str] = &["token"];
}

/// Seed answer of `confirm-deletion`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfirmReply {
    message: String,
    deletion_confirmed: bool,
    /// When the account will be purged, RFC 3339 UTC.
    deletion_scheduled_for: String,
}

/// Seed answer of `cancel-deletion`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CancelReply {
    message: &'static str,
    deletion_cancelled: bool,
}

/// Seed answer of `deletion-status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusReply {
    deletion_requested: bool,
    deletion_confirmed: bool,
    /// RFC 3339 UTC, or null when nothing is scheduled.
    deletion_scheduled_for: Option<String>,
    can_cancel: bool,
    grace_period_days: u32,
}

/// Mails a link that confirms the deletion of the account. The answer is the same whether or
/// not an account has that address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/request-deletion",
    tag = "auth",
    request_body = RequestBody,
    responses(
        (status = 200, body = EmailSent),
        (status = 401, description = "A Bearer token was sent and is invalid"),
        (status = 422, description = "Malformed email, or no email and no Bearer token")
    )
)]
pub(crate) async fn request_deletion(
    State(state): State<AppState>,
    current: Option<CurrentUser>,
    caller: Caller,
    AppJson(body): AppJson<RequestBody>,
) -> ApiResult<Json<EmailSent>> {
    match (current, body.email) {
        (Some(current), _) => deletion::request_for(&state, &current.user, &caller).await?,
        (None, Some(email)) => {
            let email = lookup_email(&email)?;
            deletion::request_by_email(&state, &email, &caller).await?
        }
        (None, None) => return Err(missing_email()),
    }
    Ok(Json(EmailSent::new(REQUEST_REPLY)))
}

/// FastAPI's answer for a missing field: without a Bearer token the email is required.
fn missing_email() -> ApiError {
    ApiError::field("missing", vec![json!("body"), json!("email")], "Field required", json!({}))
}

/// Confirms the deletion with the mailed token; the account is purged after the grace period
/// unless the user signs in and cancels.
#[utoipa::path(
    post,
    path = "/api/v1/auth/confirm-deletion",
    tag = "auth",
    request_body = ConfirmBody,
    responses(
        (status = 200, body = ConfirmReply),
        (status = 400, description = "The only active superuser cannot delete their account")
    )
)]
pub(crate) async fn confirm_deletion(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<ConfirmBody>,
) -> ApiResult<Json<ConfirmReply>> {
    let reply = match deletion::confirm(&state, &body.token, &caller).await? {
        TokenUse::Accepted(at) => ConfirmReply {
            message: confirmation_message(at),
            deletion_confirmed: true,
            deletion_scheduled_for: rfc3339(at),
        },
        // The seed answers a bad token with 200, `deletion_confirmed: false` and "now".
        TokenUse::Invalid => ConfirmReply {
            message: INVALID_TOKEN_REPLY.to_owned(),
            deletion_confirmed: false,
            deletion_scheduled_for: now_rfc3339(),
        },
    };
    Ok(Json(reply))
}

/// Cancels the caller's pending deletion. No body is needed.
#[utoipa::path(
    post,
    path = "/api/v1/auth/cancel-deletion",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = CancelReply), (status = 401, description = "Not authenticated, or Could not validate credentials"))
)]
pub(crate) async fn cancel_deletion(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
) -> ApiResult<Json<CancelReply>> {
    let reply = if deletion::cancel(&state, &current.user, &caller).await? {
        CancelReply { message: "Account deletion has been cancelled. Your account is safe.", deletion_cancelled: true }
    } else {
        CancelReply { message: "There is no pending account deletion to cancel.", deletion_cancelled: false }
    };
    Ok(Json(reply))
}

/// The caller's deletion status.
#[utoipa::path(
    get,
    path = "/api/v1/auth/deletion-status",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = StatusReply), (status = 401, description = "Not authenticated, or Could not validate credentials"))
)]
pub(crate) async fn deletion_status(
    State(state): State<AppState>,
    current: CurrentUser,
) -> ApiResult<Json<StatusReply>> {
    let status = deletion::status(&state, &current.user).await?;
    Ok(Json(StatusReply {
        deletion_requested: status.requested(),
        deletion_confirmed: status.confirmed(),
        deletion_scheduled_for: status.scheduled_for.map(rfc3339),
        can_cancel: status.can_cancel(),
        grace_period_days: state.config.deletion_grace_days,
    }))
}
