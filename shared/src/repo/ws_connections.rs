//! WebSocket connections and their rooms (`ws_connections`: one row per connection and room).
//! Only connections whose session is live count: a revoked or expired session's connections
//! receive nothing and are closed on their next message.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::ws::CONNECTION_LIFE_SECONDS;

/// A live connection and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Connection {
    /// API Gateway's connection id (a UUID in the devserver).
    pub connection_id: String,
    /// The account.
    pub user_id: Uuid,
    /// The session whose token opened it (its frames count against the session's budget).
    pub session_id: Uuid,
    /// Its username, for broadcasts.
    pub username: String,
}

/// Registers a new connection in `room`.
pub async fn open(
    db: impl PgExecutor<'_>,
    connection_id: &str,
    user_id: Uuid,
    session_id: Uuid,
    room: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into ws_connections (connection_id, user_id, session_id, room) values ($1, $2, $3, $4)
         on conflict (connection_id, room) do nothing",
        connection_id,
        user_id,
        session_id,
        room
    )
    .execute(db)
    .await
    .map(drop)
}

/// Locks the account's row until the transaction ends, so handshakes of one account count and
/// register their connections one at a time. `no key update` is the lock an update of non-key
/// columns takes: it excludes other handshakes (and logins' session eviction) but not the
/// foreign-key checks of rows that merely point at the account.
pub async fn lock_owner(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("select 1 as locked from users where id = $1 for no key update", user_id)
        .fetch_optional(db)
        .await
        .map(drop)
}

/// Open connections of `session_id` and of its account `user_id`, as `(of the session, of the
/// account)`, not counting `except` (a `$connect` retried with the same id must not count itself).
/// Only connections that can still be open count: of a live session, and younger than API
/// Gateway's longest connection life (older rows lost their `$disconnect`).
pub async fn count_open(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    session_id: Uuid,
    except: &str,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"select count(distinct c.connection_id) filter (where c.session_id = $2) as "of_session!",
                  count(distinct c.connection_id) as "of_account!"
             from ws_connections c join sessions s on s.id = c.session_id
            where c.user_id = $1 and c.connection_id <> $3
              and c.connected_at > now() - make_interval(secs => $4)
              and s.revoked_at is null and s.expires_at > now()"#,
        user_id,
        session_id,
        except,
        f64::from(CONNECTION_LIFE_SECONDS),
    )
    .fetch_one(db)
    .await?;
    Ok((row.of_session, row.of_account))
}

/// The connection, if it exists and its session and account are still live.
pub async fn live(db: impl PgExecutor<'_>, connection_id: &str) -> Result<Option<Connection>, sqlx::Error> {
    sqlx::query_as!(
        Connection,
        "select c.connection_id, c.user_id, c.session_id, u.username
           from ws_connections c
           join sessions s on s.id = c.session_id
           join users u on u.id = c.user_id
          where c.connection_id = $1
            and s.revoked_at is null and s.expires_at > now() and u.is_active
          limit 1",
        connection_id,
    )
    .fetch_optional(db)
    .await
}

/// Adds a known connection to `room` unless it is already in `max_rooms` rooms. True when the
/// connection is in the room afterwards.
pub async fn join(
    db: impl PgExecutor<'_>,
    connection_id: &str,
    room: &str,
    max_rooms: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "with added as (
             insert into ws_connections (connection_id, user_id, session_id, room, connected_at)
             select connection_id, user_id, session_id, $2, connected_at
               from ws_connections
              where connection_id = $1
                and (select count(*) from ws_connections where connection_id = $1) < $3
              limit 1
             on conflict (connection_id, room) do nothing
             returning 1)
         select exists (select 1 from added)
             or exists (select 1 from ws_connections where connection_id = $1 and room = $2) as \"joined!\"",
        connection_id,
        room,
        max_rooms
    )
    .fetch_one(db)
    .await
}

