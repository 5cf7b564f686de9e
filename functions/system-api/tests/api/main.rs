//! API tests of system-api: the real router, a real Postgres per test (`#[sqlx::test]`), and real
//! API Gateway v2 events through the lambda_http adapter.

mod helpers;

use axum::body::Body;
use helpers::*;
use http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use shared::AppState;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn ready_is_200_when_the_database_answers(pool: PgPool) {
    let response = send(app(pool), get("/api/v1/health/ready")).await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["ready"], true);
    assert_eq!(body["components"]["database"], json!({"ready": true, "message": "Database connection successful"}));
    assert_eq!(body["components"]["application"]["ready"], true);
    assert_rfc3339_utc(&body["timestamp"]);
}

#[tokio::test]
async fn ready_is_503_with_the_seed_body_when_the_database_is_unreachable() {
    let response = send(app_without_database(), get("/api/v1/health/ready")).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = response.json();
    assert_eq!(body["detail"]["ready"], false);
    assert_eq!(body["detail"]["message"], "Service not ready");
    assert_eq!(
        body["detail"]["components"]["database"],
        json!({"ready": false, "message": "Database connection failed"})
    );
    assert_eq!(body["detail"]["components"]["application"]["ready"], true);
}

#[tokio::test]
async fn health_names_the_failed_database_as_the_seed_does() {
    let response = send(app_without_database(), get("/api/v1/health")).await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["database"], "unhealthy");
    assert_eq!(body["database_error"], "Database connection failed");
}

