//! `users-api`: `/api/v1/users/*` — the signed-in user's own account and data export — and the
//! superuser API under `/api/v1/admin/*`.

mod admin;
mod email;
mod export;
mod me;

use axum::Router;
use axum::http::{HeaderValue, header};
use shared::AppState;
use shared::http::rate_limit;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

/// OpenAPI description of this function's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        me::read_me,
        me::update_me,
        email::request_email_change,
        export::export_me,
        admin::users::list_users,
        admin::users::read_user,
        admin::users::update_user,
        admin::users::revoke_sessions,
        admin::users::reset_mfa,
        admin::users::clear_undeliverable,
        admin::invitations::invite_user,
        admin::invitations::resend_invitation,
        admin::audit::audit_log,
    ),
    tags(
        (name = "users", description = "The caller's account"),
        (name = "admin", description = "Superuser administration of accounts and the audit log")
    )
)]
pub struct ApiDoc;

/// The routes of this function, without fallback or shared middleware; the seed's default
/// limit (100/min per client) is attached here, so it needs the state.
pub fn routes(state: &AppState) -> Router<AppState> {
    me::routes()
        .merge(email::routes())
        .merge(export::routes())
        .merge(admin::routes())
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default))
        // Account data is personal: never cache it.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

/// The complete, ready-to-serve router of this function.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(&state), state)
}
