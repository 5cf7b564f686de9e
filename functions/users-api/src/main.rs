//! Lambda entry point: load configuration (a verification key is required), build state, serve.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let config = shared::Config::from_env_or_exit();
    if let Err(error) = config.require_jwt() {
        eprintln!("{error}");
        std::process::exit(2);
    }
    shared::telemetry::init(&config);
    let state = shared::AppState::new(config);
    lambda_http::run(users_api::router(state)).await
}
