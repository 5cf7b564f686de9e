//! Axum plumbing shared by every HTTP function and the devserver.
//!
//! A function crate exposes its `routes()` without fallback or layers; [`finish`] adds them once,
//! so the devserver can merge the routes of all functions and still get one 404/405 behaviour.

pub mod auth;
pub mod body;
mod caller;
pub mod client_ip;
pub mod cookies;
pub mod cors;
pub mod cross_site;
mod deadline;
mod invalid_input;
pub mod json;
pub mod path;
pub mod query;
pub mod rate_limit;
pub mod request_log;
pub mod user_response;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Request, StatusCode, header};
use serde_json::json;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::{CurrentUser, Superuser};
pub use client_ip::ClientIp;
pub use json::AppJson;
pub use path::IdPath;
pub use query::AppQuery;
pub use user_response::UserResponse;

use crate::AppState;

/// Header carrying the id that ties a response to its log lines.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Largest request body accepted; auth payloads are tiny, so anything bigger is refused early.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Wraps a function's routes with what every response needs: request id, request log, CORS,
/// security headers, body limit, and the seed's 404/405 bodies.
pub fn finish(routes: Router<AppState>, state: AppState) -> Router {
    let cors = cors::layer(&state.config.cors_origins);
    let hsts = strict_transport_security(&state.config);
    routes
        .fallback(not_found)
        .layer(axum::middleware::map_response(method_not_allowed_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), deadline::enforce))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, move |_: &Response| {
            hsts.clone()
        }))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(axum::middleware::from_fn(request_log::log_request))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, LambdaOrRandomRequestId))
        .with_state(state)
}

/// `Strict-Transport-Security` for answers served through API Gateway, which is HTTPS only:
/// browsers then refuse a downgraded plain-HTTP connection to the API's name. Not sent locally,
/// where the devserver speaks plain HTTP; `HSTS_MAX_AGE_SECONDS=0` turns it off.
fn strict_transport_security(config: &crate::Config) -> Option<HeaderValue> {
    (config.on_lambda && config.hsts_max_age_seconds > 0)
        .then(|| HeaderValue::from_str(&format!("max-age={}; includeSubDomains", config.hsts_max_age_seconds)).ok())
        .flatten()
}

/// FastAPI's body for an unknown route.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": "Not Found" }))).into_response()
}

/// Axum answers a known path with the wrong method with an empty 405 and an `Allow` header;
/// this keeps the header and adds FastAPI's body.
async fn method_not_allowed_body(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(r#"{"detail":"Method Not Allowed"}"#))
}

/// Uses API Gateway's request id when the request came through Lambda (so a client-reported id
/// finds the CloudWatch lines), a random UUID otherwise. A caller-supplied `x-request-id` is
/// kept as is by `SetRequestIdLayer`.
#[derive(Clone, Copy, Debug)]
struct LambdaOrRandomRequestId;

impl MakeRequestId for LambdaOrRandomRequestId {
    fn make_request_id<B>(&mut self, request: &Request<B>) -> Option<RequestId> {
        use lambda_http::request::RequestContext;
        let from_gateway = match request.extensions().get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
            _ => None,
        };
        let id = from_gateway.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}
