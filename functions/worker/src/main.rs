//! Lambda entry point: state once per cold start, then one SQS batch per invocation.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::startup::state_or_exit(shared::startup::Needs::Nothing).await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let state = state.clone();
        async move {
            let deadline = shared::time::deadline_from(event.context.deadline);
            Ok::<_, lambda_runtime::Error>(worker::handle(&state, event.payload, deadline).await)
        }
    }))
    .await
}
