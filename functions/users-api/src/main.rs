//! Lambda entry point: configuration (a verification key is required) and state once, then serve.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::startup::state_or_exit(shared::startup::Needs::SigningKey).await;
    lambda_http::run(users_api::router(state)).await
}
