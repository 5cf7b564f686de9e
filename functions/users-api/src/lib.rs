//! `users-api`: `/api/v1/users/*` — the signed-in user's own account. Admin routes join later.

mod me;

use axum::Router;
use shared::AppState;
use utoipa::OpenApi;

/// OpenAPI description of this function's routes.
#[derive(OpenApi)]
#[openapi(paths(me::read_me, me::update_me), tags((name = "users", description = "The caller's account")))]
pub struct ApiDoc;

/// The routes of this function, without fallback or shared middleware.
pub fn routes() -> Router<AppState> {
    me::routes()
}

/// The complete, ready-to-serve router of this function.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(), state)
}
