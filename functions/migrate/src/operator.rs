//! The operator's commands, run from a shell that reaches the database (and, for `redrive-dlq`,
//! the queues) with the functions' settings: `DATABASE_URL`, or `SECRETS_ARN` naming the
//! stack's secrets, and the other variables the README lists.
//!
//! Each command prints one line saying what it did and exits 0, or names the problem and exits 1;
//! a mistyped command line exits 2 with the usage.

use secrecy::SecretString;
use shared::AppState;
use shared::config::QueueBackend;
use shared::repo::deletion::PurgeNow;
use shared::security::password;
use shared::security::validation::{Email, Username, check_password};
use shared::services::operator::{self, SuperuserCreation};

use crate::MigrateError;

pub use crate::verify_config::verify_config;

/// The command line's help.
pub const USAGE: &str = "\
usage: migrate [COMMAND]

Without a command: applies the database migrations and creates FIRST_SUPERUSER_EMAIL if set.

Commands (each reads the same settings as the functions: DATABASE_URL or SECRETS_ARN, ...):
  create-superuser --email EMAIL --username NAME
                          creates a verified superuser; reads the password from stdin
  revoke-sessions EMAIL   ends every session of the account (its refresh tokens stop working)
  purge-now EMAIL         deletes the account and its data at once, grace period or not
  redrive-dlq [--max N]   moves up to N (default 1000) jobs from the dead-letter queue back
                          to the jobs queue (QUEUE_URL, DLQ_URL)
  verify-config           loads the settings and the secrets, reaches the database and the
                          queue, and reports every problem at once
";

/// Most messages `redrive-dlq` moves unless told otherwise.
const DEFAULT_REDRIVE_LIMIT: u64 = 1000;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply the migrations and bootstrap `FIRST_SUPERUSER_EMAIL` (no command given).
    Migrate,
    /// Print [`USAGE`].
    Help,
    /// Create a superuser; the password comes from stdin.
    CreateSuperuser {
        /// Login address.
        email: String,
        /// Username.
        username: String,
    },
    /// End every session of an account.
    RevokeSessions {
        /// The account's address.
        email: String,
    },
    /// Purge an account now.
    PurgeNow {
        /// The account's address.
        email: String,
    },
    /// Move dead-lettered jobs back to the queue.
    RedriveDlq {
        /// Most messages to move.
        max: u64,
    },
    /// Report every configuration problem.
    VerifyConfig,
}

impl Command {
    /// Reads the arguments after the program name.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            [] => Ok(Self::Migrate),
            ["--help" | "-h" | "help", ..] => Ok(Self::Help),
            ["create-superuser", rest @ ..] => {
                let email = option(rest, "--email")?;
                let username = option(rest, "--username")?;
                if rest.len() != 4 {
                    return Err(
                        "create-superuser takes --email EMAIL --username NAME (the password comes from stdin)".into()
                    );
                }
                Ok(Self::CreateSuperuser { email, username })
            }
            ["revoke-sessions", email] => Ok(Self::RevokeSessions { email: (*email).to_owned() }),
            ["purge-now", email] => Ok(Self::PurgeNow { email: (*email).to_owned() }),
            ["redrive-dlq"] => Ok(Self::RedriveDlq { max: DEFAULT_REDRIVE_LIMIT }),
            ["redrive-dlq", "--max", max] => match max.parse() {
                Ok(max) if max > 0 => Ok(Self::RedriveDlq { max }),
                _ => Err(format!("--max takes a positive number, not {max:?}")),
            },
            ["verify-config"] => Ok(Self::VerifyConfig),
            [command, ..] => Err(format!("unknown command or arguments: {command} ... (see --help)")),
        }
    }
}

fn option(args: &[&str], name: &str) -> Result<String, String> {
    let at = args.iter().position(|arg| *arg == name).ok_or_else(|| format!("{name} is required"))?;
    args.get(at + 1)
        .filter(|value| !value.starts_with("--"))
        .map(|value| (*value).to_owned())
        .ok_or_else(|| format!("{name} needs a value"))
}

/// A command the operator got wrong (a bad address, a weak password, an unknown account); the
/// CLI prints it and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The input breaks a rule, or names nothing.
    #[error("{0}")]
    Refused(String),
    /// The database or the queue failed.
    #[error(transparent)]
    Failed(#[from] MigrateError),
}

impl From<sqlx::Error> for OperatorError {
    fn from(error: sqlx::Error) -> Self {
        Self::Failed(error.into())
    }
}

