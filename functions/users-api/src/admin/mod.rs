//! The superuser API: `/api/v1/admin/users…` (list, search, read, update flags, end sessions,
//! reset second factors, clear an undeliverable address, invite) and
//! `/api/v1/admin/audit-log`. Every handler takes [`Superuser`](shared::http::Superuser) first, so
//! anonymous callers get 401 and ordinary users 403 before any input is looked at.

pub(crate) mod audit;
pub(crate) mod invitations;
pub(crate) mod users;

use axum::Router;
use axum::routing::{delete, get, post};
use shared::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/users", get(users::list_users).post(invitations::invite_user))
        .route("/api/v1/admin/users/{id}", get(users::read_user).patch(users::update_user))
        .route("/api/v1/admin/users/{id}/sessions", delete(users::revoke_sessions))
        .route("/api/v1/admin/users/{id}/mfa", delete(users::reset_mfa))
        .route("/api/v1/admin/users/{id}/undeliverable", delete(users::clear_undeliverable))
        .route("/api/v1/admin/users/{id}/invite", post(invitations::resend_invitation))
        .route("/api/v1/admin/audit-log", get(audit::audit_log))
}

/// The `{id}` path segment as a UUID (422 at `["path", "id"]` when malformed).
pub(crate) use shared::http::IdPath as UserIdPath;
