//! Background tasks, the seed's Celery tasks: their names, their statuses, and
//! the arguments each one takes.
//!
//! Arguments arrive the Celery way, as positional `args` and keyword `kwargs` (or, on the shortcut
//! routes, as the request body or query string). They are checked when the task is submitted, so
//! a bad one is a 422 rather than a task that fails later, and checked again when the task runs,
//! so a row written some other way cannot make the worker misbehave. Errors are FastAPI-style
//! entries that point at the offending value (`["body", "kwargs", "to"]`, `["body", "args", 0]`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::error::FieldError;
use crate::security::validation::Email;

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
    pub fn unknown(raw: &str, loc: Vec<Value>) -> FieldError {
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
    pub fn unknown(raw: &str, loc: Vec<Value>) -> FieldError {
        not_one_of(&Self::ALL.map(Self::as_str), raw, loc)
    }
}

/// pydantic's `enum` error: "Input should be 'a', 'b' or 'c'".
fn not_one_of(options: &[&str], raw: &str, loc: Vec<Value>) -> FieldError {
    let quoted: Vec<String> = options.iter().map(|option| format!("'{option}'")).collect();
    let msg = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        Some((only, _)) => format!("Input should be {only}"),
        None => "Input should be empty".to_owned(),
    };
    FieldError::new("enum", loc, msg, json!(raw))
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest subject of a `send_email` mail, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest body of a `send_email` mail, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Most items `process_data` takes.
pub const MAX_DATA_ITEMS: usize = 10_000;
/// `long_running` duration bounds and default, in seconds. The upper bound keeps a run inside the
/// worker's 60 s timeout (`template.yaml`) with the deadline reserve to spare; a longer task
/// would be cut off every time, so it is refused at submission.
pub const DURATION_SECONDS: (i64, i64, i64) = (1, 45, 10);
/// `long_running` step-count bounds and default.
pub const STEPS: (i64, i64, i64) = (1, 100, 10);

/// A keyword argument every task accepts and ignores: the seed's examples pass a Celery
/// `priority`, which an SQS standard queue has no use for.
const IGNORED_KWARGS: &[&str] = &["priority"];

/// A task with checked arguments: what the worker runs.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskSpec {
    /// Mail `body` with `subject` to `to`.
    SendEmail {
        /// Normalised recipient address.
        to: String,
        /// Subject line, 1 to [`MAX_SUBJECT_CHARS`] characters.
        subject: String,
        /// Plain-text body, up to [`MAX_BODY_CHARS`] characters.
        body: String,
    },
    /// Summarise `data` (see [`summarize`]).
    ProcessData {
        /// Up to [`MAX_DATA_ITEMS`] values of any JSON type.
        data: Vec<Value>,
    },
    /// Remove expired rows now.
    Cleanup,
    /// Sleep `duration_seconds` in `steps` equal steps, reporting progress after each.
    LongRunning {
        /// Total time, 1 to 45 s.
        duration_seconds: u32,
        /// Number of steps, 1 to 100.
        steps: u32,
    },
    /// Purge the accounts whose deletion grace period ended, now.
    PermanentlyDeleteAccounts,
}

impl TaskSpec {
    /// The task this runs.
    pub fn name(&self) -> TaskName {
        match self {
            Self::SendEmail { .. } => TaskName::SendEmail,
            Self::ProcessData { .. } => TaskName::ProcessData,
            Self::Cleanup => TaskName::Cleanup,
            Self::LongRunning { .. } => TaskName::LongRunning,
            Self::PermanentlyDeleteAccounts => TaskName::PermanentlyDeleteAccounts,
        }
    }

