//! Route parity between what the functions serve and what `template.yaml` routes to them: a
//! route missing from the template is unreachable in AWS, and a template route no router serves
//! is a 404 in production. Both directions fail this test.
//!
//! Served routes are read from the OpenAPI document every router contributes to (plus the few
//! undocumented ones listed below); template routes from the `Type: HttpApi` events. Each
//! template route is also requested from the real routers, so a documented route that is not
//! actually served fails too.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use shared::AppState;
use shared::adapters::local_ws::LocalHub;
use test_support::{JWT_SECRET, test_config};
use tower::ServiceExt;

/// Served but not part of the OpenAPI document: the document itself, its UI, and the seed's
/// aliases of the health routes.
const UNDOCUMENTED: [&str; 6] = [
    "GET /api/v1/openapi.json",
    "GET /docs",
    "GET /redoc",
    "GET /api/v1/health/",
    "GET /api/v1/health/readiness",
    "GET /api/v1/health/liveness",
];

/// Served by the devserver only: on AWS the WebSocket API (its own resources, with both paths
/// mapped on its optional custom domain) takes this role.
const DEVSERVER_ONLY: [&str; 2] = ["GET /api/v1/ws", "GET /api/v1/ws/demo"];

/// Served, and reached on AWS through the template's route without the slash: HTTP APIs reject
/// a route path ending in `/` and match such a request to the route without it.
const REACHED_WITHOUT_TRAILING_SLASH: [&str; 1] = ["GET /api/v1/health/"];

fn template() -> String {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("template.yaml")
}

/// `METHOD /path` of every `Type: HttpApi` event in the template (one flow mapping per line).
fn template_routes() -> BTreeSet<String> {
    template_route_lines().into_iter().map(|(route, _)| route).collect()
}

/// Template routes marked `# bearer`: the ones the optional API Gateway JWT authorizer guards.
fn template_bearer_routes() -> BTreeSet<String> {
    template_route_lines().into_iter().filter(|(_, bearer)| *bearer).map(|(route, _)| route).collect()
}

fn template_route_lines() -> Vec<(String, bool)> {
    let template = template();
    let mut routes = Vec::new();
    for line in template.lines().filter(|line| line.contains("Type: HttpApi")) {
        let field = |name: &str| -> String {
            let start =
                line.find(&format!("{name}: ")).unwrap_or_else(|| panic!("no {name} in: {line}")) + name.len() + 2;
            let value = &line[start..];
            match value.strip_prefix('"') {
                // quoted: a path with `{param}` segments
                Some(quoted) => quoted.split('"').next().expect("closing quote").to_owned(),
                None => value.split([',', '}']).next().expect("value").trim().to_owned(),
            }
        };
        let bearer = line.trim_end().ends_with("# bearer");
        routes.push((format!("{} {}", field("Method"), field("Path")), bearer));
    }
    routes
}