/// Creates superuser `email`/`username` with `password`, under the same address, name and
/// password rules as registration.
pub async fn create_superuser(
    state: &AppState,
    email: &str,
    username: &str,
    password: &str,
) -> Result<String, OperatorError> {
    let email = Email::parse(email).map_err(|rule| OperatorError::Refused(format!("email: {}", rule.message)))?;
    let username =
        Username::parse(username).map_err(|rule| OperatorError::Refused(format!("username: {}", rule.message)))?;
    check_password(password, state.config.password_policy, &[email.local_part(), username.as_str()])
        .map_err(|rule| OperatorError::Refused(format!("password: {}", rule.message)))?;
    let hash = password::hash(SecretString::from(password.to_owned())).await.map_err(MigrateError::from)?;
    let (email, username) = (email.as_str(), username.as_str());
    match operator::create_superuser(state, email, username, &hash).await? {
        SuperuserCreation::Created(_) => Ok(format!("created superuser {email} ({username})")),
        SuperuserCreation::AlreadySuperuser => Ok(format!("{email} is already a superuser; nothing changed")),
        SuperuserCreation::OrdinaryAccount => Err(OperatorError::Refused(format!(
            "{email} belongs to an ordinary account; a superuser can promote it (PATCH /api/v1/admin/users/{{id}})"
        ))),
        SuperuserCreation::UsernameTaken => {
            Err(OperatorError::Refused(format!("the username {username} is taken; choose another --username")))
        }
    }
}

/// Ends every session of the account with `email`.
pub async fn revoke_sessions(state: &AppState, email: &str) -> Result<String, OperatorError> {
    let email = existing_address(email)?;
    match operator::revoke_sessions(state, &email).await? {
        Some(revoked) => Ok(format!("ended {revoked} session(s) of {email}")),
        None => Err(no_account(&email)),
    }
}

/// Purges the account with `email` now.
pub async fn purge_now(state: &AppState, email: &str) -> Result<String, OperatorError> {
    let email = existing_address(email)?;
    match operator::purge_now(state, &email).await? {
        PurgeNow::Purged(account) => Ok(format!("purged the account {} ({email})", account.id)),
        PurgeNow::NotFound => Err(no_account(&email)),
        PurgeNow::LastSuperuser => Err(OperatorError::Refused(format!(
            "{email} is the last active superuser; create or promote another one first"
        ))),
    }
}

/// Moves up to `max` dead-lettered jobs back to the queue.
pub async fn redrive_dlq(state: &AppState, max: u64) -> Result<String, OperatorError> {
    let QueueBackend::Sqs { queue_url, dlq_url: Some(dlq_url) } = &state.config.queue else {
        return Err(OperatorError::Refused("redrive-dlq needs QUEUE_BACKEND=sqs with QUEUE_URL and DLQ_URL".into()));
    };
    let queue = shared::adapters::sqs::SqsQueue::new(queue_url.clone(), Some(dlq_url.clone()));
    let moved = queue.redrive_dead_letters(max).await.map_err(MigrateError::from)?;
    Ok(format!("moved {moved} job(s) from the dead-letter queue back to the jobs queue"))
}

fn existing_address(email: &str) -> Result<String, OperatorError> {
    Email::parse_existing(email)
        .map(|email| email.as_str().to_owned())
        .map_err(|rule| OperatorError::Refused(format!("email: {}", rule.message)))
}

fn no_account(email: &str) -> OperatorError {
    OperatorError::Refused(format!("no account has the address {email}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        Command::parse(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn command_lines_read_as_commands() {
        assert_eq!(parse(""), Ok(Command::Migrate));
        assert_eq!(parse("--help"), Ok(Command::Help));
        assert_eq!(
            parse("create-superuser --username root --email a@example.com"),
            Ok(Command::CreateSuperuser { email: "a@example.com".into(), username: "root".into() })
        );
        assert_eq!(
            parse("revoke-sessions a@example.com"),
            Ok(Command::RevokeSessions { email: "a@example.com".into() })
        );
        assert_eq!(parse("purge-now a@example.com"), Ok(Command::PurgeNow { email: "a@example.com".into() }));
        assert_eq!(parse("redrive-dlq"), Ok(Command::RedriveDlq { max: DEFAULT_REDRIVE_LIMIT }));
        assert_eq!(parse("redrive-dlq --max 5"), Ok(Command::RedriveDlq { max: 5 }));
        assert_eq!(parse("verify-config"), Ok(Command::VerifyConfig));
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        for line in [
            "create-superuser --email a@example.com",
            "create-superuser --email --username root",
            "create-superuser --email a@example.com --username root --password x",
            "revoke-sessions",
            "purge-now a@example.com b@example.com",
            "redrive-dlq --max 0",
            "redrive-dlq --max lots",
            "drop-database",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }
}
