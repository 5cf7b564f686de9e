//! The OpenAPI document of the whole API, generated from the handlers' annotations of every
//! HTTP function, Swagger UI at `/docs` and ReDoc at `/redoc` (the seed serves both).
//!
//! Swagger UI's and ReDoc's scripts and stylesheet come from a CDN, pinned to one version and
//! checked by subresource integrity, as the seed does. Vendoring them added 1.8 MB to this function's zip
//! (Lambda's cold start grows with it) for a page that only developers open.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shared::AppState;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::{health, root, well_known, ws_status};

/// OpenAPI description of the routes this function serves.
#[derive(OpenApi)]
#[openapi(
    info(title = "Serverless Auth API", description = "Authentication and user accounts on AWS Lambda."),
    paths(
        root::welcome,
        root::features,
        health::health,
        health::simple,
        health::ready,
        health::live,
        health::rate_limit,
        well_known::jwks,
        well_known::openid_configuration,
        ws_status::ws_status,
    ),
    components(schemas(shared::error::ErrorBody, shared::error::ErrorDetail, shared::error::FieldError, shared::error::ErrorCode)),
    tags(
        (name = "system", description = "Service information"),
        (name = "health", description = "Health checks"),
        (name = "websocket", description = "WebSocket connections")
    )
)]
pub struct ApiDoc;

/// The document for every function, with the Bearer scheme protected routes refer to.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi()
        .merge_from(auth_api::ApiDoc::openapi())
        .merge_from(users_api::ApiDoc::openapi())
        .merge_from(tasks_api::ApiDoc::openapi());
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.bearer_format = Some("JWT".into());
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme("bearer", SecurityScheme::Http(bearer));
    add_common_responses(&mut document);
    document
}

/// Documents the answers the shared extractors and layers give before or around any handler, so
/// clients (and the schema fuzzer in `scripts/test --full`) see every status an operation can
/// return: 401 from the Bearer extractor, 422 from the body, path and query extractors, 413 from
/// the body size limit, 429 from the rate limiter on `/auth`, `/users`, `/admin`, `/tasks` and
/// `/celery`, 503 when Postgres is unreachable.
fn add_common_responses(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Response};
    for (path, item) in document.paths.paths.iter_mut() {
        let rate_limited = ["/api/v1/auth", "/api/v1/users", "/api/v1/admin", "/api/v1/tasks", "/api/v1/celery"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
        let uses_database = rate_limited || path.starts_with("/api/v1/ws") || path == "/api/v1/health/ready";
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            let mut common = Vec::new();
            let bearer = operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty());
            if bearer {
                common.push(("401", "Missing, invalid or expired access token, or the session has ended"));
            }
            let has_input = operation.request_body.is_some()
                || operation.parameters.as_ref().is_some_and(|parameters| !parameters.is_empty());
            if has_input {
                common.push(("422", "The body, path or query failed validation (FastAPI-style detail list)"));
            }
            if operation.request_body.is_some() {
                common.push(("413", "The body is over the size limit"));
            }
            if rate_limited {
                common.push(("429", "Rate limit reached; see Retry-After"));
            }
            if uses_database {
                common.push(("503", "The database is unavailable; retry"));
            }
            for (status, description) in common {
                // Added here, so the answer is the shared layer's and its example fits; a route
                // that documents the status itself (login's 401 and 429) keeps its own words.
                operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
                    let mut response = Response::new(description);
                    response.content.insert("application/json".into(), RefOr::T(error_body(Some(status))));
                    RefOr::T(response)
                });
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                if status.starts_with(['4', '5']) && response.content.is_empty() {
                    // A protected route's own 401 is the Bearer extractor's too.
                    let shared_answer = (bearer && status == "401").then_some("401");
                    response.content.insert("application/json".into(), RefOr::T(error_body(shared_answer)));
                }
                // OpenAPI requires a description on every response; a route documented with a
                // body type only gets the status's reason phrase ("OK", "Created").
                if response.description.is_empty() {
                    response.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                        .and_then(|code| code.canonical_reason())
                        .unwrap_or("Response")
                        .to_owned();
                }
            }
        }
    }
}

/// The one error schema every error answer without a body of its own refers to, with an example
/// when the answer is a shared layer's (`common_status`), built by the code that sends it.
fn error_body(common_status: Option<&str>) -> utoipa::openapi::Content {
    let mut content = utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")));
    content.example = common_status.and_then(common_error_example);
    content
}

