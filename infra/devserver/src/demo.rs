//! The demo page (`/demo`): sign in, show the account, renew the access token on a timer, sign
//! out. It exists so a real browser can exercise the refresh cookie (`infra/browser/`), where
//! SameSite, Path and HttpOnly actually apply. Devserver only: no Lambda function serves it.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use shared::AppState;

const PAGE: &str = include_str!("../demo/index.html");
const SCRIPT: &str = include_str!("../demo/demo.js");
const STYLE: &str = include_str!("../demo/demo.css");

/// Its own files only: no inline script or style, no other origin, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/demo", get(|| file("text/html; charset=utf-8", PAGE)))
        .route("/demo/demo.js", get(|| file("text/javascript; charset=utf-8", SCRIPT)))
        .route("/demo/demo.css", get(|| file("text/css; charset=utf-8", STYLE)))
}

async fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CONTENT_SECURITY_POLICY, POLICY)], body)
}
