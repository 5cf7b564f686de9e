//! CORS as the seed configures it: the listed origins, credentials allowed, any method and header.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use tower_http::cors::{AllowCredentials, AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// Response headers a browser page may read: the rate-limit state and the retry delay (so a
/// front end can back off) and the request id (to quote in a support request). API Gateway
/// answers CORS itself on AWS, so `template.yaml` lists the same ones.
pub const EXPOSED_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("ratelimit-limit"),
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("ratelimit-reset"),
    HeaderName::from_static("retry-after"),
    HeaderName::from_static("x-request-id"),
];

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
        // Predicates rather than `AllowOrigin::list`: the layer is cloned for every request, and
        // a predicate clones one `Arc` where a list clones a vector of header values.
        .allow_origin(AllowOrigin::predicate(move |origin, _| origins.contains(origin)))
        .allow_credentials(AllowCredentials::predicate(move |origin, _| listed.contains(origin)))
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED_HEADERS)
        .max_age(std::time::Duration::from_secs(600))
}
