//! WebSocket connections: who may connect, and what each frame does. The `ws`
//! function and the devserver both call these, with their own [`Publisher`].

use chrono::Utc;
use futures_util::StreamExt;
use uuid::Uuid;

use crate::AppState;
use crate::domain::rate_limit::Limit;
use crate::domain::ws::{
    self, Command, Counts, DEFAULT_ROOM, FRAMES_PER_MINUTE, MAX_ROOMS_PER_CONNECTION, OpenConnections, Sender,
};
use crate::error::{ApiError, ErrorCode};
use crate::ports::{PublishError, Publisher};
use crate::repo::{rate_limits, sessions, ws_connections as repo};
use crate::time::now_rfc3339;

/// Why a handshake is refused; the caller answers with the status of [`Rejection::code`] before
/// upgrading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No token, or a token that is invalid or whose session ended.
    Unauthorized,
    /// A browser page from an origin not in `BACKEND_CORS_ORIGINS`.
    ForbiddenOrigin,
    /// The session or its account already holds as many open connections as its cap allows
    /// (`WS_MAX_CONNECTIONS_PER_SESSION`, `WS_MAX_CONNECTIONS_PER_USER`).
    TooManyConnections,
}

impl Rejection {
    /// The stable code, as in every other error body; it also fixes the handshake's status.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Unauthorized => ErrorCode::NotAuthenticated,
            Self::ForbiddenOrigin => ErrorCode::ForbiddenOrigin,
            Self::TooManyConnections => ErrorCode::TooManyConnections,
        }
    }

    /// The human-readable message of the refusal.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Unauthorized => "Not authenticated",
            Self::ForbiddenOrigin => "Origin not allowed",
            Self::TooManyConnections => {
                "Too many open WebSocket connections for this session or account; close one first"
            }
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        ApiError::refused(rejection.code(), rejection.detail())
    }
}

