//! `system-api`: the welcome and feature endpoints, health checks, WebSocket connection counts,
//! and the API documentation.
//!
//! `main.rs` runs [`router`] under `lambda_http`; the devserver merges [`routes`] with the other
//! functions' routes.

mod docs;
mod health;
mod root;
mod well_known;
mod ws_status;

use axum::Router;
use shared::AppState;

pub use docs::{ApiDoc, document};

/// The routes of this function, without fallback or middleware (see [`shared::http::finish`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(root::routes())
        .merge(health::routes())
        .merge(well_known::routes())
        .merge(ws_status::routes())
        .merge(docs::routes())
}

/// The complete, ready-to-serve router of this function.
pub fn router(state: AppState) -> Router {
    shared::http::finish(routes(), state)
}
