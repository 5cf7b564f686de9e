//! The WebSocket message protocol (the seed's demo protocol): what a client's text
//! frame asks for, and the JSON frames sent back. No I/O; the service applies it with the
//! connections table and a [`crate::ports::Publisher`].

use serde_json::{Map, Value, json};

/// Largest frame accepted, in bytes (API Gateway's WebSocket frame limit is 32 KiB).
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// The room every connection starts in.
pub const DEFAULT_ROOM: &str = "default";

/// Longest room name.
pub const MAX_ROOM_CHARS: usize = 64;

/// Rooms one connection may be in at once: each join is a row, and a frame must not grow them
/// without bound.
pub const MAX_ROOMS_PER_CONNECTION: i64 = 20;

/// Frames one session may send per minute, all its connections together: a broadcast costs one
/// push per receiver, so an unthrottled client could make the service work for everyone else's
/// share, and a budget per connection would grow with every socket the same token opens.
pub const FRAMES_PER_MINUTE: u32 = 120;

/// API Gateway's longest WebSocket connection life (2 hours). A row older than this lost its
/// `$disconnect` (API Gateway delivers it on a best-effort basis) and stands for no open
/// connection: it counts against no cap and the cleanup job forgets it.
pub const CONNECTION_LIFE_SECONDS: i32 = 2 * 60 * 60;

/// Connections one session and one account may hold open at once
/// (`WS_MAX_CONNECTIONS_PER_SESSION`, `WS_MAX_CONNECTIONS_PER_USER`). Every connection is a row,
/// a receiver of every broadcast in its rooms and a budget of rooms; without a cap one access
/// token could open sockets until the table, and each broadcast, grew without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Open connections per session (one sign-in on one device).
    pub per_session: u32,
    /// Open connections per account, all its sessions together.
    pub per_user: u32,
}

/// Live connections a session and its account already hold, not counting the one asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenConnections {
    /// Of the asking connection's session.
    pub of_session: i64,
    /// Of its account, every session.
    pub of_user: i64,
}

impl ConnectionCaps {
    /// Whether one more connection fits under both caps.
    pub fn admit(&self, open: OpenConnections) -> bool {
        open.of_session < i64::from(self.per_session) && open.of_user < i64::from(self.per_user)
    }
}

/// The access token offered in `Sec-WebSocket-Protocol` (browsers cannot set other headers on a
/// WebSocket): the first offered value shaped like a JWT (three dot-separated parts).
pub fn token_from_subprotocols(offered: &str) -> Option<&str> {
    offered.split(',').map(str::trim).find(|protocol| protocol.split('.').count() == 3 && !protocol.contains(' '))
}

/// The subprotocol to select in the handshake answer: a client that offers protocols drops a
/// socket whose answer selects none, so the token is selected when it came that way, else the
/// first offered value.
pub fn selected_subprotocol(offered: &str) -> Option<&str> {
    token_from_subprotocols(offered).or_else(|| offered.split(',').map(str::trim).find(|p| !p.is_empty()))
}

/// What a frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send the message back to the sender.
    Echo {
        /// What to echo (text frames that are not JSON are echoed as a string).
        message: Value,
    },
    /// Send to every connection in the default room.
    Broadcast {
        /// The message.
        message: Value,
    },
    /// Send to every connection in `room` (the sender must be in it).
    RoomBroadcast {
        /// The message.
        message: Value,
        /// Target room.
        room: String,
    },
    /// Add the connection to `room` (a connection may be in several).
    Join {
        /// Room to join.
        room: String,
    },
    /// Remove the connection from `room`.
    Leave {
        /// Room to leave.
        room: String,
    },
    /// Connection counts, for `room`.
    Status {
        /// Room whose count is reported.
        room: String,
    },
    /// Anything the protocol cannot do; answered with an error frame.
    Invalid {
        /// The error message sent back.
        reason: String,
    },
}

