//! `migrate` as a CLI (`cargo run -p migrate`) or, inside Lambda, as a function to invoke after
//! each deploy. Either way it reads the same configuration as the other functions. As a CLI it
//! also runs the operator's commands (`migrate --help`).

use std::io::BufRead;

use lambda_runtime::{LambdaEvent, service_fn};
use migrate::operator::{self, Command, OperatorError};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let args: Vec<String> = if on_lambda { Vec::new() } else { std::env::args().skip(1).collect() };
    let command = Command::parse(&args).unwrap_or_else(|problem| {
        eprintln!("migrate: {problem}\n\n{}", operator::USAGE);
        std::process::exit(2);
    });
    match command {
        Command::Help => {
            print!("{}", operator::USAGE);
            return Ok(());
        }
        // Before the settings are loaded: reporting their problems is the point.
        Command::VerifyConfig => {
            let (report, passed) = operator::verify_config().await;
            println!("{report}");
            std::process::exit(if passed { 0 } else { 1 });
        }
        _ => {}
    }
    let state = shared::startup::state_or_exit(shared::startup::Needs::Nothing).await;

    if on_lambda {
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

    let outcome = match command {
        Command::Migrate => migrate::run(&state.db, state.config.first_superuser.as_ref())
            .await
            .map(|summary| serde_json::to_string(&summary).unwrap_or_default())
            .map_err(OperatorError::Failed),
        Command::CreateSuperuser { email, username } => match read_password() {
            Ok(password) => operator::create_superuser(&state, &email, &username, &password).await,
            Err(problem) => Err(OperatorError::Refused(problem)),
        },
        Command::RevokeSessions { email } => operator::revoke_sessions(&state, &email).await,
        Command::PurgeNow { email } => operator::purge_now(&state, &email).await,
        Command::RedriveDlq { max } => operator::redrive_dlq(&state, max).await,
        Command::Help | Command::VerifyConfig => Ok(String::new()),
    };
    match outcome {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(error) => {
            eprintln!("migrate: {error}");
            std::process::exit(1);
        }
    }
}

/// The first line of stdin, without its line break: the password is never an argument, which
/// other users of the machine could read from the process list.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|error| format!("could not read the password: {error}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("type the password on stdin (echo or a pipe), one line".into());
    }
    Ok(password)
}
