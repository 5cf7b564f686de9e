//! Lambda entry point: state once per cold start, then one job per invocation.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::startup::state_or_exit(shared::startup::Needs::Nothing).await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let state = state.clone();
        async move {
            let deadline = scheduler::deadline_from(event.context.deadline);
            let report = scheduler::handle(&state, &event.payload, deadline).await.map_err(|error| {
                tracing::error!(%error, "scheduled job failed");
                lambda_runtime::Error::from(error)
            })?;
            Ok::<_, lambda_runtime::Error>(report)
        }
    }))
    .await
}
