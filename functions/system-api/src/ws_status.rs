//! `GET /api/v1/ws/status`: open WebSocket connections per room (the seed's `/ws/status`), read
//! from the connections table, so it answers the same whichever instance holds the sockets.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::AppState;
use shared::error::ApiError;
use shared::time::now_rfc3339;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/ws/status", get(ws_status))
}

/// Body of `GET /api/v1/ws/status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WsStatus {
    /// Open connections whose session is live.
    total_connections: i64,
    /// Rooms with at least one connection, sorted.
    active_rooms: Vec<String>,
    /// Connections per room.
    room_connections: BTreeMap<String, i64>,
    timestamp: String,
}

/// WebSocket connection counts; 503 when the database is unreachable.
#[utoipa::path(
    get,
    path = "/api/v1/ws/status",
    tag = "websocket",
    responses((status = 200, body = WsStatus), (status = 503, description = "Database unavailable"))
)]
pub(crate) async fn ws_status(State(state): State<AppState>) -> Result<Json<WsStatus>, ApiError> {
    let status = shared::services::ws::status(&state).await?;
    let room_connections: BTreeMap<String, i64> = status.room_connections.into_iter().collect();
    Ok(Json(WsStatus {
        total_connections: status.total_connections,
        active_rooms: room_connections.keys().cloned().collect(),
        room_connections,
        timestamp: now_rfc3339(),
    }))
}
