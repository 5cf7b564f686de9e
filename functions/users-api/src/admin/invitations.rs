//! `POST /admin/users` (invite someone) and `POST /admin/users/{id}/invite` (send it again).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::error::ApiResult;
use shared::http::{AppJson, Superuser};
use shared::services::Caller;
use shared::services::invitations::{self, Invitation};
use utoipa::ToSchema;

use super::UserIdPath;
use super::users::AdminUser;

/// Who to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteUser {
    /// The registration rules apply.
    #[schema(format = Email)]
    email: String,
    /// Generated (`user_<8 hex>`) when omitted; the invitee may choose another on accepting.
    username: Option<String>,
    /// Make the account an administrator (default false).
    #[serde(default)]
    is_superuser: bool,
}

/// Answer of a re-sent invitation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationSent {
    detail: &'static str,
}

/// Creates an active, unverified account without a password and mails the invitee a link
/// (`{FRONTEND_URL}/accept-invite?token=…`, 7 days) to choose one.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    request_body = InviteUser,
    responses(
        (status = 201, body = AdminUser),
        (status = 400, description = "Email already registered / Username already taken"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Validation error")
    )
)]
pub(crate) async fn invite_user(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    AppJson(body): AppJson<InviteUser>,
) -> ApiResult<(StatusCode, Json<AdminUser>)> {
    let invitation = Invitation { email: body.email, username: body.username, is_superuser: body.is_superuser };
    let user = invitations::invite(&state, admin.user.id, invitation, &caller).await?;
    Ok((StatusCode::CREATED, Json(AdminUser::from(user))))
}

/// Mails a new invitation link, voiding the previous one, to an account that has not accepted.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{id}/invite",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, body = InvitationSent),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "User not found"),
        (status = 409, description = "The account has no pending invitation (`invitation_not_pending`)"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn resend_invitation(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    UserIdPath(id): UserIdPath,
) -> ApiResult<Json<InvitationSent>> {
    invitations::resend(&state, admin.user.id, id, &caller).await?;
    Ok(Json(InvitationSent { detail: "Invitation sent" }))
}
