//! `auth-api`: `/api/v1/auth/*` — registration, email verification, login (password, mailed link
//! or code, and Google/Apple), second factors (TOTP), sessions, password reset and change, the links of an email change, and the GDPR
//! deletion flow.

mod deletion;
mod email_change;
mod invitations;
mod login;
mod magic_link;
mod mfa;
mod oauth;
mod passwords;
mod register;
mod responses;
mod sessions;
mod verification;

use axum::Router;
use http::{HeaderValue, header};
use shared::AppState;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

/// OpenAPI description of this function's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        register::register,
        login::login,
        verification::verify_email,
        verification::resend_verification,
        sessions::refresh,
        sessions::logout,
        sessions::list_sessions,
        sessions::revoke_session,
        sessions::revoke_other_sessions,
        passwords::forgot_password,
        passwords::reset_password,
        passwords::change_password,
        oauth::oauth_login,
        oauth::providers,
        deletion::request_deletion,
        deletion::confirm_deletion,
        deletion::cancel_deletion,
        deletion::deletion_status,
        email_change::confirm_email_change,
        email_change::undo_email_change,
        magic_link::request_magic_link,
        magic_link::verify_magic_link,
        invitations::accept_invite,
        mfa::enroll,
        mfa::verify,
        mfa::list_factors,
        mfa::remove,
        mfa::challenge,
    ),
    tags(
        (name = "auth", description = "Registration, verification and login"),
        (name = "mfa", description = "Second factors (TOTP), recovery codes, and step-up")
    )
)]
pub struct ApiDoc;

/// The routes of this function, without fallback or shared middleware; rate limits are attached
/// per route, so they need the state.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(register::routes(state))
        .merge(login::routes(state))
        .merge(verification::routes(state))
        .merge(sessions::routes(state))
        .merge(passwords::routes(state))
        .merge(oauth::routes(state))
        .merge(deletion::routes(state))
        .merge(email_change::routes(state))
        .merge(magic_link::routes(state))
        .merge(invitations::routes(state))
        .merge(mfa::routes(state))
        // Responses carry tokens and account data: never cache them.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

/// The complete, ready-to-serve router of this function.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(&state), state)
}
