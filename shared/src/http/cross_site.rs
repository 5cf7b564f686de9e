//! Refuses the requests that put or take a session in a browser (login, OAuth sign-in, refresh,
//! logout) when another site sent them: without this a page could sign its visitor into the
//! attacker's account (login CSRF) or sign them out. Requests without the browser's headers
//! (curl, native apps) and same-origin pages keep working.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::header::{HOST, ORIGIN};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// Route layer: 403 `cross_site_request` for a request another site sent.
pub async fn refuse(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_cross_site(request.headers(), &state.config.cors_origins) {
        return ApiError::refused(ErrorCode::CrossSiteRequest, "Cross-site request refused").into_response();
    }
    next.run(request).await
}

/// True when the request comes from a page that is neither an allowed front end
/// (`BACKEND_CORS_ORIGINS`) nor the API's own origin: its `Origin` says so, or, without an
/// `Origin`, the browser's `Sec-Fetch-Site: cross-site` does. An allowed front end on another
/// site is trusted: that is what the CORS list is for.
pub fn is_cross_site(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let Some(origin) = header(ORIGIN.as_str()) else {
        return header("sec-fetch-site").is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    };
    let origin = origin.trim_end_matches('/');
    if allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)) {
        return false;
    }
    let same_origin = origin
        .split_once("://")
        .is_some_and(|(_, authority)| header(HOST.as_str()).is_some_and(|host| host.eq_ignore_ascii_case(authority)));
    !same_origin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    const FRONT_END: &str = "https://app.example.com";

    #[test]
    fn requests_without_browser_headers_are_not_cross_site() {
        assert!(!is_cross_site(&headers(&[]), &[FRONT_END.into()]));
        assert!(!is_cross_site(&headers(&[("host", "api.example.com")]), &[]));
    }

    #[test]
    fn the_front_end_and_the_api_itself_may_send_them() {
        let allowed = [FRONT_END.to_owned()];
        let front_end = headers(&[("origin", FRONT_END), ("sec-fetch-site", "same-site")]);
        assert!(!is_cross_site(&front_end, &allowed));
        let docs_page = headers(&[("origin", "https://api.example.com"), ("host", "api.example.com")]);
        assert!(!is_cross_site(&docs_page, &allowed));
        let local_docs = headers(&[("origin", "http://127.0.0.1:8000"), ("host", "127.0.0.1:8000")]);
        assert!(!is_cross_site(&local_docs, &allowed));
    }

    #[test]
    fn another_site_is_refused_by_either_header() {
        let allowed = [FRONT_END.to_owned()];
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")]), &allowed));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example"), ("host", "api.example.com")]), &allowed));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "api.example.com")]), &allowed));
        let lookalike = headers(&[("origin", "https://api.example.com.evil.example"), ("host", "api.example.com")]);
        assert!(is_cross_site(&lookalike, &allowed));
    }

    #[test]
    fn an_allowed_front_end_on_another_site_is_trusted() {
        let allowed = [FRONT_END.to_owned()];
        assert!(!is_cross_site(&headers(&[("origin", FRONT_END), ("sec-fetch-site", "cross-site")]), &allowed));
    }
}
