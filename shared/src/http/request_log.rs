//! One log line per request, and the single place where server errors are logged.
//!
//! Handlers return `ApiError`s without logging them; a 5xx response carries its cause in a
//! [`ServerErrorCause`] extension, which this middleware logs with the request id and then
//! replaces the body with the generic one plus that id, so a user's report can be traced.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};
use serde_json::json;
use tracing::Instrument;

use super::REQUEST_ID_HEADER;
use crate::error::ServerErrorCause;
use crate::telemetry::correlation;

/// Logs method, route template (never the raw path, which may carry tokens), status and latency.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    // A caller may send its own `x-request-id`: bounded, as it labels every line of the request.
    let request_id = correlation::bounded(
        request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default(),
    );

    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = correlation::within_request(request_id.clone(), next.run(request)).instrument(span).await;

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let route = route.as_deref().unwrap_or("unmatched");
    if let Some(ServerErrorCause(cause)) = response.extensions_mut().remove::<ServerErrorCause>() {
        tracing::error!(%request_id, %method, route, status, latency_ms, error = %cause, cause_chain = ?cause, "request failed");
        let mut body = cause.body();
        body["request_id"] = json!(request_id);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (mut parts, _) = response.into_parts();
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(bytes));
    } else {
        tracing::info!(%request_id, %method, route, status, latency_ms, "request");
    }
    response
}
