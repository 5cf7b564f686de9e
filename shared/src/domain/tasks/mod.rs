//! Background tasks, the seed's Celery tasks: their names, their statuses, and
//! the arguments each one takes.
//!
//! Arguments arrive the Celery way, as positional `args` and keyword `kwargs` (or, on the shortcut
//! routes, as the request body or query string). They are checked when the task is submitted, so
//! a bad one is a 422 rather than a task that fails later, and checked again when the task runs,
//! so a row written some other way cannot make the worker misbehave. Errors are FastAPI-style
//! entries that point at the offending value (`["body", "kwargs", "to"]`, `["body", "args", 0]`).
//!
//! [`arguments`] checks what a task is given; [`work`] is what the tasks compute.

mod arguments;
mod work;

pub use arguments::{DURATION_SECONDS, MAX_BODY_CHARS, MAX_DATA_ITEMS, MAX_SUBJECT_CHARS, STEPS, TaskSpec};
pub use work::{deadline_message, progress, step_duration, summarize};

use serde_json::{Value, json};

use super::InvalidInput;

/// The tasks the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskName {
    /// Sends one plain mail.
    SendEmail,
    /// Summarises a list of JSON values.
    ProcessData,
    /// Runs the `cleanup-expired` job now.
    Cleanup,
    /// Sleeps in steps, reporting progress (a stand-in for real long work).
    LongRunning,
    /// Runs the `purge-deleted-accounts` job now.
    PermanentlyDeleteAccounts,
}

/// The module path the seed's Celery task names carry (`app.services.celery_tasks.send_email_task`).
const SEED_MODULE_PREFIX: &str = "app.services.celery_tasks.";

impl TaskName {
    /// Every task, in the order the API documents them.
    pub const ALL: [Self; 5] =
        [Self::SendEmail, Self::ProcessData, Self::Cleanup, Self::LongRunning, Self::PermanentlyDeleteAccounts];

    /// The canonical name, as stored and returned.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendEmail => "send_email",
            Self::ProcessData => "process_data",
            Self::Cleanup => "cleanup",
            Self::LongRunning => "long_running",
            Self::PermanentlyDeleteAccounts => "permanently_delete_accounts",
        }
    }

    /// The seed's Celery name (`send_email_task`), which its routes report.
    pub fn seed_name(self) -> &'static str {
        match self {
            Self::SendEmail => "send_email_task",
            Self::ProcessData => "process_data_task",
            Self::Cleanup => "cleanup_task",
            Self::LongRunning => "long_running_task",
            Self::PermanentlyDeleteAccounts => "permanently_delete_accounts_task",
        }
    }

    /// The task called `raw`: its canonical name, or the seed's `<name>_task`, with or without the
    /// seed's module path in front.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let raw = raw.strip_prefix(SEED_MODULE_PREFIX).unwrap_or(raw);
        let name = raw.strip_suffix("_task").unwrap_or(raw);
        Self::ALL.into_iter().find(|task| task.as_str() == name)
    }

    /// The 422 entry for a name that is not a task, listing the ones that are (pydantic's `enum`).
    pub fn unknown(raw: &str, loc: Vec<Value>) -> InvalidInput {
        not_one_of(&Self::ALL.map(Self::as_str), raw, loc)
    }

    /// The parameters of this task, in positional order, each with the other keyword names it
    /// answers to (the seed's `to_email`).
    fn parameters(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Self::SendEmail => &[("to", &["to_email"]), ("subject", &[]), ("body", &[])],
            Self::ProcessData => &[("data", &[])],
            Self::LongRunning => &[("duration", &[]), ("steps", &[])],
            Self::Cleanup | Self::PermanentlyDeleteAccounts => &[],
        }
    }
}

impl std::fmt::Display for TaskName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a task is in its life. PENDING → STARTED → SUCCESS | FAILURE; PENDING → REVOKED when
/// cancelled; a task whose queue message could not be sent goes PENDING → FAILURE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskStatus {
    /// Queued, not yet picked up; the only state a task can be cancelled in.
    Pending,
    /// A worker is running it.
    Started,
    /// Finished; `result` holds what it produced.
    Success,
    /// Finished with an error (`error`); not retried.
    Failure,
    /// Cancelled before it started.
    Revoked,
}

impl TaskStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [Self::Pending, Self::Started, Self::Success, Self::Failure, Self::Revoked];

    /// The stored and returned spelling (Celery's).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Started => "STARTED",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Revoked => "REVOKED",
        }
    }

    /// The status spelled `raw`, in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str().eq_ignore_ascii_case(raw.trim()))
    }

    /// The 422 entry for a value that is not a status.
    pub fn unknown(raw: &str, loc: Vec<Value>) -> InvalidInput {
        not_one_of(&Self::ALL.map(Self::as_str), raw, loc)
    }
}

/// pydantic's `enum` error: "Input should be 'a', 'b' or 'c'".
fn not_one_of(options: &[&str], raw: &str, loc: Vec<Value>) -> InvalidInput {
    let quoted: Vec<String> = options.iter().map(|option| format!("'{option}'")).collect();
    let msg = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        Some((only, _)) => format!("Input should be {only}"),
        None => "Input should be empty".to_owned(),
    };
    InvalidInput::new("enum", loc, msg, json!(raw))
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_seed_names_and_module_paths_are_accepted() {
        for task in TaskName::ALL {
            assert_eq!(TaskName::parse(task.as_str()), Some(task));
            assert_eq!(TaskName::parse(&format!("{task}_task")), Some(task));
            assert_eq!(TaskName::parse(&format!("app.services.celery_tasks.{task}_task")), Some(task));
        }
        for unknown in ["", "send-email", "SEND_EMAIL", "reboot", "_task", "send_email_task_task"] {
            assert_eq!(TaskName::parse(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let error = TaskName::unknown("reboot", vec![json!("body"), json!("task_name")]);
        assert_eq!(error.kind, "enum");
        assert_eq!(
            error.msg,
            "Input should be 'send_email', 'process_data', 'cleanup', 'long_running' or 'permanently_delete_accounts'"
        );
        assert_eq!(error.input, json!("reboot"));
    }

    #[test]
    fn statuses_parse_in_any_case() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
            assert_eq!(TaskStatus::parse(&status.as_str().to_lowercase()), Some(status));
        }
        assert_eq!(TaskStatus::parse("DONE"), None);
        assert_eq!(
            TaskStatus::unknown("DONE", vec![]).msg,
            "Input should be 'PENDING', 'STARTED', 'SUCCESS', 'FAILURE' or 'REVOKED'"
        );
    }
}
