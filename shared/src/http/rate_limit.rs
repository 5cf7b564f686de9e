//! Per-route rate limits as a route layer, so a request is counted before its body is parsed
//! (invalid requests count too). Counted in Postgres through this instance's leases (see
//! [`crate::domain::rate_limit_leases`]): most requests are decided without a round trip. Adds
//! `RateLimit-Limit/Remaining/Reset` to every response of a limited route and answers 429 with
//! `Retry-After` over the limit.

use crate::ports::Metric;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::HeaderValue;

use super::client_ip;
use crate::AppState;
use crate::domain::rate_limit::{Decision, Limit};
use crate::domain::rate_limit_leases::LocalDecision;
use crate::error::{ApiError, ErrorCode};
use crate::repo::rate_limits;

/// State of one limited route: the app state and its limit.
#[derive(Clone, Debug)]
pub struct Limited {
    /// Application state (database, configuration).
    pub state: AppState,
    /// The limit of this route.
    pub limit: Limit,
}

type EnforceFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;
type EnforceFn = fn(State<Limited>, Request, Next) -> EnforceFuture;

/// The middleware layer type [`layer`] returns.
pub type RateLimitLayer = axum::middleware::FromFnLayer<EnforceFn, Limited, (State<Limited>, Request)>;

/// Builds the layer for `limit`: `.route_layer(rate_limit::layer(state, Limit::LOGIN))`.
pub fn layer(state: &AppState, limit: Limit) -> RateLimitLayer {
    axum::middleware::from_fn_with_state(Limited { state: state.clone(), limit }, |state, request, next| {
        Box::pin(enforce(state, request, next))
    })
}

async fn enforce(State(limited): State<Limited>, request: Request, next: Next) -> Response {
    let Limited { state, limit } = limited;
    if !state.config.rate_limit_enabled {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let client = client_ip::resolve(&parts, state.config.trusted_proxy_hops);
    let request = Request::from_parts(parts, body);
    let now = Utc::now();
    let Some(decision) = decide(&state, &limit, &limit.key(client), now).await else {
        // Fail open: the route itself will answer 503 if the database is really gone.
        return next.run(request).await;
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        state.metrics.count(Metric::RateLimited);
        ApiError::TooManyRequests { code: ErrorCode::OverRequestRateLimit, retry_after_secs: decision.reset_seconds }
            .into_response()
    };
    add_headers(&mut response, &decision);
    response
}

/// Decides from this instance's share of the window when it can, otherwise reserves more in
/// Postgres; `None` when the counter cannot be reached.
async fn decide(state: &AppState, limit: &Limit, key: &str, now: DateTime<Utc>) -> Option<Decision> {
    let leases = &state.rate_limit_leases;
    let window_start = limit.window_start(now);
    let max = i32::try_from(limit.max).unwrap_or(i32::MAX);
    let reserve =
        |units: u32| rate_limits::reserve(&state.db, key, window_start, i32::try_from(units).unwrap_or(1), max);
    let mut units = match leases.take(key, limit, now) {
        LocalDecision::Decided(decision) => return Some(decision),
        LocalDecision::DecidedTopUp { decision, units } => {
            // If the request is dropped mid-reservation (its deadline passed), the guard still
            // clears the share's top-up flag, so a later request can top it up.
            let pending = PendingTopUp { state, key, limit, now };
            match reserve(units).await {
                Ok(Some(count)) => leases.topped_up(key, limit, now, units, count),
                Ok(None) | Err(_) => leases.top_up_failed(key, limit, now),
            }
            std::mem::forget(pending);
            return Some(decision);
        }
        LocalDecision::Reserve { units } => units,
    };
    loop {
        match reserve(units).await {
            Ok(Some(count)) => return Some(leases.reserved(key, limit, now, units, count)),
            // Not enough left for a lease: one unit may still be.
            Ok(None) if units > 1 => units = 1,
            Ok(None) => return Some(leases.refused(key, limit, now)),
            Err(error) => {
                tracing::warn!(error = %error, limit = limit.name, "rate-limit counter unavailable");
                return None;
            }
        }
    }
}

/// Marks a top-up as failed when dropped; forgotten once the top-up has been reported.
struct PendingTopUp<'a> {
    state: &'a AppState,
    key: &'a str,
    limit: &'a Limit,
    now: DateTime<Utc>,
}

impl Drop for PendingTopUp<'_> {
    fn drop(&mut self) {
        self.state.rate_limit_leases.top_up_failed(self.key, self.limit, self.now);
    }
}

fn add_headers(response: &mut Response, decision: &Decision) {
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(decision.reset_seconds));
}
