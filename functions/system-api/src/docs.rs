//! The OpenAPI document of the whole API, generated from the handlers' annotations of every
//! HTTP function, and Swagger UI at `/docs`.

use axum::Router;
use shared::AppState;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

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
    document
}

pub(crate) fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs").url("/api/v1/openapi.json", document()).into()
}
