//! `users-api`: `/api/v1/users/*` — the signed-in user's own account. Admin routes join later.

mod me;

use axum::Router;
use axum::http::{HeaderValue, header};
use shared::AppState;
use shared::domain::rate_limit::Limit;
use shared::http::rate_limit;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

/// OpenAPI description of this function's routes.
#[derive(OpenApi)]
#[openapi(paths(me::read_me, me::update_me), tags((name = "users", description = "The caller's account")))]
pub struct ApiDoc;

/// The routes of this function, without fallback or shared middleware; the seed's default
/// limit (100/min per client) is attached here, so it needs the state.
pub fn routes(state: &AppState) -> Router<AppState> {
    me::routes()
        .route_layer(rate_limit::layer(state, Limit::DEFAULT))
        // Account data is personal: never cache it.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

/// The complete, ready-to-serve router of this function.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(&state), state)
}