    /// Checks the arguments of task `name`. Positional values are reported at
    /// `["body", "args", i]`, keyword values at `kwargs_loc` + name. Every problem is reported,
    /// not just the first.
    pub fn parse(
        name: TaskName,
        args: &[Value],
        kwargs: &Map<String, Value>,
        kwargs_loc: &[&str],
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let values = bind(name, args, kwargs, kwargs_loc, &mut errors);
        let mut take = values.into_iter();
        let mut next = || take.next();
        let spec = match name {
            TaskName::SendEmail => {
                let to = required(next(), &mut errors).and_then(|arg| email(arg, &mut errors));
                let subject =
                    required(next(), &mut errors).and_then(|arg| string(arg, 1, MAX_SUBJECT_CHARS, &mut errors));
                let body = required(next(), &mut errors).and_then(|arg| string(arg, 0, MAX_BODY_CHARS, &mut errors));
                match (to, subject, body) {
                    (Some(to), Some(subject), Some(body)) => Some(Self::SendEmail { to, subject, body }),
                    _ => None,
                }
            }
            TaskName::ProcessData => required(next(), &mut errors)
                .and_then(|arg| list(arg, MAX_DATA_ITEMS, &mut errors))
                .map(|data| Self::ProcessData { data }),
            TaskName::LongRunning => {
                let duration = integer(next(), DURATION_SECONDS, &mut errors);
                let steps = integer(next(), STEPS, &mut errors);
                match (duration, steps) {
                    (Some(duration_seconds), Some(steps)) => Some(Self::LongRunning { duration_seconds, steps }),
                    _ => None,
                }
            }
            TaskName::Cleanup => Some(Self::Cleanup),
            TaskName::PermanentlyDeleteAccounts => Some(Self::PermanentlyDeleteAccounts),
        };
        match spec {
            Some(spec) if errors.is_empty() => Ok(spec),
            _ => Err(errors),
        }
    }

    /// Re-checks a stored task before it runs; the error is the message its FAILURE records.
    pub fn from_stored(name: &str, args: &Value, kwargs: &Value) -> Result<Self, String> {
        let task = TaskName::parse(name).ok_or_else(|| format!("unknown task {name:?}"))?;
        let empty = Map::new();
        let args = match args {
            Value::Array(args) => args.as_slice(),
            Value::Null => &[],
            _ => return Err("args must be a list".into()),
        };
        let kwargs = match kwargs {
            Value::Object(kwargs) => kwargs,
            Value::Null => &empty,
            _ => return Err("kwargs must be an object".into()),
        };
        Self::parse(task, args, kwargs, &["body", "kwargs"]).map_err(|errors| {
            let problems: Vec<String> = errors
                .iter()
                .map(|error| {
                    let at: Vec<String> = error
                        .loc
                        .iter()
                        .skip(1)
                        .map(|part| part.as_str().map_or(part.to_string(), str::to_owned))
                        .collect();
                    format!("{}: {}", at.join("."), error.msg)
                })
                .collect();
            format!("invalid arguments: {}", problems.join("; "))
        })
    }
}

/// One argument value and where it came from.
struct Arg<'a> {
    value: &'a Value,
    loc: Vec<Value>,
}

/// A parameter's value, or where it would have gone.
enum Slot<'a> {
    Given(Arg<'a>),
    Missing(Vec<Value>),
}