#[tokio::test]
async fn the_service_keeps_answering_after_the_database_fails() {
    let app = app_without_database();
    for _ in 0..3 {
        assert_eq!(send(app.clone(), get("/api/v1/health/ready")).await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(send(app, get("/api/v1/health/live")).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_reports_a_healthy_database(pool: PgPool) {
    let response = send(app(pool), get("/api/v1/health")).await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["checks"], json!({"database": "healthy", "application": "healthy"}));
    assert_eq!(body["environment"], "development");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_rfc3339_utc(&body["timestamp"]);
}

#[tokio::test]
async fn health_is_200_but_unhealthy_when_the_database_is_down() {
    let response = send(app_without_database(), get("/api/v1/health/")).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["status"], "unhealthy");
    assert_eq!(response.json()["checks"]["database"], "unhealthy");
}

#[tokio::test]
async fn simple_and_live_have_the_seed_shapes_and_need_no_database() {
    let simple = send(app_without_database(), get("/api/v1/health/simple")).await;
    assert_eq!(simple.status, StatusCode::OK);
    assert_eq!(simple.json()["status"], "healthy");
    assert_rfc3339_utc(&simple.json()["timestamp"]);

    let live = send(app_without_database(), get("/api/v1/health/live")).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["alive"], "true", "a string, as the seed sends it");
    assert_rfc3339_utc(&live.json()["timestamp"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn rate_limit_status_shows_the_callers_real_counters(pool: PgPool) {
    let limit = shared::domain::rate_limit::Limit::LOGIN;
    let window = limit.window_start(chrono::Utc::now());
    for _ in 0..2 {
        shared::repo::rate_limits::hit(&pool, &limit.key(None), window).await.expect("hit");
    }

    let body = send(app(pool), get("/api/v1/health/rate-limit")).await.json();

    assert_eq!(body["enabled"], true);
    let login = &body["limits"]["login"];
    assert_eq!(
        (login["limit"].clone(), login["used"].clone(), login["remaining"].clone()),
        (json!(5), json!(2), json!(3))
    );
    assert_eq!(body["limits"]["register"]["used"], 0);
    assert_eq!(body["limits"]["register"]["limit"], 3);
    // The seed's top-level keys, for the default limit.
    assert_eq!((body["limit"].clone(), body["remaining"].clone()), (json!(100), json!(100)));
    let reset_time = body["reset_time"].as_i64().expect("a Unix time");
    let now = chrono::Utc::now().timestamp();
    assert!((now..=now + 61).contains(&reset_time), "{reset_time} vs {now}");
    assert!(body.get("message").is_none());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn rate_limit_status_says_when_limits_are_off(pool: PgPool) {
    let body = send(
        system_api::router(AppState::with_pool(test_config(&[("RATE_LIMIT_ENABLED", "false")]), pool)),
        get("/api/v1/health/rate-limit"),
    )
    .await
    .json();

    assert_eq!(body["enabled"], false);
    assert_eq!(body["message"], "Rate limiting is disabled");
}

#[tokio::test]
async fn root_welcomes_and_features_report_what_is_enabled() {
    let root = send(app_without_database(), get("/")).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.json(), json!({"message": "Welcome to Serverless Auth"}));

    let features = send(app_without_database(), get("/features")).await;
    assert_eq!(features.json(), json!({"redis": false, "websockets": true, "rate_limiting": true, "celery": true}));
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let response = send(app_without_database(), get("/api/v1/nope")).await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.json(), json!({"detail": "Not Found"}));
}

#[tokio::test]
async fn wrong_method_is_a_json_405_with_allow() {
    let request = Request::post("/api/v1/health/simple").body(Body::empty()).expect("request");
    let response = send(app_without_database(), request).await;

    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers[header::ALLOW].to_str().expect("ascii");
    assert!(allow.contains("GET"), "Allow: {allow}");
    assert_eq!(response.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(response.json(), json!({"detail": "Method Not Allowed"}));
}

#[tokio::test]
async fn every_response_has_security_headers_and_a_request_id() {
    for path in ["/", "/api/v1/health/simple", "/missing"] {
        let response = send(app_without_database(), get(path)).await;
        assert_eq!(response.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(response.headers["referrer-policy"], "no-referrer", "{path}");
        assert!(response.headers.contains_key("x-request-id"), "{path}");
    }
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_with_credentials_only() {
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/health")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request")
    };

    let allowed = send(app_without_database(), preflight("http://localhost:3000")).await;
    assert_eq!(allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:3000");
    assert_eq!(allowed.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert!(allowed.headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().expect("ascii").contains("authorization"));

    let denied = send(app_without_database(), preflight("https://evil.example")).await;
    assert!(!denied.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    assert!(!denied.headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));

    // A simple (non-preflight) cross-origin request from a stranger gets neither header either.
    let simple = Request::builder()
        .uri("/api/v1/health")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .expect("request");
    let simple = send(app_without_database(), simple).await;
    assert!(!simple.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    assert!(!simple.headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
}

#[tokio::test]
async fn browsers_may_read_the_rate_limit_retry_and_request_id_headers_here_and_on_api_gateway() {
    let exposed: std::collections::BTreeSet<String> =
        shared::http::cors::EXPOSED_HEADERS.iter().map(|name| name.as_str().to_owned()).collect();
    let wanted = ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after", "x-request-id"];
    assert_eq!(exposed, wanted.iter().map(|name| (*name).to_owned()).collect());

    let request = Request::builder()
        .uri("/api/v1/health/simple")
        .header(header::ORIGIN, "http://localhost:3000")
        .body(Body::empty())
        .expect("request");
    let response = send(app_without_database(), request).await;
    let answered = response.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().expect("ascii").to_owned();
    let answered: std::collections::BTreeSet<String> =
        answered.split(',').map(|name| name.trim().to_ascii_lowercase()).collect();
    assert_eq!(answered, exposed, "the app's CORS answer");

    // On AWS the HTTP API answers CORS itself and drops the function's CORS headers.
    let template = include_str!("../../../../template.yaml");
    let line = template.lines().find(|line| line.trim_start().starts_with("ExposeHeaders:")).expect("ExposeHeaders");
    let listed: std::collections::BTreeSet<String> = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(names, _)| names.split(',').map(|name| name.trim().to_ascii_lowercase()).collect())
        .expect("a flow list");
    assert_eq!(listed, exposed, "template.yaml's CorsConfiguration.ExposeHeaders");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn ws_status_counts_live_connections_per_room(pool: PgPool) {
    let user: sqlx::types::Uuid =
        sqlx::query_scalar("insert into users (email, username) values ('ws@example.com', 'ws') returning id")
            .fetch_one(&pool)
            .await
            .expect("user");
    let live: sqlx::types::Uuid = sqlx::query_scalar(
        "insert into sessions (user_id, expires_at) values ($1, now() + interval '1 day') returning id",
    )
    .bind(user)
    .fetch_one(&pool)
    .await
    .expect("live session");
    let revoked: sqlx::types::Uuid = sqlx::query_scalar(
        "insert into sessions (user_id, expires_at, revoked_at) values ($1, now() + interval '1 day', now()) returning id",
    )
    .bind(user)
    .fetch_one(&pool)
    .await
    .expect("revoked session");
    for (connection, session, room) in
        [("a", live, "default"), ("a", live, "lobby"), ("b", live, "default"), ("c", revoked, "default")]
    {
        shared::repo::ws_connections::open(&pool, connection, user, session, room).await.expect("connection");
    }

    let response = send(app(pool), get("/api/v1/ws/status")).await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["total_connections"], 2);
    assert_eq!(body["active_rooms"], json!(["default", "lobby"]));
    assert_eq!(body["room_connections"], json!({"default": 2, "lobby": 1}));
    assert_rfc3339_utc(&body["timestamp"]);
}

#[tokio::test]
async fn ws_status_is_503_when_the_database_is_unreachable() {
    let response = send(app_without_database(), get("/api/v1/ws/status")).await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let response = send(app_without_database(), get("/api/v1/openapi.json")).await;

    assert_eq!(response.status, StatusCode::OK);
    // scripts/test lints this copy with a maintained validator (openapi-spec-validator).
    std::fs::write(concat!(env!("CARGO_TARGET_TMPDIR"), "/openapi.json"), &response.text).expect("written");
    let document = response.json();
    assert!(document["openapi"].as_str().expect("version").starts_with("3.1"));
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/resend-verification",
        "/api/v1/users/me",
        "/api/v1/users/me/export",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}",
        "/api/v1/admin/users/{id}/sessions",
        "/api/v1/admin/audit-log",
        "/api/v1/tasks",
        "/api/v1/tasks/{id}",
        "/api/v1/tasks/status",
        "/api/v1/tasks/send-email",
        "/api/v1/tasks/process-data",
        "/api/v1/tasks/cleanup",
        "/api/v1/tasks/long-running",
        "/api/v1/tasks/permanently-delete-accounts",
        "/.well-known/jwks.json",
        "/",
        "/features",
        "/api/v1/health",
        "/api/v1/health/simple",
        "/api/v1/health/ready",
        "/api/v1/health/live",
        "/api/v1/health/rate-limit",
        "/api/v1/ws/status",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    // The statuses the shared extractors and layers add are documented on every operation.
    let responses = |path: &str, method: &str| document["paths"][path][method]["responses"].clone();
    let me = responses("/api/v1/users/me", "get");
    assert!(["401", "429", "503"].iter().all(|status| me.get(status).is_some()), "{me}");
    let login = responses("/api/v1/auth/login", "post");
    assert!(["422", "429", "503"].iter().all(|status| login.get(status).is_some()), "{login}");
    assert!(login.get("401").is_some(), "login documents its own 401 for wrong credentials");
    assert!(responses("/api/v1/health/simple", "get").get("429").is_none(), "health is not rate-limited");
}

/// The routes a client calls first show an example of what to send and what comes back, and the
/// errors every route gives alike show their body: a generated client's docs and Swagger UI's
/// "Try it out" start from these.
#[tokio::test]
async fn the_main_routes_and_the_common_errors_have_examples() {
    let document = send(app_without_database(), get("/api/v1/openapi.json")).await.json();
    let schema_example = |reference: &serde_json::Value| {
        let name = reference["$ref"].as_str().and_then(|path| path.rsplit('/').next()).unwrap_or_default().to_owned();
        document["components"]["schemas"][&name]["example"].clone()
    };
    let example_of = |content: &serde_json::Value| {
        let json = &content["application/json"];
        if json["example"].is_null() { schema_example(&json["schema"]) } else { json["example"].clone() }
    };
    let operation = |path: &str, method: &str| document["paths"][path][method].clone();

    for (path, method) in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/verify-email", "post"),
        ("/api/v1/auth/resend-verification", "post"),
        ("/api/v1/auth/forgot-password", "post"),
        ("/api/v1/auth/reset-password", "post"),
        ("/api/v1/auth/change-password", "post"),
        ("/api/v1/users/me", "patch"),
    ] {
        let body = example_of(&operation(path, method)["requestBody"]["content"]);
        assert!(body.is_object(), "{method} {path}: no request example");
    }
    for (path, method, status) in [
        ("/api/v1/auth/register", "post", "201"),
        ("/api/v1/auth/verify-email", "post", "200"),
        ("/api/v1/auth/refresh", "post", "200"),
        ("/api/v1/users/me", "get", "200"),
        ("/api/v1/auth/sessions", "get", "200"),
    ] {
        let answer = example_of(&operation(path, method)["responses"][status]["content"]);
        assert!(answer.is_object(), "{method} {path} {status}: no answer example");
    }
    let me = operation("/api/v1/users/me", "get");
    assert_eq!(example_of(&me["responses"]["401"]["content"])["code"], "invalid_token");
    assert_eq!(example_of(&me["responses"]["429"]["content"])["code"], "over_request_rate_limit");
    assert_eq!(example_of(&me["responses"]["503"]["content"])["code"], "service_unavailable");
    let verify = operation("/api/v1/auth/verify-email", "post");
    assert_eq!(example_of(&verify["responses"]["422"]["content"])["detail"][0]["type"], "missing");
    assert_eq!(example_of(&verify["responses"]["413"]["content"])["code"], "payload_too_large");
    // A route that documents a status itself keeps its own words: login's 401 is wrong
    // credentials, not the Bearer extractor's invalid token.
    let login = operation("/api/v1/auth/login", "post");
    assert!(login["responses"]["401"]["content"]["application/json"]["example"].is_null(), "{login}");
}

#[tokio::test]
async fn every_error_answer_refers_to_the_one_error_schema_with_the_code_enum() {
    let document = send(app_without_database(), get("/api/v1/openapi.json")).await.json();

    let schemas = &document["components"]["schemas"];
    let codes: Vec<&str> =
        schemas["ErrorCode"]["enum"].as_array().expect("codes").iter().filter_map(Value::as_str).collect();
    let listed: Vec<&str> = shared::error::ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(codes, listed);
    assert!(schemas["ErrorBody"]["properties"]["detail"].is_object(), "{}", schemas["ErrorBody"]);
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if !status.starts_with(['4', '5']) {
                    continue;
                }
                let schema = &response["content"]["application/json"]["schema"];
                assert!(schema.is_object(), "{method} {path} {status} documents no body");
                // /health/ready's 503 has the seed's own body; every other error the one schema.
                if schema["$ref"] != "#/components/schemas/NotReady" {
                    assert_eq!(schema["$ref"], "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "only {checked} error answers documented");
}

#[tokio::test]
async fn every_documented_bound_is_the_one_the_code_enforces() {
    use shared::domain::pagination::Pagination;
    use shared::domain::tasks::{DURATION_SECONDS, MAX_BODY_CHARS, MAX_DATA_ITEMS, MAX_SUBJECT_CHARS, STEPS};
    use shared::security::validation::{PASSWORD_LENGTH, USERNAME_LENGTH};

    let document = send(app_without_database(), get("/api/v1/openapi.json")).await.json();
    let schema = |name: &str, field: &str| document["components"]["schemas"][name]["properties"][field].clone();
    let parameter = |path: &str, method: &str, name: &str| {
        let parameters = document["paths"][path][method]["parameters"].as_array().cloned().unwrap_or_default();
        parameters.into_iter().find(|p| p["name"] == name).map(|p| p["schema"].clone()).unwrap_or_default()
    };
    let bounds = |documented: &Value, low: &str, high: &str| (documented[low].as_i64(), documented[high].as_i64());
    let length =
        |range: std::ops::RangeInclusive<usize>| (i64::try_from(*range.start()).ok(), i64::try_from(*range.end()).ok());
    let at_most = |limit: usize| i64::try_from(limit).ok();

    for (name, field) in [("RegisterBody", "password"), ("ResetBody", "new_password"), ("ChangeBody", "new_password")] {
        assert_eq!(bounds(&schema(name, field), "minLength", "maxLength"), length(PASSWORD_LENGTH), "{name}.{field}");
    }
    for name in ["RegisterBody", "UpdateMe"] {
        assert_eq!(bounds(&schema(name, "username"), "minLength", "maxLength"), length(USERNAME_LENGTH), "{name}");
    }
    assert_eq!(
        bounds(&schema("SendEmailArgs", "subject"), "minLength", "maxLength"),
        (Some(1), at_most(MAX_SUBJECT_CHARS))
    );
    assert_eq!(schema("SendEmailArgs", "body")["maxLength"].as_i64(), at_most(MAX_BODY_CHARS));
    assert_eq!(schema("ProcessDataArgs", "data")["maxItems"].as_i64(), at_most(MAX_DATA_ITEMS));

    let (low, high, _) = DURATION_SECONDS;
    assert_eq!(bounds(&schema("LongRunningArgs", "duration"), "minimum", "maximum"), (Some(low), Some(high)));
    let celery_duration = parameter("/api/v1/celery/tasks/long-running", "post", "duration");
    assert_eq!(bounds(&celery_duration, "minimum", "maximum"), (Some(low), Some(high)));
    let (low, high, _) = STEPS;
    assert_eq!(bounds(&schema("LongRunningArgs", "steps"), "minimum", "maximum"), (Some(low), Some(high)));

    let mut lists = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            let size = parameter(path, method, "size");
            if size.is_null() {
                continue;
            }
            assert_eq!(bounds(&size, "minimum", "maximum"), (Some(1), Some(Pagination::MAX_SIZE)), "{method} {path}");
            assert_eq!(parameter(path, method, "page")["minimum"].as_i64(), Some(1), "{method} {path}");
            lists += 1;
        }
    }
    assert!(lists >= 3, "only {lists} paginated lists found");
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let response = send(app_without_database(), get("/docs")).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.text.contains("SwaggerUIBundle"), "not the Swagger UI page");
    // Every asset is pinned and integrity-checked; the policy names no other script source.
    assert_eq!(response.text.matches(r#"integrity="sha384-"#).count(), 2);
    let policy = response.headers["content-security-policy"].to_str().expect("ascii");
    assert!(policy.starts_with("default-src 'none'; script-src https://cdn.jsdelivr.net/npm/swagger-ui-dist@5."));
    assert!(!policy.contains("unsafe-eval"));
}

#[test]
fn no_two_functions_document_different_schemas_under_one_name() {
    // The document merges each function's components by name, so a second schema of the same
    // name would silently replace the first and describe the other function's answers wrongly.
    use utoipa::OpenApi;
    let documents = [
        ("system-api", system_api::ApiDoc::openapi()),
        ("auth-api", auth_api::ApiDoc::openapi()),
        ("users-api", users_api::ApiDoc::openapi()),
        ("tasks-api", tasks_api::ApiDoc::openapi()),
    ];
    let mut owners: std::collections::BTreeMap<String, (&str, String)> = Default::default();
    for (function, document) in &documents {
        for (name, schema) in document.components.as_ref().map(|c| c.schemas.clone()).unwrap_or_default() {
            let body = serde_json::to_string(&schema).expect("schema");
            if let Some((other, other_body)) = owners.get(&name) {
                assert_eq!(&body, other_body, "schema {name} differs between {other} and {function}");
            }
            owners.insert(name, (function, body));
        }
    }
    assert!(owners.len() > 30, "only {} schemas found", owners.len());
}

#[tokio::test]
async fn redoc_is_served_at_redoc_like_the_seed() {
    let response = send(app_without_database(), get("/redoc")).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(response.text.contains(r#"<redoc spec-url="/api/v1/openapi.json">"#), "not the ReDoc page");
    assert_eq!(response.text.matches(r#"integrity="sha384-"#).count(), 1, "the one script is integrity-checked");
    assert!(!response.text.contains("<script>"), "no inline script");
    let policy = response.headers["content-security-policy"].to_str().expect("ascii");
    assert!(policy.starts_with("default-src 'none'; script-src https://cdn.jsdelivr.net/npm/redoc@2."));
    assert!(!policy.contains("unsafe-eval") && policy.contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn jwks_is_not_published_for_a_shared_secret() {
    let app = system_api::router(shared::AppState::new(test_config(&[("JWT_SECRET", SECRET)])));

    assert_eq!(send(app.clone(), get("/.well-known/jwks.json")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(app, get("/.well-known/openid-configuration")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn jwks_and_discovery_are_published_for_an_asymmetric_key() {
    let config =
        test_config(&[("JWT_PRIVATE_KEY", test_support::keys::RSA_PEM), ("JWT_ISSUER", "https://auth.example.com")]);
    let app = system_api::router(shared::AppState::new(config));

    let jwks = send(app.clone(), get("/.well-known/jwks.json")).await;
    let discovery = send(app, get("/.well-known/openid-configuration")).await.json();

    assert_eq!(jwks.status, StatusCode::OK);
    let key = &jwks.json()["keys"][0];
    assert_eq!(
        (key["kty"].clone(), key["alg"].clone(), key["use"].clone()),
        (json!("RSA"), json!("RS256"), json!("sig"))
    );
    assert!(key.get("d").is_none(), "no private material");
    assert_eq!(discovery["issuer"], "https://auth.example.com");
    assert_eq!(discovery["jwks_uri"], "https://auth.example.com/.well-known/jwks.json");
}

#[tokio::test]
async fn during_a_key_rotation_the_jwks_lists_the_new_key_then_the_previous_one() {
    let config = test_config(&[
        ("JWT_PRIVATE_KEY", test_support::keys::EC_PEM),
        ("JWT_PREVIOUS_PRIVATE_KEY", test_support::keys::RSA_PEM),
    ]);
    let app = system_api::router(shared::AppState::new(config));

    let jwks = send(app, get("/.well-known/jwks.json")).await.json();

    let kinds: Vec<_> = jwks["keys"].as_array().expect("keys").iter().map(|key| key["kty"].clone()).collect();
    assert_eq!(kinds, vec![json!("EC"), json!("RSA")]);
    assert!(jwks["keys"].as_array().expect("keys").iter().all(|key| key.get("d").is_none()));
}

const SECRET: &str = "system-api-test-secret-0123456789abcdef";

/// The real Lambda path: an API Gateway HTTP API v2 event, deserialised as the runtime does,
/// through lambda_http's adapter (the same one `lambda_http::run` uses) to the serialised response.
mod lambda_events {
    use super::*;
    use lambda_http::request::LambdaRequest;
    use lambda_http::{Context, LambdaEvent, Service};
    use serde_json::Value;
    use tower::ServiceExt;

    async fn invoke(app: axum::Router, fixture: &str) -> Value {
        let path = format!("{}/../../tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let event: LambdaRequest = serde_json::from_str(&text).expect("valid API Gateway v2 event");
        let mut adapter = lambda_http::Adapter::from(app);
        let response = adapter
            .ready()
            .await
            .expect("ready")
            .call(LambdaEvent::new(event, Context::default()))
            .await
            .expect("infallible router");
        serde_json::to_value(&response).expect("response serialises for the Runtime API")
    }

    fn body_of(response: &Value) -> Value {
        serde_json::from_str(response["body"].as_str().expect("text body")).expect("JSON body")
    }

    #[sqlx::test(migrator = "shared::MIGRATOR")]
    async fn ready_event_through_the_lambda_adapter_answers_200(pool: PgPool) {
        let response = invoke(app(pool), "system-health-ready.json").await;

        assert_eq!(response["statusCode"], 200);
        assert_eq!(body_of(&response)["ready"], true);
        assert_eq!(response["headers"]["x-request-id"], "Bq1Zbh3SjoEEMjw=", "API Gateway's request id is reused");
    }

    #[sqlx::test(migrator = "shared::MIGRATOR")]
    async fn client_ip_comes_from_the_request_context_not_from_headers(pool: PgPool) {
        let response = invoke(app(pool), "system-health-rate-limit.json").await;

        assert_eq!(body_of(&response)["client_ip"], "203.0.113.10");
    }

    #[tokio::test]
    async fn simple_event_answers_without_a_database() {
        let response = invoke(app_without_database(), "system-health-simple.json").await;

        assert_eq!(response["statusCode"], 200);
        assert_eq!(body_of(&response)["status"], "healthy");
    }
}

#[tokio::test]
async fn answers_served_on_lambda_carry_strict_transport_security_and_local_ones_do_not() {
    let on_lambda = |extra: &[(&str, &str)]| {
        let mut vars = vec![
            ("AWS_LAMBDA_FUNCTION_NAME", "system-api"),
            ("ENVIRONMENT", "development"),
            ("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"),
        ];
        vars.extend_from_slice(extra);
        system_api::router(AppState::new(test_config(&vars)))
    };

    let lambda = send(on_lambda(&[]), get("/api/v1/health/live")).await;
    assert_eq!(lambda.headers[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000; includeSubDomains");
    let shorter = send(on_lambda(&[("HSTS_MAX_AGE_SECONDS", "300")]), get("/api/v1/health/live")).await;
    assert_eq!(shorter.headers[header::STRICT_TRANSPORT_SECURITY], "max-age=300; includeSubDomains");
    let off = send(on_lambda(&[("HSTS_MAX_AGE_SECONDS", "0")]), get("/api/v1/health/live")).await;
    assert!(off.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());
    let local = send(app_without_database(), get("/api/v1/health/live")).await;
    assert!(local.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none(), "plain HTTP locally");
}
