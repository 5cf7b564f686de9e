//! The devserver's composition of every function's routes, shared by its binary and its tests.

use axum::Router;
use shared::AppState;

/// All routes the deployed functions serve, merged under one base URL.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new().merge(system_api::routes()).merge(auth_api::routes(state)).merge(users_api::routes(state))
}