/// Matches positional and keyword values to the task's parameters, Python-style: too many
/// positional values, unknown keywords and a parameter given twice are errors. Returns one slot
/// per parameter, in positional order.
fn bind<'a>(
    name: TaskName,
    args: &'a [Value],
    kwargs: &'a Map<String, Value>,
    kwargs_loc: &[&str],
    errors: &mut Vec<FieldError>,
) -> Vec<Slot<'a>> {
    let keyword_loc = |key: &str| {
        let mut loc: Vec<Value> = kwargs_loc.iter().map(|part| json!(part)).collect();
        loc.push(json!(key));
        loc
    };
    let parameters = name.parameters();
    let mut slots: Vec<Slot<'a>> =
        parameters.iter().map(|(parameter, _)| Slot::Missing(keyword_loc(parameter))).collect();
    for (index, value) in args.iter().enumerate() {
        let loc = vec![json!("body"), json!("args"), json!(index)];
        match slots.get_mut(index) {
            Some(slot) => *slot = Slot::Given(Arg { value, loc }),
            None => errors.push(FieldError::new(
                "unexpected_positional_argument",
                loc,
                format!("{name} takes at most {} positional arguments", parameters.len()),
                value.clone(),
            )),
        }
    }
    for (key, value) in kwargs {
        let loc = keyword_loc(key);
        let position =
            parameters.iter().position(|(parameter, aliases)| parameter == key || aliases.contains(&key.as_str()));
        match position.map(|position| (position, &mut slots[position])) {
            Some((position, Slot::Given(_))) => errors.push(FieldError::new(
                "multiple_argument_values",
                loc,
                format!("Got multiple values for argument '{}'", parameters[position].0),
                value.clone(),
            )),
            Some((_, slot)) => *slot = Slot::Given(Arg { value, loc }),
            None if IGNORED_KWARGS.contains(&key.as_str()) => {}
            None => {
                errors.push(FieldError::new("extra_forbidden", loc, "Extra inputs are not permitted", value.clone()))
            }
        }
    }
    slots
}

/// The value of a parameter without a default; a missing one is reported.
fn required<'a>(slot: Option<Slot<'a>>, errors: &mut Vec<FieldError>) -> Option<Arg<'a>> {
    match slot? {
        Slot::Given(arg) => Some(arg),
        Slot::Missing(loc) => {
            errors.push(FieldError::new("missing", loc, "Field required", Value::Null));
            None
        }
    }
}

fn string(arg: Arg<'_>, min_chars: usize, max_chars: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let Some(text) = arg.value.as_str() else {
        errors.push(FieldError::new("string_type", arg.loc, "Input should be a valid string", arg.value.clone()));
        return None;
    };
    let chars = text.chars().count();
    if chars < min_chars {
        let unit = if min_chars == 1 { "character" } else { "characters" };
        errors.push(FieldError::new(
            "string_too_short",
            arg.loc,
            format!("String should have at least {min_chars} {unit}"),
            arg.value.clone(),
        ));
        return None;
    }
    if chars > max_chars {
        errors.push(FieldError::new(
            "string_too_long",
            arg.loc,
            format!("String should have at most {max_chars} characters"),
            arg.value.clone(),
        ));
        return None;
    }
    if text.contains('\0') {
        errors.push(FieldError::new(
            "string_pattern_mismatch",
            arg.loc,
            "String should not contain NUL characters",
            arg.value.clone(),
        ));
        return None;
    }
    Some(text.to_owned())
}

fn email(arg: Arg<'_>, errors: &mut Vec<FieldError>) -> Option<String> {
    let Some(raw) = arg.value.as_str() else {
        errors.push(FieldError::new("string_type", arg.loc, "Input should be a valid string", arg.value.clone()));
        return None;
    };
    match Email::parse_address(raw) {
        Ok(address) => Some(address.as_str().to_owned()),
        Err(violation) => {
            errors.push(FieldError::new("value_error", arg.loc, violation.message, arg.value.clone()));
            None
        }
    }
}

fn list(arg: Arg<'_>, max_items: usize, errors: &mut Vec<FieldError>) -> Option<Vec<Value>> {
    let Some(items) = arg.value.as_array() else {
        errors.push(FieldError::new("list_type", arg.loc, "Input should be a valid list", arg.value.clone()));
        return None;
    };
    if items.len() > max_items {
        errors.push(FieldError::new(
            "too_long",
            arg.loc,
            format!("List should have at most {max_items} items after validation, not {}", items.len()),
            Value::Null,
        ));
        return None;
    }
    Some(items.clone())
}