/// Documented operations whose every security alternative is a bearer token: a request without
/// one can never succeed, so the JWT authorizer may reject it first.
fn routes_that_require_a_token() -> BTreeSet<String> {
    let document = serde_json::to_value(system_api::document()).expect("document");
    let mut routes = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let required = operation["security"].as_array().is_some_and(|alternatives| {
                !alternatives.is_empty() && alternatives.iter().all(|alternative| alternative.get("bearer").is_some())
            });
            if required {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

/// `METHOD /path` of every operation in the merged OpenAPI document, plus the undocumented ones.
fn served_routes() -> BTreeSet<String> {
    let document = serde_json::to_value(system_api::document()).expect("document");
    let mut routes: BTreeSet<String> = UNDOCUMENTED.iter().map(|route| (*route).to_owned()).collect();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

#[test]
fn every_served_route_is_in_the_template_and_every_template_route_is_served() {
    let template = template_routes();
    let served = served_routes();

    let not_deployed: Vec<&String> = served
        .iter()
        .filter(|route| !template.contains(*route))
        .filter(|route| !DEVSERVER_ONLY.contains(&route.as_str()))
        .filter(|route| !REACHED_WITHOUT_TRAILING_SLASH.contains(&route.as_str()))
        .collect();
    let not_served: Vec<&String> = template.iter().filter(|route| !served.contains(*route)).collect();

    assert!(template.len() > 40, "the template parse found only {} routes", template.len());
    for route in REACHED_WITHOUT_TRAILING_SLASH {
        let without_slash = route.trim_end_matches('/');
        assert!(template.contains(without_slash), "{route} needs {without_slash} in template.yaml");
    }
    assert!(not_deployed.is_empty(), "served but missing from template.yaml: {not_deployed:?}");
    assert!(not_served.is_empty(), "in template.yaml but not served: {not_served:?}");
}

#[test]
fn bearer_marks_in_the_template_match_the_documented_security() {
    let marked = template_bearer_routes();
    let required = routes_that_require_a_token();

    let unmarked: Vec<&String> = required.difference(&marked).collect();
    let wrongly_marked: Vec<&String> = marked.difference(&required).collect();

    assert!(required.len() > 15, "the document lists only {} token-only routes", required.len());
    assert!(unmarked.is_empty(), "require a token but lack `# bearer` in template.yaml: {unmarked:?}");
    assert!(wrongly_marked.is_empty(), "marked `# bearer` but usable without a token: {wrongly_marked:?}");
}

/// The real routers behind a database that is never reached (routes answer 401/422/503, never
/// the fallback's 404).
fn router() -> axum::Router {
    router_with_rate_limits("false").0
}

fn router_with_rate_limits(enabled: &str) -> (axum::Router, AppState) {
    let config =
        test_config(&[("DB_ACQUIRE_TIMEOUT_MS", "50"), ("JWT_SECRET", JWT_SECRET), ("RATE_LIMIT_ENABLED", enabled)]);
    let state = AppState::new(config);
    (shared::http::finish(devserver::routes(&state, Arc::new(LocalHub::default())), state.clone()), state)
}

/// A body each route accepts, so the request gets past validation to the database.
fn valid_body(path: &str) -> serde_json::Value {
    let token = "A".repeat(43);
    match path {
        "/api/v1/auth/register" => {
            serde_json::json!({"email": "jane@example.com", "username": "jane", "password": "Str0ng-Passw0rd!"})
        }
        "/api/v1/auth/login" => serde_json::json!({"email": "jane@example.com", "password": "Str0ng-Passw0rd!"}),
        "/api/v1/auth/forgot-password" | "/api/v1/auth/resend-verification" | "/api/v1/auth/request-deletion" => {
            serde_json::json!({"email": "jane@example.com"})
        }
        "/api/v1/auth/reset-password" => serde_json::json!({"token": token, "new_password": "N3w-Passw0rd!x"}),
        "/api/v1/auth/change-password" => {
            serde_json::json!({"current_password": "Str0ng-Passw0rd!", "new_password": "N3w-Passw0rd!x"})
        }
        "/api/v1/tasks" => serde_json::json!({"task_name": "cleanup"}),
        "/api/v1/tasks/send-email" => serde_json::json!({"to": "jane@example.com", "subject": "s", "body": "b"}),
        "/api/v1/tasks/process-data" => serde_json::json!({"data": [1, 2, 3]}),
        _ => serde_json::json!({"token": token}),
    }
}

/// Fault injection: Postgres is unreachable for every route, with a signed-in caller, a valid body
/// and a refresh cookie, with and without rate limits (whose counter lives in Postgres too).
/// Nothing may answer 500; what needs the database answers a clear 503.
#[tokio::test]
async fn with_the_database_down_no_route_answers_500() {
    let mut faults = 0;
    for rate_limits in ["false", "true"] {
        let (router, state) = router_with_rate_limits(rate_limits);
        let keys = state.config.jwt.as_ref().expect("keys");
        let (token, _) = keys
            .issue(
                uuid::Uuid::new_v4(),
                "jane@example.com",
                uuid::Uuid::new_v4(),
                &shared::domain::assurance::Assurance::first_factor("pwd"),
                chrono::Utc::now(),
            )
            .expect("token");
        for route in template_routes() {
            let (method, path) = route.split_once(' ').expect("METHOD /path");
            let uri = path
                .replace("{id}", "00000000-0000-4000-8000-000000000000")
                .replace("{session_id}", "00000000-0000-4000-8000-000000000000");
            let request = Request::builder()
                .method(method)
                .uri(&uri)
                .header("authorization", format!("Bearer {token}"))
                .header("cookie", format!("refresh_token={}", "A".repeat(43)))
                .header("content-type", "application/json")
                .body(Body::from(valid_body(path).to_string()))
                .expect("request");

            let response = router.clone().oneshot(request).await.expect("infallible");

            let status = response.status();
            let body = response.into_body().collect().await.expect("body").to_bytes();
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{route}: {}", String::from_utf8_lossy(&body));
            if status == StatusCode::SERVICE_UNAVAILABLE {
                faults += 1;
                let body: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
                // The error body, or the readiness probes' seed body naming the failed component.
                let explained =
                    body["detail"].is_string() || body["detail"]["components"]["database"]["ready"] == false;
                assert!(explained, "{route}: 503 without an explanation: {body}");
            }
        }
    }
    assert!(faults > 40, "only {faults} requests reached the database");
    println!("faults injected: {faults} requests with the database down, none answered 500");
}

#[tokio::test]
async fn every_template_route_reaches_a_handler() {
    let router = router();
    let bearer = template_bearer_routes();
    for route in template_routes() {
        let (method, path) = route.split_once(' ').expect("METHOD /path");
        let uri = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{session_id}", "00000000-0000-4000-8000-000000000000");
        let request = Request::builder().method(method).uri(&uri).body(Body::empty()).expect("request");

        let response = router.clone().oneshot(request).await.expect("infallible");

        let status = response.status();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let fallback = status == StatusCode::NOT_FOUND && body.as_ref() == br#"{"detail":"Not Found"}"#;
        assert!(!fallback && status != StatusCode::METHOD_NOT_ALLOWED, "{route} is not served ({status})");
        if bearer.contains(&route) {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{route} is marked `# bearer` but answers without a token");
        }
    }
}

/// The demo page the browser test drives is the devserver's alone: it is served here, with a
/// policy that allows only its own files, and no template route reaches it on AWS.
#[tokio::test]
async fn the_demo_page_is_served_by_the_devserver_and_never_deployed() {
    for (path, content_type) in
        [("/demo", "text/html"), ("/demo/demo.js", "text/javascript"), ("/demo/demo.css", "text/css")]
    {
        let request = Request::builder().uri(path).body(Body::empty()).expect("request");
        let response = router().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let header = |name: &str| response.headers()[name].to_str().expect("ascii").to_owned();
        assert!(header("content-type").starts_with(content_type), "{path}");
        assert!(header("content-security-policy").contains("script-src 'self';"), "{path}");
        assert!(!template_routes().iter().any(|route| route.ends_with(path)), "{path} is in template.yaml");
    }
}
