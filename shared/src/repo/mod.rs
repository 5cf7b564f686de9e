//! All SQL lives here, one module per table group. Functions take `impl PgExecutor` so the caller
//! decides whether a call runs in a transaction.

pub mod audit;
pub mod deletion;
pub mod export;
pub mod identities;
pub mod maintenance;
pub mod mfa;
pub mod one_time_tokens;
pub mod outbox;
pub mod processed_jobs;
pub mod rate_limits;
pub mod registration_holds;
pub mod sessions;
pub mod tasks;
pub mod undeliverable;
pub mod user_details;
pub mod users;
pub mod ws_connections;
