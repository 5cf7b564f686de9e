//! The core every Lambda function links: configuration, the error envelope, the database pool,
//! logging, shared HTTP plumbing, security primitives and the SQL repositories.
//!
//! Function crates stay thin: they parse a request, call into this crate and map the result to a
//! response, so the same rules run under Lambda, in the devserver and in tests.
#![warn(missing_docs)]

pub mod adapters;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod ports;
pub mod repo;
pub mod security;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod time;

pub use config::Config;
pub use db::MIGRATOR;
pub use error::ApiError;
pub use state::AppState;
