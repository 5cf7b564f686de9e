//! The arguments each task takes, checked when it is submitted and again before it runs.

use serde_json::{Map, Value, json};

use super::TaskName;
use crate::domain::InvalidInput;
use crate::security::validation::Email;

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
    /// Summarise `data` (see [`super::summarize`]).
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
    ) -> Result<Self, Vec<InvalidInput>> {
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
    errors: &mut Vec<InvalidInput>,
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
            None => errors.push(InvalidInput::new(
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
            Some((position, Slot::Given(_))) => errors.push(InvalidInput::new(
                "multiple_argument_values",
                loc,
                format!("Got multiple values for argument '{}'", parameters[position].0),
                value.clone(),
            )),
            Some((_, slot)) => *slot = Slot::Given(Arg { value, loc }),
            None if IGNORED_KWARGS.contains(&key.as_str()) => {}
            None => {
                errors.push(InvalidInput::new("extra_forbidden", loc, "Extra inputs are not permitted", value.clone()))
            }
        }
    }
    slots
}

/// The value of a parameter without a default; a missing one is reported.
fn required<'a>(slot: Option<Slot<'a>>, errors: &mut Vec<InvalidInput>) -> Option<Arg<'a>> {
    match slot? {
        Slot::Given(arg) => Some(arg),
        Slot::Missing(loc) => {
            errors.push(InvalidInput::new("missing", loc, "Field required", Value::Null));
            None
        }
    }
}

fn string(arg: Arg<'_>, min_chars: usize, max_chars: usize, errors: &mut Vec<InvalidInput>) -> Option<String> {
    let Some(text) = arg.value.as_str() else {
        errors.push(InvalidInput::new("string_type", arg.loc, "Input should be a valid string", arg.value.clone()));
        return None;
    };
    let chars = text.chars().count();
    if chars < min_chars {
        let unit = if min_chars == 1 { "character" } else { "characters" };
        errors.push(InvalidInput::new(
            "string_too_short",
            arg.loc,
            format!("String should have at least {min_chars} {unit}"),
            arg.value.clone(),
        ));
        return None;
    }
    if chars > max_chars {
        errors.push(InvalidInput::new(
            "string_too_long",
            arg.loc,
            format!("String should have at most {max_chars} characters"),
            arg.value.clone(),
        ));
        return None;
    }
    if text.contains('\0') {
        errors.push(InvalidInput::new(
            "string_pattern_mismatch",
            arg.loc,
            "String should not contain NUL characters",
            arg.value.clone(),
        ));
        return None;
    }
    Some(text.to_owned())
}

fn email(arg: Arg<'_>, errors: &mut Vec<InvalidInput>) -> Option<String> {
    let Some(raw) = arg.value.as_str() else {
        errors.push(InvalidInput::new("string_type", arg.loc, "Input should be a valid string", arg.value.clone()));
        return None;
    };
    match Email::parse_address(raw) {
        Ok(address) => Some(address.as_str().to_owned()),
        Err(violation) => {
            errors.push(InvalidInput::new("value_error", arg.loc, violation.message, arg.value.clone()));
            None
        }
    }
}

fn list(arg: Arg<'_>, max_items: usize, errors: &mut Vec<InvalidInput>) -> Option<Vec<Value>> {
    let Some(items) = arg.value.as_array() else {
        errors.push(InvalidInput::new("list_type", arg.loc, "Input should be a valid list", arg.value.clone()));
        return None;
    };
    if items.len() > max_items {
        errors.push(InvalidInput::new(
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
fn integer(
    slot: Option<Slot<'_>>,
    (min, max, default): (i64, i64, i64),
    errors: &mut Vec<InvalidInput>,
) -> Option<u32> {
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
        errors.push(InvalidInput::new(kind, arg.loc, msg, arg.value.clone()));
        return None;
    };
    if number < min {
        errors.push(InvalidInput::new(
            "greater_than_equal",
            arg.loc,
            format!("Input should be greater than or equal to {min}"),
            arg.value.clone(),
        ));
        return None;
    }
    if number > max {
        errors.push(InvalidInput::new(
            "less_than_equal",
            arg.loc,
            format!("Input should be less than or equal to {max}"),
            arg.value.clone(),
        ));
        return None;
    }
    u32::try_from(number).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(name: TaskName, args: Value, kwargs: Value) -> Result<TaskSpec, Vec<InvalidInput>> {
        let Value::Array(args) = args else { panic!("args must be a list") };
        let Value::Object(kwargs) = kwargs else { panic!("kwargs must be an object") };
        TaskSpec::parse(name, &args, &kwargs, &["body", "kwargs"])
    }

    #[track_caller]
    fn errors(result: Result<TaskSpec, Vec<InvalidInput>>) -> Vec<(String, Vec<Value>)> {
        result.expect_err("invalid").into_iter().map(|error| (error.kind.to_owned(), error.loc)).collect()
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
}
