//! The request facts services record about the caller: client address and user agent.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::header::USER_AGENT;
use http::request::Parts;

use super::client_ip;
use crate::AppState;
use crate::domain::device;
use crate::services::Caller;

impl FromRequestParts<AppState> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self {
            ip: client_ip::resolve(parts, state.config.trusted_proxy_hops),
            user_agent: parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(device::truncate),
        })
    }
}
