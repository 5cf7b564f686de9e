//! Lambda entry point: load configuration, build state once, serve API Gateway events.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let config = shared::Config::from_env_or_exit();
    shared::telemetry::init(&config);
    let state = shared::AppState::new(config);
    lambda_http::run(system_api::router(state)).await
}