/// Removes a connection from `room`; false when it was not in it or it is the connection's
/// only room (the rows are also what identifies the connection, so one always stays).
pub async fn leave(db: impl PgExecutor<'_>, connection_id: &str, room: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "delete from ws_connections
          where connection_id = $1 and room = $2
            and (select count(*) from ws_connections where connection_id = $1) > 1",
        connection_id,
        room
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected() > 0)
}

/// Whether the connection is in `room`.
pub async fn is_in(db: impl PgExecutor<'_>, connection_id: &str, room: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select exists (select 1 from ws_connections where connection_id = $1 and room = $2) as \"member!\"",
        connection_id,
        room
    )
    .fetch_one(db)
    .await
}

/// The rooms a connection is in, sorted.
pub async fn rooms_of(db: impl PgExecutor<'_>, connection_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!("select room from ws_connections where connection_id = $1 order by room", connection_id)
        .fetch_all(db)
        .await
}

/// Live connections in `room` (the receivers of a broadcast).
pub async fn in_room(db: impl PgExecutor<'_>, room: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select c.connection_id
           from ws_connections c join sessions s on s.id = c.session_id
          where c.room = $1 and s.revoked_at is null and s.expires_at > now()",
        room
    )
    .fetch_all(db)
    .await
}

/// Live connections in total.
pub async fn count_live(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "select count(distinct c.connection_id) as \"count!\"
           from ws_connections c join sessions s on s.id = c.session_id
          where s.revoked_at is null and s.expires_at > now()"
    )
    .fetch_one(db)
    .await
}

/// Live connections per room, the `limit` busiest rooms.
pub async fn count_by_room(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select c.room, count(*) as "connections!"
             from ws_connections c join sessions s on s.id = c.session_id
            where s.revoked_at is null and s.expires_at > now()
            group by c.room order by "connections!" desc, c.room limit $1"#,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.room, row.connections)).collect())
}

/// Forgets a connection entirely (it closed, or its session ended).
pub async fn close(db: impl PgExecutor<'_>, connection_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from ws_connections where connection_id = $1", connection_id).execute(db).await.map(drop)
}

/// Forgets a connection whose push came back "gone", unless it connected in the last
/// `grace_seconds`: a connection still in its handshake cannot receive yet and must not be
/// forgotten for it.
pub async fn close_gone(db: impl PgExecutor<'_>, connection_id: &str, grace_seconds: i32) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from ws_connections
          where connection_id = $1 and connected_at < now() - make_interval(secs => $2)",
        connection_id,
        f64::from(grace_seconds)
    )
    .execute(db)
    .await
    .map(drop)
}

/// Live connections in one room.
pub async fn count_in_room(db: impl PgExecutor<'_>, room: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "select count(*) as \"count!\"
           from ws_connections c join sessions s on s.id = c.session_id
          where c.room = $1 and s.revoked_at is null and s.expires_at > now()",
        room
    )
    .fetch_one(db)
    .await
}

/// Forgets connections older than API Gateway's longest connection life (2 hours) whose
/// `$disconnect` never arrived; returns how many rows went.
pub async fn forget_expired(db: impl PgExecutor<'_>, limit: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from ws_connections where (connection_id, room) in (
            select connection_id, room from ws_connections
             where connected_at < now() - make_interval(secs => $2) limit $1)",
        limit,
        f64::from(CONNECTION_LIFE_SECONDS)
    )
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// Connections of sessions that are no longer live, to be closed.
pub async fn of_dead_sessions(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select distinct c.connection_id
           from ws_connections c join sessions s on s.id = c.session_id join users u on u.id = c.user_id
          where s.revoked_at is not null or s.expires_at <= now() or not u.is_active
          limit $1",
        limit
    )
    .fetch_all(db)
    .await
}

/// Forgets every connection: a process holding them in memory (the devserver) restarted, so
/// none of them is open any more.
pub async fn forget_all(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    sqlx::query!("delete from ws_connections").execute(db).await.map(|done| done.rows_affected())
}
