//! `GET` and `PATCH /api/v1/users/me`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared::AppState;
use shared::error::ApiResult;
use shared::http::{AppJson, CurrentUser, UserResponse};
use shared::services::users;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/users/me", get(read_me).patch(update_me))
}

/// Fields a user may change on their own account.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "jane_doe"}))]
pub(crate) struct UpdateMe {
    /// 3 to 30 characters: letters, digits, underscores and hyphens.
    #[schema(min_length = 3, max_length = 30)]
    username: String,
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, description = "Not authenticated, or Could not validate credentials"))
)]
pub(crate) async fn read_me(current: CurrentUser) -> Json<UserResponse> {
    Json(UserResponse::from(&current.user))
}

/// Changes the signed-in user's username (same rules as registration).
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    request_body = UpdateMe,
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserResponse),
        (status = 400, description = "Username already taken. Please choose a different username."),
        (status = 422, description = "Validation error")
    )
)]
pub(crate) async fn update_me(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(body): AppJson<UpdateMe>,
) -> ApiResult<Json<UserResponse>> {
    let user = users::change_username(&state, current.user.id, &body.username).await?;
    Ok(Json(UserResponse::from(&user)))
}