/// Reads one text frame. Text that is not a JSON object is echoed, as in the seed.
pub fn parse(frame: &str) -> Command {
    if frame.len() > MAX_FRAME_BYTES {
        return Command::Invalid { reason: format!("Message too large (at most {MAX_FRAME_BYTES} bytes)") };
    }
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(frame) else {
        return Command::Echo { message: Value::String(frame.to_owned()) };
    };
    let kind = fields.get("type").and_then(Value::as_str).unwrap_or("echo").to_owned();
    let message = fields.get("message").cloned().unwrap_or_else(|| Value::String(String::new()));
    let room = match room_of(&fields) {
        Ok(room) => room,
        Err(reason) => return Command::Invalid { reason },
    };
    match kind.as_str() {
        "echo" => Command::Echo { message },
        "broadcast" => Command::Broadcast { message },
        "room_broadcast" => Command::RoomBroadcast { message, room },
        // "room" is the seed's name for joining
        "join" | "room" => Command::Join { room },
        "leave" => Command::Leave { room },
        "status" => Command::Status { room },
        other => Command::Invalid { reason: format!("Unknown message type: {}", truncate(other, 64)) },
    }
}

fn room_of(fields: &Map<String, Value>) -> Result<String, String> {
    let room = match fields.get("room") {
        None | Some(Value::Null) => return Ok(DEFAULT_ROOM.to_owned()),
        Some(Value::String(room)) => room,
        Some(_) => return Err("Invalid room: it must be a string".into()),
    };
    let valid = !room.is_empty()
        && room.chars().count() <= MAX_ROOM_CHARS
        && room.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(room.clone())
    } else {
        Err(format!("Invalid room: 1 to {MAX_ROOM_CHARS} letters, digits, '_', '-' or '.'"))
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Who sent a broadcast, as receivers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender<'a> {
    /// The sender's account id.
    pub user_id: &'a str,
    /// The sender's username.
    pub username: &'a str,
}

/// `{"type":"echo","message":…}`.
pub fn echo(message: &Value, timestamp: &str) -> String {
    json!({"type": "echo", "message": message, "timestamp": timestamp}).to_string()
}

/// A broadcast frame (`broadcast` or `room_broadcast`) with its sender.
pub fn broadcast(kind: &str, message: &Value, room: &str, sender: &Sender<'_>, timestamp: &str) -> String {
    json!({
        "type": kind,
        "message": message,
        "room": room,
        "sender": {"user_id": sender.user_id, "username": sender.username},
        "timestamp": timestamp,
    })
    .to_string()
}

/// `{"type":"joined","room":…}`.
pub fn joined(room: &str, timestamp: &str) -> String {
    json!({"type": "joined", "room": room, "timestamp": timestamp}).to_string()
}

/// `{"type":"left","room":…}`.
pub fn left(room: &str, timestamp: &str) -> String {
    json!({"type": "left", "room": room, "timestamp": timestamp}).to_string()
}

/// The counts a `status` frame reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Open connections.
    pub total_connections: i64,
    /// Connections in the asked-about room.
    pub room_connections: i64,
    /// Rooms the asking connection is in.
    pub current_rooms: Vec<String>,
}

/// `{"type":"status",…}`.
pub fn status(room: &str, counts: &Counts, timestamp: &str) -> String {
    json!({
        "type": "status",
        "total_connections": counts.total_connections,
        "room_connections": counts.room_connections,
        "room": room,
        "current_rooms": counts.current_rooms,
        "timestamp": timestamp,
    })
    .to_string()
}

