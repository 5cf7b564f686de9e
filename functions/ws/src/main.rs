//! Lambda entry point: state once per cold start; the Management API publisher pushes to
//! `WS_CALLBACK_URL` (set by the template), or else to the endpoint named by the first event.

use std::sync::OnceLock;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::adapters::apigw_ws::ApiGatewayPublisher;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::startup::state_or_exit(shared::startup::Needs::SigningKey).await;
    let publisher: OnceLock<ApiGatewayPublisher> = OnceLock::new();
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
        let state = state.clone();
        let context = &event.payload.request_context;
        let endpoint = format!(
            "https://{}/{}",
            context.domain_name.as_deref().unwrap_or_default(),
            context.stage.as_deref().unwrap_or_default()
        );
        let publisher = publisher
            .get_or_init(|| ApiGatewayPublisher::new(state.config.ws_callback_url.clone().unwrap_or(endpoint)));
        async move { Ok::<_, lambda_runtime::Error>(ws::handle(&state, publisher, event.payload).await) }
    }))
    .await
}
