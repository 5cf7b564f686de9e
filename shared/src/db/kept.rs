//! Connections kept aside between requests for the one query every authenticated request makes.
//!
//! sqlx pings each connection when it goes back into the pool: a second round trip for every
//! query. A connection that has just answered needs no such test, so after the session lookup
//! its connection is kept here instead of going back, and the next lookup takes it from here.
//! Lookups queue first-come first-served on this set's own permits (half the pool), so they
//! neither starve one another nor take every connection from other queries. The pool still counts
//! a kept connection as in use, so its size limit holds. A connection kept longer than
//! [`super::PING_IF_IDLE_FOR`] goes back through the pool (and its ping); a lookup that fails
//! drops its connection, so only connections that have just worked are kept.

use std::sync::Mutex;
use std::time::Instant;

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The kept connections and the permits that bound them; none with a pool of one connection,
/// which then serves every query as it comes.
#[derive(Debug)]
pub struct KeptConnections {
    permits: Option<std::sync::Arc<Semaphore>>,
    kept: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

/// A connection taken for one lookup, with its permit (if connections are kept at all).
pub struct TakenConnection {
    /// The connection to run the query on.
    pub connection: PoolConnection<Postgres>,
    permit: Option<OwnedSemaphorePermit>,
}

impl KeptConnections {
    /// Room for half of a pool of `max_connections`.
    pub fn for_pool_of(max_connections: u32) -> Self {
        let room = usize::try_from(max_connections / 2).unwrap_or(0);
        let permits = (room > 0).then(|| std::sync::Arc::new(Semaphore::new(room)));
        Self { permits, kept: Mutex::default() }
    }

    /// Waits for a permit, then takes a kept connection that is fresh enough or one from the pool.
    pub async fn take(&self, pool: &PgPool) -> Result<TakenConnection, sqlx::Error> {
        let Some(permits) = &self.permits else {
            return Ok(TakenConnection { connection: pool.acquire().await?, permit: None });
        };
        // Bounded like a wait for the pool itself, so a database that stopped answering fails
        // the queued lookups on time instead of one after another.
        let waiting = tokio::time::timeout(pool.options().get_acquire_timeout(), permits.clone().acquire_owned());
        let permit = match waiting.await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed),
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut),
        };
        loop {
            let kept = self.kept.lock().ok().and_then(|mut kept| kept.pop());
            match kept {
                Some((connection, since)) if since.elapsed() <= super::PING_IF_IDLE_FOR => {
                    return Ok(TakenConnection { connection, permit: Some(permit) });
                }
                // Too long aside: back to the pool, which pings it before anyone gets it.
                Some((stale, _)) => drop(stale),
                None => return Ok(TakenConnection { connection: pool.acquire().await?, permit: Some(permit) }),
            }
        }
    }

    /// Keeps the connection of a lookup that has just succeeded, and frees its permit.
    pub fn keep(&self, taken: TakenConnection) {
        let TakenConnection { connection, permit } = taken;
        if permit.is_some()
            && let Ok(mut kept) = self.kept.lock()
        {
            kept.push((connection, Instant::now()));
        }
    }
}
