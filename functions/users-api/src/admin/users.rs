//! `GET /admin/users`, `GET` and `PATCH /admin/users/{id}`, `DELETE /admin/users/{id}/sessions`,
//! `DELETE /admin/users/{id}/mfa`, `DELETE /admin/users/{id}/undeliverable`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::domain::pagination::Pagination;
use shared::error::ApiResult;
use shared::http::{AppJson, AppQuery, Superuser};
use shared::repo::user_details::{UserDetails, UserFilter};
use shared::services::Caller;
use shared::services::admin::{self, FlagChanges};
use shared::time::rfc3339;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::UserIdPath;

/// An account as administrators see it: the public fields plus lifecycle and security state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminUser {
    id: Uuid,
    email: String,
    username: String,
    is_verified: bool,
    is_superuser: bool,
    is_active: bool,
    created_at: String,
    updated_at: String,
    password_changed_at: Option<String>,
    deletion_requested_at: Option<String>,
    /// Set while a deletion is pending.
    deletion_scheduled_for: Option<String>,
    failed_login_count: i32,
    /// Logins are refused until then (back-off).
    locked_until: Option<String>,
    /// False for accounts that only sign in through Google/Apple, and for invitees who have not
    /// accepted yet.
    has_password: bool,
    /// `bounce` or `complaint` when SES reported the address undeliverable: mail to it is dropped
    /// until an administrator clears the flag (`DELETE /admin/users/{id}/undeliverable`).
    email_undeliverable: Option<String>,
}

impl From<UserDetails> for AdminUser {
    fn from(user: UserDetails) -> Self {
        Self {
            id: user.id,
            email: user.email,
            username: user.username,
            is_verified: user.is_verified,
            is_superuser: user.is_superuser,
            is_active: user.is_active,
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
            password_changed_at: user.password_changed_at.map(rfc3339),
            deletion_requested_at: user.deletion_requested_at.map(rfc3339),
            deletion_scheduled_for: user.deletion_scheduled_for.map(rfc3339),
            failed_login_count: user.failed_login_count,
            locked_until: user.locked_until.map(rfc3339),
            has_password: user.has_password,
            email_undeliverable: user.email_undeliverable,
        }
    }
}

/// One page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminUserPage {
    items: Vec<AdminUser>,
    /// Matching accounts on all pages.
    total: i64,
    page: i64,
    size: i64,
}

/// Filters and page of `GET /admin/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListUsersQuery {
    /// Page number, from 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    size: Option<i64>,
    /// Case-insensitive substring of the email or username.
    search: Option<String>,
    is_verified: Option<bool>,
    is_superuser: Option<bool>,
    is_active: Option<bool>,
    /// Accounts with a scheduled deletion.
    pending_deletion: Option<bool>,
}

/// Flags an administrator may change; omitted (or null) fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUser {
    is_active: Option<bool>,
    is_superuser: Option<bool>,
    is_verified: Option<bool>,
}

/// Answer of `DELETE /admin/users/{id}/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionsRevoked {
    detail: &'static str,
    /// Sessions ended by this request.
    revoked: u64,
}

/// Lists accounts, newest first, with search, filters and pagination.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, body = AdminUserPage),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Not enough permissions"),
        (status = 422, description = "Invalid query parameter")
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    _admin: Superuser,
    AppQuery(query): AppQuery<ListUsersQuery>,
) -> ApiResult<Json<AdminUserPage>> {
    let pagination = Pagination::new(query.page, query.size)?;
    let filter = UserFilter {
        search: query.search.map(|search| search.trim().to_owned()).filter(|search| !search.is_empty()),
        is_verified: query.is_verified,
        is_superuser: query.is_superuser,
        is_active: query.is_active,
        pending_deletion: query.pending_deletion,
    };
    let page = admin::list_users(&state, &filter, pagination).await?;
    Ok(Json(AdminUserPage {
        items: page.items.into_iter().map(AdminUser::from).collect(),
        total: page.total,
        page: page.request.page,
        size: page.request.size,
    }))
}

/// One account.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, body = AdminUser),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "User not found"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn read_user(
    State(state): State<AppState>,
    _admin: Superuser,
    UserIdPath(id): UserIdPath,
) -> ApiResult<Json<AdminUser>> {
    let user = admin::find_user(&state, id).await?;
    Ok(Json(AdminUser::from(user)))
}

/// Activates/deactivates an account, grants/withdraws administrator rights, or sets the email
/// verified flag. Deactivation ends the account's sessions at once. The last active superuser
/// cannot be demoted or deactivated.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = UpdateUser,
    responses(
        (status = 200, body = AdminUser),
        (status = 400, description = "Cannot remove the last active superuser"),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "User not found"),
        (status = 422, description = "Validation error")
    )
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    UserIdPath(id): UserIdPath,
    AppJson(body): AppJson<UpdateUser>,
) -> ApiResult<Json<AdminUser>> {
    let changes =
        FlagChanges { is_active: body.is_active, is_superuser: body.is_superuser, is_verified: body.is_verified };
    let user = admin::update_user(&state, admin.user.id, id, changes, &caller).await?;
    Ok(Json(AdminUser::from(user)))
}

/// Ends every session of an account (its access and refresh tokens stop working at once).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/sessions",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, body = SessionsRevoked),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "User not found"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn revoke_sessions(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    UserIdPath(id): UserIdPath,
) -> ApiResult<Json<SessionsRevoked>> {
    let revoked = admin::revoke_sessions(&state, admin.user.id, id, &caller).await?;
    Ok(Json(SessionsRevoked { detail: "Sessions revoked", revoked }))
}

/// Answer of `DELETE /admin/users/{id}/mfa`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MfaReset {
    /// `Second factors removed`.
    detail: &'static str,
    /// How many factors were removed.
    removed: u64,
}

/// Removes every second factor of an account (a lost authenticator and lost recovery codes),
/// ends its sessions and mails the owner. 404 when it has none.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/mfa",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, body = MfaReset),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "User not found, or no second factor (`mfa_factor_not_found`)"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn reset_mfa(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    UserIdPath(id): UserIdPath,
) -> ApiResult<Json<MfaReset>> {
    let removed = shared::services::mfa::reset_by_admin(&state, admin.user.id, id, &caller).await?;
    Ok(Json(MfaReset { detail: "Second factors removed", removed }))
}

/// Answer of `DELETE /admin/users/{id}/undeliverable`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UndeliverableCleared {
    /// `Mail will be sent to the address again`.
    detail: &'static str,
}

/// Lets mail go to an account's address again after SES reported it undeliverable (a hard
/// bounce or a complaint), once its owner has fixed the mailbox. 404 when it is not marked. SES's
/// own suppression list is separate: remove the address there too, or the next mail bounces again.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/undeliverable",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, body = UndeliverableCleared),
        (status = 403, description = "Not enough permissions"),
        (status = 404, description = "User not found, or the address is not marked (`not_found`)"),
        (status = 422, description = "Malformed id")
    )
)]
pub(crate) async fn clear_undeliverable(
    State(state): State<AppState>,
    Superuser(admin): Superuser,
    caller: Caller,
    UserIdPath(id): UserIdPath,
) -> ApiResult<Json<UndeliverableCleared>> {
    shared::services::mail_feedback::clear_by_admin(&state, admin.user.id, id, &caller).await?;
    Ok(Json(UndeliverableCleared { detail: "Mail will be sent to the address again" }))
}
