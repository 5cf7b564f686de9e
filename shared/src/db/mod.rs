//! The Postgres pool and the embedded migrations.
//!
//! The pool connects on first use, not at start, so a cold start costs no database round trip and
//! a function whose database is down still starts and answers its health checks.

use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;

mod kept;

pub use kept::{KeptConnections, TakenConnection};

/// The migrations in `migrations/`, compiled into the binary. Run by the `migrate` function as a
/// deploy step, never at cold start of the request-serving functions.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Server-side limits on every session: a request waits at most 5 s for a row lock and runs no
/// statement past 10 s (the functions' timeout), so a slow or locked database ends requests
/// instead of piling them up; and a transaction a cancelled request left open loses its locks
/// after 15 s. Sent as startup options (no round trip). Behind RDS Proxy (`DATABASE_HOST`) the
/// proxy's `InitQuery` in template.yaml sets the same values.
pub const SESSION_LIMITS: [(&str, &str); 3] =
    [("lock_timeout", "5s"), ("statement_timeout", "10s"), ("idle_in_transaction_session_timeout", "15s")];

/// A pooled connection idle for longer than this is pinged before it is handed out: it may have
/// been closed while the function was frozen between invocations, or by a proxy's idle timeout.
/// A connection in steady use is handed out as is, which saves a round trip on every query (the
/// pool's default pings before each one).
pub const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Creates the pool without connecting. An unparsable URL falls back to defaults here; `Config`
/// has already checked the scheme, and a wrong host surfaces as a 503 on first use.
pub fn lazy_pool(config: &Config) -> PgPool {
    let mut options: PgConnectOptions =
        config.database_url.expose_secret().parse().unwrap_or_else(|_| PgConnectOptions::new());
    if let Some(host) = &config.database_host {
        options = options.host(host);
    }
    if config.database_host.is_none() {
        options = options.options(SESSION_LIMITS);
    }
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .min_connections(0)
        .acquire_timeout(config.db_acquire_timeout)
        .idle_timeout(std::time::Duration::from_secs(300))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options.application_name("serverless-auth"))
}

/// How long a health check waits for the database. Shorter than the pool's acquire timeout so a
/// probe answers within its own deadline even while connections are being refused.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Checks that the database answers a trivial query within [`PING_TIMEOUT`].
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(PING_TIMEOUT, sqlx::query("select 1").execute(pool)).await {
        Ok(result) => result.map(drop),
        Err(_elapsed) => Err(sqlx::Error::PoolTimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())).expect("config")
    }

    #[tokio::test]
    async fn database_host_replaces_only_the_host_of_the_url() {
        let url = ("DATABASE_URL", "postgres://app:pw@db.internal:6543/appdb");
        let pool = lazy_pool(&config(&[url, ("DATABASE_HOST", "proxy.example")]));
        let options = pool.connect_options();
        assert_eq!(options.get_host(), "proxy.example");
        assert_eq!(options.get_port(), 6543);
        assert_eq!(options.get_database(), Some("appdb"));
        assert_eq!(options.get_username(), "app");

        assert_eq!(lazy_pool(&config(&[url])).connect_options().get_host(), "db.internal");
    }
}