/// An integer within `(min, max, default)`; absent means the default. Like pydantic's lax mode, a
/// whole float (`10.0`) and a numeric string (`"10"`, from a query string) are accepted.
fn integer(slot: Option<Slot<'_>>, (min, max, default): (i64, i64, i64), errors: &mut Vec<FieldError>) -> Option<u32> {
    let Some(Slot::Given(arg)) = slot else {
        return u32::try_from(default).ok();
    };
    let number = match arg.value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number.as_f64().filter(|float| float.fract() == 0.0 && float.abs() < 1e15).map(|float| float as i64)
        }),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(number) = number else {
        let (kind, msg) = if arg.value.is_f64() {
            ("int_from_float", "Input should be a valid integer, got a number with a fractional part")
        } else if arg.value.is_string() {
            ("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
        } else {
            ("int_type", "Input should be a valid integer")
        };
        errors.push(FieldError::new(kind, arg.loc, msg, arg.value.clone()));
        return None;
    };
    if number < min {
        errors.push(FieldError::new(
            "greater_than_equal",
            arg.loc,
            format!("Input should be greater than or equal to {min}"),
            arg.value.clone(),
        ));
        return None;
    }
    if number > max {
        errors.push(FieldError::new(
            "less_than_equal",
            arg.loc,
            format!("Input should be less than or equal to {max}"),
            arg.value.clone(),
        ));
        return None;
    }
    u32::try_from(number).ok()
}

/// What `process_data` returns: the number of items, how many of each JSON type, and the count,
/// sum, minimum and maximum of the numbers. The sum is an integer while every number is one
/// (and it fits in 64 bits); `min`/`max` are the original values, `null` without numbers.
/// Deterministic: the same data always gives the same summary.
pub fn summarize(data: &[Value]) -> Value {
    let mut types: BTreeMap<&'static str, u64> =
        ["array", "boolean", "null", "number", "object", "string"].into_iter().map(|kind| (kind, 0)).collect();
    let mut count = 0_u64;
    let mut integer_sum: Option<i128> = Some(0);
    let mut float_sum = 0.0_f64;
    let mut min: Option<(f64, &Value)> = None;
    let mut max: Option<(f64, &Value)> = None;
    for item in data {
        let kind = match item {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        *types.entry(kind).or_default() += 1;
        let Value::Number(number) = item else { continue };
        let Some(float) = number.as_f64() else { continue };
        count += 1;
        float_sum += float;
        integer_sum = match (integer_sum, number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from))) {
            (Some(sum), Some(value)) => sum.checked_add(value),
            _ => None,
        };
        if min.is_none_or(|(smallest, _)| float < smallest) {
            min = Some((float, item));
        }
        if max.is_none_or(|(largest, _)| float > largest) {
            max = Some((float, item));
        }
    }
    let sum = match integer_sum.and_then(|sum| i64::try_from(sum).ok()) {
        Some(sum) => json!(sum),
        None => json!(float_sum),
    };
    json!({
        "count": data.len(),
        "types": types,
        "numeric": {
            "count": count,
            "sum": sum,
            "min": min.map(|(_, value)| value.clone()),
            "max": max.map(|(_, value)| value.clone()),
        },
    })
}

/// How long each `long_running` step sleeps.
pub fn step_duration(duration_seconds: u32, steps: u32) -> Duration {
    Duration::from_secs(u64::from(duration_seconds)) / steps.max(1)
}

/// The progress `long_running` records after `step` of `steps`.
pub fn progress(step: u32, steps: u32) -> Value {
    json!({ "progress": f64::from(step) / f64::from(steps.max(1)), "step": step, "steps": steps })
}

