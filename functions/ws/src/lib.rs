//! `ws`: the function behind the API Gateway WebSocket API. `$connect` checks the access token
//! (query `token`, or the `Sec-WebSocket-Protocol` header) and the `Origin`, and registers the
//! connection unless its session or account is at its connection cap (429); `$disconnect`
//! forgets it; `$default` runs the message protocol, pushing through a [`Publisher`] (the
//! Management API in AWS).

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use http::HeaderValue;
use http::header::{HeaderName, ORIGIN};
use serde_json::json;
use shared::AppState;
use shared::domain::ws::{selected_subprotocol, token_from_subprotocols};
use shared::error::ApiError;
use shared::ports::Publisher;
use shared::services::ws::{self, ConnectError};

/// The header a browser may carry the token in (WebSocket clients cannot set `Authorization`).
const SUBPROTOCOL: HeaderName = HeaderName::from_static("sec-websocket-protocol");

/// Handles one WebSocket event; `publisher` pushes frames to connections.
pub async fn handle(
    state: &AppState,
    publisher: &dyn Publisher,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let context = &event.request_context;
    let connection_id = context.connection_id.clone().unwrap_or_default();
    match context.route_key.as_deref().unwrap_or("$default") {
        "$connect" => on_connect(state, &connection_id, &event).await,
        "$disconnect" => match ws::disconnect(state, &connection_id).await {
            Ok(()) => answer(200, None),
            Err(error) => server_error(&error),
        },
        _ if connection_id.is_empty() => answer(400, Some(json!({ "detail": "No connection id" }).to_string())),
        _ => {
            let frame = event.body.as_deref().unwrap_or_default();
            match ws::on_frame(state, publisher, &connection_id, frame).await {
                Ok(()) => answer(200, None),
                Err(error) => server_error(&error),
            }
        }
    }
}

async fn on_connect(
    state: &AppState,
    connection_id: &str,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    if connection_id.is_empty() {
        return answer(400, Some(json!({ "detail": "No connection id" }).to_string()));
    }
    let header = |name: &HeaderName| event.headers.get(name).and_then(|value| value.to_str().ok());
    let offered = header(&SUBPROTOCOL).unwrap_or_default();
    let token = event.query_string_parameters.first("token").or_else(|| token_from_subprotocols(offered));
    match ws::connect(state, connection_id, token, header(&ORIGIN)).await {
        Ok(_) => {
            let mut response = answer(200, None);
            // A client that offered subprotocols drops a socket whose answer selects none.
            if let Some(protocol) = selected_subprotocol(offered).and_then(|p| HeaderValue::from_str(p).ok()) {
                response.headers.insert(SUBPROTOCOL, protocol);
            }
            response
        }
        Err(ConnectError::Rejected(rejection)) => {
            let refusal = ApiError::from(rejection);
            answer(i64::from(refusal.status().as_u16()), Some(refusal.body().to_string()))
        }
        Err(ConnectError::Internal(error)) => server_error(&error),
    }
}

fn answer(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(Body::Text);
    response
}

fn server_error(error: &shared::ApiError) -> ApiGatewayProxyResponse {
    tracing::error!(%error, "WebSocket event failed");
    answer(i64::from(error.status().as_u16()), Some(json!({ "detail": "Internal Server Error" }).to_string()))
}
