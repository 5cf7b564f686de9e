//! The devserver's WebSocket endpoint, `GET /api/v1/ws?token=…` (also at the seed's
//! `/api/v1/ws/demo`): the handshake and
//! every frame go through `shared::services::ws`, the same code the `ws` function runs, with the
//! in-process [`LocalHub`] standing in for API Gateway's Management API.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use shared::AppState;
use shared::adapters::local_ws::{HubMessage, LocalHub};
use shared::domain::ws::{self as protocol, MAX_FRAME_BYTES};
use shared::error::ApiError;
use shared::services::ws::{self as service, ConnectError};
use shared::time::now_rfc3339;
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

/// Largest message the socket itself accepts. Above the protocol's limit, so a frame that is
/// merely too large gets the protocol's error frame instead of a dropped connection.
const SOCKET_MESSAGE_LIMIT: usize = 2 * MAX_FRAME_BYTES;

/// The WebSocket routes, pushing through `hub`: ours and the seed's demo path, one handler.
pub(crate) fn routes(hub: Arc<LocalHub>) -> Router<AppState> {
    Router::new().route("/api/v1/ws", get(handshake)).route("/api/v1/ws/demo", get(handshake)).layer(Extension(hub))
}

/// Authenticates the handshake, then upgrades. A refused handshake gets its plain HTTP status
/// before any upgrade, so clients can tell "log in again" from a network error.
async fn handshake(
    State(state): State<AppState>,
    Extension(hub): Extension<Arc<LocalHub>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers.get(SEC_WEBSOCKET_PROTOCOL).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let token = query.get("token").map(String::as_str).or_else(|| protocol::token_from_subprotocols(offered));
    let origin = headers.get(ORIGIN).and_then(|value| value.to_str().ok());
    let connection_id = Uuid::new_v4().to_string();
    // Registered before the row exists, so a broadcast during the handshake finds a receiver.
    let outbox = hub.register(&connection_id);
    let refused = match service::connect(&state, &connection_id, token, origin).await {
        Ok(_) => None,
        // The body the `ws` function answers `$connect` with. A 429 has no `Retry-After`: a place
        // frees when a connection closes, not after a known time.
        Err(ConnectError::Rejected(rejection)) => Some(ApiError::from(rejection).into_response()),
        Err(ConnectError::Internal(error)) => Some(error.into_response()),
    };
    if let Some(response) = refused {
        hub.unregister(&connection_id);
        return response;
    }
    // A client that offered subprotocols drops a socket whose answer selects none.
    let upgrade = match protocol::selected_subprotocol(offered) {
        Some(selected) => upgrade.protocols([selected.to_owned()]),
        None => upgrade,
    };
    let failed = (state.clone(), connection_id.clone(), hub.clone());
    upgrade
        .max_message_size(SOCKET_MESSAGE_LIMIT)
        .max_frame_size(SOCKET_MESSAGE_LIMIT)
        .on_failed_upgrade(move |error| {
            tracing::debug!(%error, "WebSocket upgrade failed");
            let (state, connection_id, hub) = failed;
            hub.unregister(&connection_id);
            tokio::spawn(async move { forget(&state, &connection_id).await });
        })
        .on_upgrade(move |socket| serve(state, hub, connection_id, outbox, socket))
}

/// Runs one socket: frames the hub pushes go out, text frames coming in go to the protocol.
async fn serve(
    state: AppState,
    hub: Arc<LocalHub>,
    connection_id: String,
    mut outbox: UnboundedReceiver<HubMessage>,
    mut socket: WebSocket,
) {
    loop {
        tokio::select! {
            pushed = outbox.recv() => match pushed {
                Some(HubMessage::Frame(frame)) => {
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Some(HubMessage::Close) | None => {
                    let frame = CloseFrame { code: close_code::POLICY, reason: "Session ended".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
            },
            received = socket.recv() => match received {
                Some(Ok(Message::Text(frame))) => {
                    if let Err(error) = service::on_frame(&state, hub.as_ref(), &connection_id, frame.as_str()).await {
                        tracing::warn!(%connection_id, error = ?error, "WebSocket frame failed");
                        let reply = protocol::error("Internal server error", &now_rfc3339());
                        if socket.send(Message::Text(reply.into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let reply = protocol::error("Binary frames are not supported; send JSON text", &now_rfc3339());
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                // axum answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    hub.unregister(&connection_id);
    forget(&state, &connection_id).await;
}

async fn forget(state: &AppState, connection_id: &str) {
    if let Err(error) = service::disconnect(state, connection_id).await {
        tracing::warn!(%connection_id, error = ?error, "could not forget a closed WebSocket connection");
    }
}
