//! The caller's IP address, for rate limits and the audit log.
//!
//! Never trusts a caller-supplied header by default: the address comes from API Gateway's request
//! context (Lambda) or the TCP peer (devserver). Only with `TRUSTED_PROXY_HOPS=n` is the n-th
//! entry from the right of `X-Forwarded-For` used, i.e. the address the outermost trusted proxy saw.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

use crate::AppState;

/// The resolved client address; `None` when no source is known (e.g. a unit test request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(resolve(parts, state.config.trusted_proxy_hops)))
    }
}

/// Resolves the client address of a request (see the module documentation).
pub fn resolve(parts: &Parts, trusted_hops: u8) -> Option<IpAddr> {
    let forwarded = if trusted_hops > 0 { forwarded_for(parts, usize::from(trusted_hops)) } else { None };
    forwarded.or_else(|| source_ip(parts))
}

fn source_ip(parts: &Parts) -> Option<IpAddr> {
    api_gateway_source_ip(parts)
        .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip()))
}

fn api_gateway_source_ip(parts: &Parts) -> Option<IpAddr> {
    use lambda_http::request::RequestContext;
    match parts.extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        _ => None,
    }
}

fn forwarded_for(parts: &Parts, hops: usize) -> Option<IpAddr> {
    let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
    let mut entries: Vec<&str> = header.split(',').map(str::trim).collect();
    // API Gateway appends the address it saw (`sourceIp`) to the header. That entry is not one a
    // trusted proxy wrote; counting it would make `TRUSTED_PROXY_HOPS=1` pick the proxy itself.
    let appended = api_gateway_source_ip(parts);
    if appended.is_some() && entries.last().and_then(|entry| entry.parse().ok()) == appended {
        entries.pop();
    }
    let index = entries.len().checked_sub(hops)?;
    entries.get(index)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_with(xff: Option<&str>, peer: Option<&str>) -> Parts {
        let mut builder = http::Request::builder();
        if let Some(xff) = xff {
            builder = builder.header("x-forwarded-for", xff);
        }
        let (mut parts, ()) = builder.body(()).expect("request").into_parts();
        if let Some(peer) = peer {
            parts.extensions.insert(ConnectInfo(peer.parse::<SocketAddr>().expect("socket addr")));
        }
        parts
    }

    #[test]
    fn forwarded_header_is_ignored_without_trusted_hops() {
        let parts = parts_with(Some("203.0.113.9"), Some("127.0.0.1:5555"));
        assert_eq!(resolve(&parts, 0), Some("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn trusted_hops_pick_from_the_right_of_the_forwarded_chain() {
        let parts = parts_with(Some("10.9.9.9, 198.51.100.7, 203.0.113.1"), Some("127.0.0.1:5555"));
        assert_eq!(resolve(&parts, 1), Some("203.0.113.1".parse().expect("ip")));
        assert_eq!(resolve(&parts, 2), Some("198.51.100.7".parse().expect("ip")));
    }

    fn api_gateway_parts(xff: &str, source_ip: &str) -> Parts {
        use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
        use lambda_http::request::RequestContext;
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some(source_ip.to_owned());
        let (mut parts, ()) =
            http::Request::builder().header("x-forwarded-for", xff).body(()).expect("request").into_parts();
        parts.extensions.insert(RequestContext::ApiGatewayV2(context));
        parts
    }

    #[test]
    fn behind_api_gateway_its_own_entry_is_not_a_proxy_hop() {
        // client -> CloudFront (writes the client) -> API Gateway (appends CloudFront's address).
        let parts = api_gateway_parts("198.51.100.77, 203.0.113.10", "203.0.113.10");
        assert_eq!(resolve(&parts, 0), Some("203.0.113.10".parse().expect("ip")));
        assert_eq!(resolve(&parts, 1), Some("198.51.100.77".parse().expect("ip")));
        // A client-forged prefix is never reached with one trusted hop.
        let parts = api_gateway_parts("6.6.6.6, 198.51.100.77, 203.0.113.10", "203.0.113.10");
        assert_eq!(resolve(&parts, 1), Some("198.51.100.77".parse().expect("ip")));
        // Without API Gateway's entry (another integration) nothing is dropped.
        let parts = api_gateway_parts("198.51.100.77, 192.0.2.1", "203.0.113.10");
        assert_eq!(resolve(&parts, 1), Some("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn short_or_garbage_chain_falls_back_to_the_peer() {
        let parts = parts_with(Some("not-an-ip"), Some("127.0.0.1:5555"));
        assert_eq!(resolve(&parts, 1), Some("127.0.0.1".parse().expect("ip")));
        let parts = parts_with(Some("203.0.113.1"), Some("127.0.0.1:5555"));
        assert_eq!(resolve(&parts, 3), Some("127.0.0.1".parse().expect("ip")));
    }
}
