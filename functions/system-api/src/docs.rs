//! The OpenAPI document, generated from the handlers' annotations, and Swagger UI at `/docs`.

use axum::Router;
use shared::AppState;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::{health, root};

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
    ),
    tags((name = "system", description = "Service information"), (name = "health", description = "Health checks"))
)]
pub struct ApiDoc;

pub(crate) fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs").url("/api/v1/openapi.json", ApiDoc::openapi()).into()
}