/// The error of a `long_running` task stopped because its invocation was about to time out.
pub fn deadline_message(step: u32, steps: u32) -> String {
    format!("stopped at the function's deadline after step {step} of {steps}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(name: TaskName, args: Value, kwargs: Value) -> Result<TaskSpec, Vec<FieldError>> {
        let Value::Array(args) = args else { panic!("args must be a list") };
        let Value::Object(kwargs) = kwargs else { panic!("kwargs must be an object") };
        TaskSpec::parse(name, &args, &kwargs, &["body", "kwargs"])
    }

    #[track_caller]
    fn errors(result: Result<TaskSpec, Vec<FieldError>>) -> Vec<(String, Vec<Value>)> {
        result.expect_err("invalid").into_iter().map(|error| (error.kind, error.loc)).collect()
    }

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

    #[test]
    fn send_email_takes_keywords_or_positions_and_normalises_the_address() {
        let expected =
            TaskSpec::SendEmail { to: "jane@example.com".into(), subject: "Hi".into(), body: "Hello".into() };
        assert_eq!(
            submit(
                TaskName::SendEmail,
                json!([]),
                json!({"to": " Jane@Example.com", "subject": "Hi", "body": "Hello"})
            ),
            Ok(expected.clone())
        );
        assert_eq!(
            submit(TaskName::SendEmail, json!(["jane@example.com", "Hi", "Hello"]), json!({"priority": "high"})),
            Ok(expected.clone())
        );
        assert_eq!(
            submit(TaskName::SendEmail, json!(["jane@example.com"]), json!({"subject": "Hi", "body": "Hello"})),
            Ok(expected.clone())
        );
        assert_eq!(
            submit(
                TaskName::SendEmail,
                json!([]),
                json!({"to_email": "jane@example.com", "subject": "Hi", "body": "Hello"})
            ),
            Ok(expected)
        );
    }

    #[test]
    fn send_email_reports_every_bad_argument_where_it_was_given() {
        let problems =
            errors(submit(TaskName::SendEmail, json!(["not-an-address"]), json!({"subject": "x".repeat(201)})));
        assert_eq!(
            problems,
            vec![
                ("value_error".into(), vec![json!("body"), json!("args"), json!(0)]),
                ("string_too_long".into(), vec![json!("body"), json!("kwargs"), json!("subject")]),
                ("missing".into(), vec![json!("body"), json!("kwargs"), json!("body")]),
            ]
        );
        let problems =
            errors(submit(TaskName::SendEmail, json!([]), json!({"to": 5, "subject": "", "body": "b".repeat(10_001)})));
        let kinds: Vec<&str> = problems.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, ["string_type", "string_too_short", "string_too_long"]);
        assert!(
            submit(TaskName::SendEmail, json!([]), json!({"to": "a@b.co", "subject": "s", "body": "b".repeat(10_000)}))
                .is_ok()
        );
    }

    #[test]
    fn extra_duplicate_and_surplus_arguments_are_refused() {
        let problems = errors(submit(
            TaskName::SendEmail,
            json!(["a@b.co", "s", "b", "surplus"]),
            json!({"to": "c@d.co", "cc": "e@f.co"}),
        ));
        assert_eq!(
            problems,
            vec![
                ("unexpected_positional_argument".into(), vec![json!("body"), json!("args"), json!(3)]),
                ("extra_forbidden".into(), vec![json!("body"), json!("kwargs"), json!("cc")]),
                ("multiple_argument_values".into(), vec![json!("body"), json!("kwargs"), json!("to")]),
            ]
        );
        let problems = errors(submit(
            TaskName::SendEmail,
            json!([]),
            json!({"to": "a@b.co", "to_email": "a@b.co", "subject": "s", "body": "b"}),
        ));
        assert_eq!(problems.len(), 1);
        assert_eq!(errors(submit(TaskName::Cleanup, json!([1]), json!({}))).len(), 1);
        assert_eq!(errors(submit(TaskName::PermanentlyDeleteAccounts, json!([]), json!({"dry_run": true}))).len(), 1);
    }

    #[test]
    fn process_data_needs_a_list_of_at_most_ten_thousand_items() {
        assert_eq!(
            submit(TaskName::ProcessData, json!([[1, "a"]]), json!({})),
            Ok(TaskSpec::ProcessData { data: vec![json!(1), json!("a")] })
        );
        assert_eq!(errors(submit(TaskName::ProcessData, json!([]), json!({"data": "abc"})))[0].0, "list_type");
        assert_eq!(errors(submit(TaskName::ProcessData, json!([]), json!({})))[0].0, "missing");
        let too_many = Value::Array(vec![json!(0); MAX_DATA_ITEMS + 1]);
        assert_eq!(errors(submit(TaskName::ProcessData, json!([]), json!({ "data": too_many })))[0].0, "too_long");
        let just_enough = Value::Array(vec![json!(0); MAX_DATA_ITEMS]);
        assert!(submit(TaskName::ProcessData, json!([]), json!({ "data": just_enough })).is_ok());
    }

    #[test]
    fn long_running_has_bounded_defaults_and_accepts_numeric_strings() {
        assert_eq!(
            submit(TaskName::LongRunning, json!([]), json!({})),
            Ok(TaskSpec::LongRunning { duration_seconds: 10, steps: 10 })
        );
        assert_eq!(
            submit(TaskName::LongRunning, json!([45, 100]), json!({})),
            Ok(TaskSpec::LongRunning { duration_seconds: 45, steps: 100 })
        );
        assert_eq!(
            submit(TaskName::LongRunning, json!([]), json!({"duration": "2", "steps": 1.0})),
            Ok(TaskSpec::LongRunning { duration_seconds: 2, steps: 1 })
        );
        let kinds = |kwargs: Value| -> Vec<String> {
            errors(submit(TaskName::LongRunning, json!([]), kwargs)).into_iter().map(|(kind, _)| kind).collect()
        };
        assert_eq!(kinds(json!({"duration": 0, "steps": 101})), ["greater_than_equal", "less_than_equal"]);
        assert_eq!(kinds(json!({"duration": 601})), ["less_than_equal"]);
        assert_eq!(kinds(json!({"duration": 1.5})), ["int_from_float"]);
        assert_eq!(kinds(json!({"duration": "soon"})), ["int_parsing"]);
        assert_eq!(kinds(json!({"duration": null, "steps": [1]})), ["int_type", "int_type"]);
    }

    #[test]
    fn stored_arguments_are_rechecked_with_a_readable_message() {
        assert_eq!(TaskSpec::from_stored("cleanup_task", &json!([]), &json!({})), Ok(TaskSpec::Cleanup));
        assert_eq!(TaskSpec::from_stored("reboot", &json!([]), &json!({})), Err("unknown task \"reboot\"".into()));
        assert_eq!(
            TaskSpec::from_stored("send_email", &json!(["x"]), &json!({"subject": "s", "body": "b"})),
            Err("invalid arguments: args.0: value is not a valid email address: An email address must have an @-sign."
                .into())
        );
        assert!(TaskSpec::from_stored("long_running", &json!({}), &json!({})).is_err());
        assert_eq!(
            TaskSpec::from_stored("long_running", &json!([]), &json!({"steps": 0})),
            Err("invalid arguments: kwargs.steps: Input should be greater than or equal to 1".into())
        );
    }

    #[test]
    fn the_summary_counts_types_and_totals_the_numbers() {
        let summary =
            summarize(&[json!(3), json!(-1), json!(2.5), json!("x"), json!(null), json!(true), json!([1]), json!({})]);
        assert_eq!(
            summary,
            json!({
                "count": 8,
                "types": {"array": 1, "boolean": 1, "null": 1, "number": 3, "object": 1, "string": 1},
                "numeric": {"count": 3, "sum": 4.5, "min": -1, "max": 3},
            })
        );
        let integers = summarize(&[json!(1), json!(2), json!(3)]);
        assert_eq!(integers["numeric"]["sum"], json!(6));
        assert!(integers["numeric"]["sum"].is_i64());
        let empty = summarize(&[]);
        assert_eq!(empty["numeric"], json!({"count": 0, "sum": 0, "min": null, "max": null}));
        assert_eq!(summarize(&[json!(1), json!("a")]), summarize(&[json!(1), json!("a")]));
    }

    #[test]
    fn long_running_steps_and_progress() {
        assert_eq!(step_duration(10, 4), Duration::from_millis(2500));
        assert_eq!(progress(1, 4), json!({"progress": 0.25, "step": 1, "steps": 4}));
        assert_eq!(deadline_message(2, 5), "stopped at the function's deadline after step 2 of 5");
    }
}
