//! What the tasks compute: `process_data`'s summary and `long_running`'s steps.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

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