/// The body of the 401, 413, 422, 429 and 503 answers, as the shared layers send them.
fn common_error_example(status: &str) -> Option<serde_json::Value> {
    use shared::error::{ApiError, ErrorCode};
    let error = match status {
        "401" => ApiError::invalid_token(),
        "413" => ApiError::PayloadTooLarge,
        "429" => ApiError::TooManyRequests { code: ErrorCode::OverRequestRateLimit, retry_after_secs: 42 },
        "503" => ApiError::Unavailable("the database did not answer".into()),
        "422" => {
            ApiError::field("missing", vec!["body".into(), "email".into()], "Field required", serde_json::json!({}))
        }
        _ => return None,
    };
    Some(error.body())
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/docs", get(swagger_ui))
        .route("/redoc", get(redoc))
}

/// Built on first use, not at cold start: most instances never serve it.
static OPENAPI_JSON: LazyLock<Result<String, String>> =
    LazyLock::new(|| document().to_json().map_err(|error| error.to_string()));

async fn openapi_json() -> Response {
    match OPENAPI_JSON.as_ref() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response(),
        Err(error) => {
            tracing::error!(%error, "the OpenAPI document could not be serialised");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Swagger UI's files on the CDN, at one pinned version.
const SWAGGER_UI_CDN: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.32.0";
const SWAGGER_UI_JS_SRI: &str = "sha384-7xcoc6ZKDFF7Ek627QTC3Bg/K+5Y36NJ8MWAE43D2m6+3Sh9XO3tdsfHhrS8gNIQ";
const SWAGGER_UI_CSS_SRI: &str = "sha384-3nuX7df3EaAoiqLBeyS1Ola0Gpg9ryJKVtarubwfnA1cOH8AWHUdbPSIvEqPZ9VH";

/// The page's only inline script; [`DOCS_CSP`] allows exactly this text by its hash.
const INIT_SCRIPT: &str =
    r##"SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui", validatorUrl: null});"##;
const INIT_SCRIPT_SHA256: &str = "sha256-tX6QaHrBnkmK70jMnxFxswiXkCle6zxgHPcvltO4lhA=";

/// Scripts and styles from the pinned CDN path only; requests ("Try it out") to this origin only.
static DOCS_CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {SWAGGER_UI_CDN}/ '{INIT_SCRIPT_SHA256}'; \
         style-src {SWAGGER_UI_CDN}/ 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'none'"
    )
});

static DOCS_PAGE: LazyLock<String> = LazyLock::new(|| {
    let cdn = SWAGGER_UI_CDN;
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Serverless Auth API - Swagger UI</title>
<link rel="stylesheet" href="{cdn}/swagger-ui.css" integrity="{SWAGGER_UI_CSS_SRI}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{cdn}/swagger-ui-bundle.js" integrity="{SWAGGER_UI_JS_SRI}" crossorigin="anonymous"></script>
<script>{INIT_SCRIPT}</script>
</body>
</html>
"#
    )
});

async fn swagger_ui() -> impl IntoResponse {
    html_page(DOCS_CSP.as_str(), DOCS_PAGE.as_str())
}

/// ReDoc's standalone bundle on the CDN (the npm package's file), at one pinned version.
const REDOC_JS: &str = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js";
const REDOC_JS_SRI: &str = "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5";

/// ReDoc renders from its `<redoc>` element, so the page needs no inline script; it styles with
/// inline styles and runs its search index in a worker it creates from a `blob:` URL.
static REDOC_CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {REDOC_JS}; style-src 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
});

static REDOC_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Serverless Auth API - ReDoc</title>
</head>
<body>
<redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="{REDOC_JS}" integrity="{REDOC_JS_SRI}" crossorigin="anonymous"></script>
</body>
</html>
"#
    )
});

async fn redoc() -> impl IntoResponse {
    html_page(REDOC_CSP.as_str(), REDOC_PAGE.as_str())
}

/// A documentation page with its own Content-Security-Policy.
fn html_page(policy: &'static str, page: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, policy)], page)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_script() {
        let digest = Sha256::digest(INIT_SCRIPT.as_bytes());
        let expected = format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest));
        assert_eq!(INIT_SCRIPT_SHA256, expected, "update INIT_SCRIPT_SHA256 after editing INIT_SCRIPT");
        assert!(DOCS_PAGE.contains(&format!("<script>{INIT_SCRIPT}</script>")));
    }
}
