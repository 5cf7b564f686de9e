//! CORS as the seed configures it: the listed origins, credentials allowed, any method and header.

use std::sync::Arc;

use http::HeaderValue;
use tower_http::cors::{AllowCredentials, AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// Builds the CORS layer for the configured origins. Methods and headers are mirrored from the
/// preflight because a wildcard is not allowed together with credentials.
///
/// `Access-Control-Allow-Credentials` goes only to the listed origins: a plain `true` would be
/// sent to every origin, which browsers ignore without a matching `Allow-Origin` but scanners
/// (rightly) flag.
pub fn layer(origins: &[String]) -> CorsLayer {
    let origins: Arc<[HeaderValue]> = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    let listed = Arc::clone(&origins);
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_credentials(AllowCredentials::predicate(move |origin, _| listed.contains(origin)))
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(std::time::Duration::from_secs(600))
}
