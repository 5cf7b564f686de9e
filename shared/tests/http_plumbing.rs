//! The shared HTTP layers on a small router: error envelope, request ids on 5xx, JSON rejections.

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::AppState;
use shared::error::ApiError;
use shared::http::AppJson;
use test_support::{send, test_config};
use tower::ServiceExt;

#[derive(Debug, Deserialize)]
struct Register {
    email: String,
}

fn app() -> Router {
    let config = test_config(&[]);
    let routes = Router::new()
        .route("/boom", get(|| async { Err::<(), _>(ApiError::Internal("disk on fire".into())) }))
        .route("/echo", post(|AppJson(body): AppJson<Register>| async move { body.email }));
    shared::http::finish(routes, AppState::new(config))
}

async fn call(request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = send(app(), request).await;
    (response.status, response.headers, response.body)
}

fn post_json(body: &str, content_type: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/echo");
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body.to_owned())).expect("request")
}

#[tokio::test]
async fn server_errors_are_generic_and_carry_the_request_id() {
    let request = Request::get("/boom").header("x-request-id", "req-123").body(Body::empty()).expect("request");

    let (status, headers, body) = call(request).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["x-request-id"], "req-123");
    assert_eq!(body, json!({"detail": "Internal server error", "code": "internal_error", "request_id": "req-123"}));
    assert!(!body.to_string().contains("disk on fire"), "the cause must not reach the client");
}

#[tokio::test]
async fn malformed_json_is_a_fastapi_style_422() {
    let (status, _, body) = call(post_json("{not json", Some("application/json"))).await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"][0], "body");
}

#[tokio::test]
async fn missing_field_is_a_422_naming_it() {
    let (status, _, body) = call(post_json("{}", Some("application/json"))).await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
    assert_eq!(body["detail"][0]["msg"], "Field required");
}

#[tokio::test]
async fn unsupported_content_type_is_a_422() {
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let (status, _, body) = call(post_json(r#"{"email":"a@b.c"}"#, content_type)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{content_type:?}");
        assert_eq!(body["detail"][0]["loc"], json!(["body"]));
    }
}

#[tokio::test]
async fn json_with_charset_and_valid_body_is_accepted() {
    let response =
        app().oneshot(post_json(r#"{"email":"a@b.c"}"#, Some("application/json; charset=utf-8"))).await.expect("ok");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(shared::http::MAX_BODY_BYTES + 1));
    let (status, _, body) = call(post_json(&huge, Some("application/json"))).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");
}
