//! `POST /api/v1/auth/confirm-email-change` and `POST /api/v1/auth/undo-email-change`: the two
//! mailed links of an email change (the request itself is `POST /api/v1/users/me/email`).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use shared::AppState;
use shared::error::ApiResult;
use shared::http::json::CleanedJson;
use shared::http::rate_limit;
use shared::services::email_change::{
    self, CHANGED_REPLY, INVALID_CHANGE_TOKEN_REPLY, INVALID_UNDO_TOKEN_REPLY, UNDONE_REPLY,
};
use shared::services::{Caller, TokenUse};
use utoipa::ToSchema;

use crate::verification::TokenBody;

/// The default per-client limit: the tokens are 256-bit, so a tighter one would guard nothing
/// and only trip a user who confirms and undoes within a minute of verifying.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/confirm-email-change", post(confirm_email_change))
        .route("/api/v1/auth/undo-email-change", post(undo_email_change))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default))
}

/// Answer of `confirm-email-change`: 200 either way, `email_changed` says whether the token worked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeReply {
    message: &'static str,
    email_changed: bool,
}

/// Answer of `undo-email-change`: 200 either way, `email_change_undone` says whether it worked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UndoReply {
    message: &'static str,
    email_change_undone: bool,
}

/// Switches the account to the address the link was mailed to and marks it verified; the old
/// address gets an undo link. An unknown, expired or used token is `email_changed: false`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/confirm-email-change",
    tag = "auth",
    request_body = TokenBody,
    responses(
        (status = 200, body = ChangeReply),
        (status = 400, description = "The address was registered by another account since the request (`email_exists`)")
    )
)]
pub(crate) async fn confirm_email_change(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<TokenBody>,
) -> ApiResult<Json<ChangeReply>> {
    let reply = match email_change::confirm(&state, body.token(), &caller).await? {
        TokenUse::Accepted(()) => ChangeReply { message: CHANGED_REPLY, email_changed: true },
        TokenUse::Invalid => ChangeReply { message: INVALID_CHANGE_TOKEN_REPLY, email_changed: false },
    };
    Ok(Json(reply))
}

/// Puts back the address an email change replaced and signs every session out.
#[utoipa::path(
    post,
    path = "/api/v1/auth/undo-email-change",
    tag = "auth",
    request_body = TokenBody,
    responses(
        (status = 200, body = UndoReply),
        (status = 400, description = "The old address was registered by another account since (`email_exists`)")
    )
)]
pub(crate) async fn undo_email_change(
    State(state): State<AppState>,
    caller: Caller,
    CleanedJson(body): CleanedJson<TokenBody>,
) -> ApiResult<Json<UndoReply>> {
    let reply = match email_change::undo(&state, body.token(), &caller).await? {
        TokenUse::Accepted(()) => UndoReply { message: UNDONE_REPLY, email_change_undone: true },
        TokenUse::Invalid => UndoReply { message: INVALID_UNDO_TOKEN_REPLY, email_change_undone: false },
    };
    Ok(Json(reply))
}
