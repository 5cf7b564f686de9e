//! The superuser API: `/api/v1/admin/users…` (list, search, read, update flags, end sessions) and
//! `/api/v1/admin/audit-log`. Every handler takes [`Superuser`](shared::http::Superuser) first, so
//! anonymous callers get 401 and ordinary users 403 before any input is looked at.

pub(crate) mod audit;
pub(crate) mod users;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::{delete, get};
use serde_json::{Value, json};
use shared::AppState;
use shared::error::ApiError;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/users", get(users::list_users))
        .route("/api/v1/admin/users/{id}", get(users::read_user).patch(users::update_user))
        .route("/api/v1/admin/users/{id}/sessions", delete(users::revoke_sessions))
        .route("/api/v1/admin/audit-log", get(audit::audit_log))
}

/// The `{id}` path segment as a UUID; a malformed one is a FastAPI-style 422 at `["path", "id"]`
/// rather than axum's plain-text 400.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserIdPath(pub(crate) Uuid);

impl<S: Send + Sync> FromRequestParts<S> for UserIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let loc = || vec![json!("path"), json!("id")];
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::field("missing", loc(), "Field required", Value::Null))?;
        Uuid::parse_str(&raw).map(Self).map_err(|error| {
            ApiError::field("uuid_parsing", loc(), format!("Input should be a valid UUID, {error}"), json!(raw))
        })
    }
}