/// `{"type":"error","message":…}`.
pub fn error(reason: &str, timestamp: &str) -> String {
    json!({"type": "error", "message": reason, "timestamp": timestamp}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_type_is_understood() {
        assert_eq!(parse(r#"{"type":"echo","message":"hi"}"#), Command::Echo { message: json!("hi") });
        assert_eq!(parse(r#"{"type":"broadcast","message":{"a":1}}"#), Command::Broadcast { message: json!({"a": 1}) });
        assert_eq!(
            parse(r#"{"type":"room_broadcast","message":"m","room":"lobby"}"#),
            Command::RoomBroadcast { message: json!("m"), room: "lobby".into() }
        );
        assert_eq!(parse(r#"{"type":"join","room":"lobby"}"#), Command::Join { room: "lobby".into() });
        assert_eq!(parse(r#"{"type":"room","room":"lobby"}"#), Command::Join { room: "lobby".into() });
        assert_eq!(parse(r#"{"type":"leave","room":"lobby"}"#), Command::Leave { room: "lobby".into() });
        assert_eq!(parse(r#"{"type":"status"}"#), Command::Status { room: "default".into() });
    }

    #[test]
    fn defaults_follow_the_seed() {
        assert_eq!(parse(r#"{"message":"no type"}"#), Command::Echo { message: json!("no type") });
        assert_eq!(parse(r#"{"type":"echo"}"#), Command::Echo { message: json!("") });
        assert_eq!(parse("plain text"), Command::Echo { message: json!("plain text") });
        assert_eq!(parse("[1,2]"), Command::Echo { message: json!("[1,2]") });
        assert_eq!(parse(r#"{"type":"join"}"#), Command::Join { room: "default".into() });
    }

    #[test]
    fn errors_are_frames_not_failures() {
        assert_eq!(parse(r#"{"type":"dance"}"#), Command::Invalid { reason: "Unknown message type: dance".into() });
        let huge = "x".repeat(MAX_FRAME_BYTES + 1);
        assert!(matches!(parse(&huge), Command::Invalid { reason } if reason.starts_with("Message too large")));
        for room in [r#""""#, r#""a b""#, r#""<script>""#, "7", &format!("\"{}\"", "r".repeat(65))] {
            let frame = format!(r#"{{"type":"join","room":{room}}}"#);
            assert!(matches!(parse(&frame), Command::Invalid { .. }), "{frame}");
        }
        let long_type = format!(r#"{{"type":"{}"}}"#, "t".repeat(500));
        let Command::Invalid { reason } = parse(&long_type) else { panic!("invalid") };
        assert!(reason.len() < 120);
    }

    #[test]
    fn the_token_is_found_among_the_offered_subprotocols() {
        assert_eq!(token_from_subprotocols("bearer, aaa.bbb.ccc"), Some("aaa.bbb.ccc"));
        assert_eq!(token_from_subprotocols("aaa.bbb.ccc"), Some("aaa.bbb.ccc"));
        assert_eq!(token_from_subprotocols("chat, v1.2"), None);
        assert_eq!(selected_subprotocol("bearer, aaa.bbb.ccc"), Some("aaa.bbb.ccc"));
        assert_eq!(selected_subprotocol("chat, json"), Some("chat"));
        assert_eq!(selected_subprotocol(""), None);
    }

    #[test]
    fn a_connection_is_admitted_only_below_both_caps() {
        let caps = ConnectionCaps { per_session: 5, per_user: 10 };
        let open = |of_session, of_user| OpenConnections { of_session, of_user };
        assert!(caps.admit(open(0, 0)));
        assert!(caps.admit(open(4, 9)));
        assert!(!caps.admit(open(5, 5)), "the session is full");
        assert!(!caps.admit(open(0, 10)), "the account is full through its other sessions");
        assert!(!caps.admit(open(7, 12)), "over both, after a cap was lowered");
    }

    #[test]
    fn frames_have_the_documented_shapes() {
        let sender = Sender { user_id: "u-1", username: "jane" };
        let frame: Value =
            serde_json::from_str(&broadcast("room_broadcast", &json!("hi"), "lobby", &sender, "t")).expect("json");
        assert_eq!(
            frame,
            json!({"type": "room_broadcast", "message": "hi", "room": "lobby", "sender": {"user_id": "u-1", "username": "jane"}, "timestamp": "t"})
        );
        let frame: Value = serde_json::from_str(&joined("lobby", "t")).expect("json");
        assert_eq!(frame["type"], "joined");
        let counts = Counts { total_connections: 3, room_connections: 2, current_rooms: vec!["default".into()] };
        let frame: Value = serde_json::from_str(&status("default", &counts, "t")).expect("json");
        assert_eq!((frame["total_connections"].clone(), frame["room_connections"].clone()), (json!(3), json!(2)));
        let frame: Value = serde_json::from_str(&error("Unknown message type: x", "t")).expect("json");
        assert_eq!(frame, json!({"type": "error", "message": "Unknown message type: x", "timestamp": "t"}));
    }
}
