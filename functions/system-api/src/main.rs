//! Lambda entry point: configuration and state once, then serve API Gateway events.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::startup::state_or_exit(shared::startup::Needs::Nothing).await;
    lambda_http::run(system_api::router(state)).await
}
