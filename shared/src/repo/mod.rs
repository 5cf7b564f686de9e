//! All SQL lives here, one module per table group. Functions take `impl PgExecutor` so the caller
//! decides whether a call runs in a transaction.

pub mod outbox;
pub mod users;