/// Checks a handshake and registers the connection in the default room. `origin` is the
/// `Origin` header: browsers always send it, so a page from another site cannot connect with a
/// stolen token; clients that are not browsers send none.
pub async fn connect(
    state: &AppState,
    connection_id: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> Result<Uuid, ConnectError> {
    if let Some(origin) = origin
        && !state.config.cors_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    {
        return Err(ConnectError::Rejected(Rejection::ForbiddenOrigin));
    }
    let token = token.filter(|token| !token.is_empty()).ok_or(ConnectError::Rejected(Rejection::Unauthorized))?;
    let keys = state.config.require_jwt().map_err(|error| ConnectError::Internal(error.into()))?;
    let claims = keys.verify(token).map_err(|_| ConnectError::Rejected(Rejection::Unauthorized))?;
    let user = sessions::live_session_user(&state.db, claims.sid, claims.sub)
        .await
        .map_err(|error| ConnectError::Internal(error.into()))?
        .ok_or(ConnectError::Rejected(Rejection::Unauthorized))?;
    register_within_caps(state, connection_id, user.id, claims.sid).await?;
    Ok(user.id)
}

/// Stores the connection in the default room unless its session or account already holds as
/// many open connections as [`ws::ConnectionCaps`] allow. The count and the insert run under a
/// lock on the account's row (its cap spans sessions), so concurrent handshakes are admitted one
/// at a time and two of them cannot both take the last place.
async fn register_within_caps(
    state: &AppState,
    connection_id: &str,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(), ConnectError> {
    let mut tx = state.db.begin().await?;
    repo::lock_owner(&mut *tx, user_id).await?;
    let (of_session, of_user) = repo::count_open(&mut *tx, user_id, session_id, connection_id).await?;
    if !state.config.ws_connection_caps.admit(OpenConnections { of_session, of_user }) {
        return Err(ConnectError::Rejected(Rejection::TooManyConnections));
    }
    repo::open(&mut *tx, connection_id, user_id, session_id, DEFAULT_ROOM).await?;
    tx.commit().await?;
    Ok(())
}

/// A handshake that did not complete.
#[derive(Debug)]
pub enum ConnectError {
    /// Refused: answer with the rejection's status.
    Rejected(Rejection),
    /// The database or configuration failed: answer 500/503.
    Internal(ApiError),
}

impl From<sqlx::Error> for ConnectError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// Forgets a closed connection.
pub async fn disconnect(state: &AppState, connection_id: &str) -> Result<(), ApiError> {
    Ok(repo::close(&state.db, connection_id).await?)
}

/// Runs one text frame from `connection_id`. A connection whose session ended is closed
/// instead; a receiver that is gone is forgotten.
pub async fn on_frame(
    state: &AppState,
    publisher: &dyn Publisher,
    connection_id: &str,
    frame: &str,
) -> Result<(), ApiError> {
    let Some(connection) = repo::live(&state.db, connection_id).await? else {
        repo::close(&state.db, connection_id).await?;
        let _ = publisher.close(connection_id).await;
        return Ok(());
    };
    let now = now_rfc3339();
    if !within_frame_limit(state, connection.session_id).await? {
        let reply = ws::error(&format!("Too many messages: at most {FRAMES_PER_MINUTE} a minute per session"), &now);
        return push(state, publisher, connection_id, &reply).await;
    }
    let reply = match ws::parse(frame) {
        Command::Echo { message } => ws::echo(&message, &now),
        Command::Broadcast { message } => {
            let user_id = connection.user_id.to_string();
            let sender = Sender { user_id: &user_id, username: &connection.username };
            let frame = ws::broadcast("broadcast", &message, DEFAULT_ROOM, &sender, &now);
            deliver(state, publisher, DEFAULT_ROOM, &frame).await?;
            return Ok(());
        }
        Command::RoomBroadcast { message, room } => {
            if !repo::is_in(&state.db, connection_id, &room).await? {
                ws::error(&format!("Join room {room} before broadcasting to it"), &now)
            } else {
                let user_id = connection.user_id.to_string();
                let sender = Sender { user_id: &user_id, username: &connection.username };
                let frame = ws::broadcast("room_broadcast", &message, &room, &sender, &now);
                deliver(state, publisher, &room, &frame).await?;
                return Ok(());
            }
        }
        Command::Join { room } => {
            if repo::join(&state.db, connection_id, &room, MAX_ROOMS_PER_CONNECTION).await? {
                ws::joined(&room, &now)
            } else {
                ws::error(&format!("Cannot join room {room}: at most {MAX_ROOMS_PER_CONNECTION} rooms"), &now)
            }
        }
        Command::Leave { room } => {
            if repo::leave(&state.db, connection_id, &room).await? {
                ws::left(&room, &now)
            } else {
                ws::error(&format!("Cannot leave room {room}: not in it, or it is the only one"), &now)
            }
        }
        Command::Status { room } => {
            let counts = Counts {
                total_connections: repo::count_live(&state.db).await?,
                room_connections: repo::count_in_room(&state.db, &room).await?,
                current_rooms: repo::rooms_of(&state.db, connection_id).await?,
            };
            ws::status(&room, &counts, &now)
        }
        Command::Invalid { reason } => ws::error(&reason, &now),
    };
    push(state, publisher, connection_id, &reply).await
}

/// Pushes going out at once for one broadcast: a room of hundreds is served in a few round
/// trips instead of one after another.
const CONCURRENT_PUSHES: usize = 32;

/// A connection younger than this may still be in its handshake, when a push answers "gone".
const HANDSHAKE_GRACE_SECONDS: i32 = 10;

/// Sends `frame` to every live connection in `room`, forgetting the gone ones. A receiver that
/// fails is logged and skipped; it never stops the others.
async fn deliver(state: &AppState, publisher: &dyn Publisher, room: &str, frame: &str) -> Result<(), ApiError> {
    let receivers = repo::in_room(&state.db, room).await?;
    futures_util::stream::iter(receivers)
        .for_each_concurrent(CONCURRENT_PUSHES, |receiver| async move {
            if let Err(error) = push(state, publisher, &receiver, frame).await {
                tracing::warn!(connection_id = %receiver, error = ?error, "could not forget a gone connection");
            }
        })
        .await;
    Ok(())
}

async fn push(state: &AppState, publisher: &dyn Publisher, connection_id: &str, frame: &str) -> Result<(), ApiError> {
    match publisher.send(connection_id, frame).await {
        Ok(()) => Ok(()),
        Err(PublishError::Gone) => Ok(repo::close_gone(&state.db, connection_id, HANDSHAKE_GRACE_SECONDS).await?),
        Err(PublishError::Failed(error)) => {
            tracing::warn!(%connection_id, %error, "WebSocket push failed");
            Ok(())
        }
    }
}

/// Counts a frame against its session's per-minute allowance. The counter is the session's, not
/// the connection's, so every socket a token opens draws on one budget: opening more of them
/// buys no more frames.
async fn within_frame_limit(state: &AppState, session_id: Uuid) -> Result<bool, ApiError> {
    if !state.config.rate_limit_enabled {
        return Ok(true);
    }
    let limit = Limit { name: "ws_session_frames", max: FRAMES_PER_MINUTE, window_seconds: 60 };
    let now = Utc::now();
    let key = format!("{}:{session_id}", limit.name);
    let count = rate_limits::hit(&state.db, &key, limit.window_start(now)).await?;
    Ok(limit.decide(count, now).allowed)
}

/// Closes the connections of sessions that ended (logout, revocation, deactivation) and forgets
/// them; returns how many. The devserver runs it on its ticker; on AWS the next frame from such
/// a connection closes it.
pub async fn close_dead(state: &AppState, publisher: &dyn Publisher) -> Result<u64, ApiError> {
    let dead = repo::of_dead_sessions(&state.db, 1000).await?;
    for connection_id in &dead {
        let _ = publisher.close(connection_id).await;
        repo::close(&state.db, connection_id).await?;
    }
    Ok(dead.len() as u64)
}

/// Rooms the status endpoint lists at most (the busiest ones).
pub const STATUS_MAX_ROOMS: i64 = 50;

/// Connection counts for `GET /api/v1/ws/status` (the seed's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Live connections.
    pub total_connections: i64,
    /// Connections per room, the [`STATUS_MAX_ROOMS`] busiest.
    pub room_connections: Vec<(String, i64)>,
}

/// The counts for the status endpoint.
pub async fn status(state: &AppState) -> Result<Status, ApiError> {
    Ok(Status {
        total_connections: repo::count_live(&state.db).await?,
        room_connections: repo::count_by_room(&state.db, STATUS_MAX_ROOMS).await?,
    })
}
