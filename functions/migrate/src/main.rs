//! `migrate` as a CLI (`cargo run -p migrate`) or, inside Lambda, as a function to invoke after
//! each deploy. Either way it reads the same configuration as the other functions.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    if std::env::args().any(|arg| arg == "--help" || arg == "-h") {
        println!(
            "migrate: applies database migrations and creates FIRST_SUPERUSER_EMAIL if set.\nReads DATABASE_URL and the other variables documented in README.md."
        );
        return Ok(());
    }
    let state = shared::startup::state_or_exit(shared::startup::Needs::Nothing).await;

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let handler = service_fn(|_event: LambdaEvent<Value>| {
            let state = state.clone();
            async move {
                let summary = migrate::run(&state.db, state.config.first_superuser.as_ref())
                    .await
                    .map_err(lambda_runtime::Error::from)?;
                tracing::info!(?summary, "migrate finished");
                Ok::<_, lambda_runtime::Error>(summary)
            }
        });
        return lambda_runtime::run(handler).await;
    }

    match migrate::run(&state.db, state.config.first_superuser.as_ref()).await {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            Ok(())
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            std::process::exit(1);
        }
    }
}
