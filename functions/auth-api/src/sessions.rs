//! `POST /auth/refresh`, `POST /auth/logout`, and the caller's sessions:
//! `GET /auth/sessions`, `DELETE /auth/sessions/{id}`, `DELETE /auth/sessions`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use shared::AppState;
use shared::error::{ApiError, ApiResult, ErrorCode};
use shared::http::{CurrentUser, cookies, cross_site, rate_limit};
use shared::services::Caller;
use shared::services::sessions;
use shared::time::rfc3339;
use utoipa::ToSchema;

use crate::responses::Message;
use uuid::Uuid;

use crate::login::TokenResponse;

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    // Refresh and logout read and set the session cookie: refused when another site sends them.
    let cookie_routes = Router::new()
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), cross_site::refuse));
    Router::new()
        .merge(cookie_routes)
        .route("/api/v1/auth/sessions", get(list_sessions).delete(revoke_other_sessions))
        .route("/api/v1/auth/sessions/{session_id}", delete(revoke_session))
        .route_layer(rate_limit::layer(state, state.config.rate_limits.default))
}

/// A live session of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionResponse {
    id: Uuid,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    device_info: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    /// The session this request belongs to.
    is_current: bool,
    /// `aal2` once a second factor was checked in this session, else `aal1`.
    #[schema(pattern = "^aal[12]$")]
    aal: &'static str,
}

/// Seed answer of `GET /auth/sessions`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"sessions": [{
    "id": "c1a4e2f0-8d3b-4c5e-9f6a-1b2c3d4e5f60", "created_at": "2026-12-07T09:30:12.345678Z",
    "last_used_at": "2026-12-07T09:44:02.120034Z", "expires_at": "2027-01-06T09:30:12.345678Z",
    "device_info": "Firefox on Linux", "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "is_current": true, "aal": "aal1"}], "total_sessions": 1}))]
pub(crate) struct SessionList {
    sessions: Vec<SessionResponse>,
    total_sessions: usize,
}

/// Seed answer of `DELETE /auth/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RevokedSessions {
    /// `Successfully revoked N sessions`.
    message: String,
    revoked_count: u64,
}

/// Exchanges the `refresh_token` cookie for a new access token and a new cookie (rotation).
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    responses(
        (status = 200, body = TokenResponse, description = "New access token and the successor cookie; a replay inside the grace window gets the same successor again while it is unused"),
        (status = 401, description = "No refresh token provided / Invalid refresh token"),
        (status = 403, description = "Cross-site request refused (another site's page sent it)")
    )
)]
pub(crate) async fn refresh(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Response> {
    let presented = cookies::read_refresh(&headers).ok_or_else(sessions::missing_refresh_token)?;
    let refreshed = sessions::refresh(&state, presented, &caller).await?;
    let body = TokenResponse::bearer(refreshed.access_token, refreshed.expires_in);
    Ok(match refreshed.refresh_token {
        Some(successor) => {
            ([(header::SET_COOKIE, cookies::set_refresh(&state.config, &successor))], Json(body)).into_response()
        }
        None => Json(body).into_response(),
    })
}

/// Ends the cookie's session and clears the cookie. Always 200.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses((status = 200, body = Message), (status = 403, description = "Cross-site request refused (another site's page sent it)"))
)]
pub(crate) async fn logout(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Response> {
    sessions::logout(&state, cookies::read_refresh(&headers), &caller).await?;
    let cleared = cookies::clear_refresh(&state.config);
    Ok(([(header::SET_COOKIE, cleared)], Json(Message::new("Successfully logged out"))).into_response())
}

/// The caller's live sessions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, description = "Not authenticated, or Could not validate credentials"))
)]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
) -> ApiResult<Json<SessionList>> {
    let current_id =
        sessions::current_session(&state, current.user.id, cookies::read_refresh(&headers), current.claims.sid).await?;
    let list = sessions::list(&state, current.user.id).await?;
    let sessions: Vec<SessionResponse> = list
        .into_iter()
        .map(|session| SessionResponse {
            is_current: session.id == current_id,
            id: session.id,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            device_info: session.device_info,
            ip_address: session.ip_address,
            user_agent: session.user_agent,
            aal: if session.aal >= 2 { "aal2" } else { "aal1" },
        })
        .collect();
    Ok(Json(SessionList { total_sessions: sessions.len(), sessions }))
}

/// Revokes one of the caller's own sessions.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions/{session_id}",
    tag = "auth",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "Session id (UUID)")),
    responses(
        (status = 200, body = Message),
        (status = 400, description = "Invalid session ID format"),
        (status = 404, description = "Session not found or already revoked (also for another user's session)")
    )
)]
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Message>> {
    let session_id = Uuid::parse_str(&session_id)
        .map_err(|_| ApiError::refused(ErrorCode::InvalidSessionId, "Invalid session ID format"))?;
    sessions::revoke_one(&state, current.user.id, session_id, &caller).await?;
    Ok(Json(Message::new("Session revoked successfully")))
}

/// Revokes every session of the caller except the current one.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = RevokedSessions), (status = 401, description = "Not authenticated, or Could not validate credentials"))
)]
pub(crate) async fn revoke_other_sessions(
    State(state): State<AppState>,
    current: CurrentUser,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<RevokedSessions>> {
    let current_id =
        sessions::current_session(&state, current.user.id, cookies::read_refresh(&headers), current.claims.sid).await?;
    let revoked_count = sessions::revoke_others(&state, current.user.id, current_id, &caller).await?;
    Ok(Json(RevokedSessions { message: format!("Successfully revoked {revoked_count} sessions"), revoked_count }))
}
