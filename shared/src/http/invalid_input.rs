//! Rule violations found below the HTTP layer, answered as FastAPI-style 422 entries.

use serde_json::json;

use crate::domain::InvalidInput;
use crate::domain::pagination::{Bound, OutOfBounds};
use crate::error::{ApiError, FieldError};

impl From<InvalidInput> for FieldError {
    fn from(invalid: InvalidInput) -> Self {
        FieldError::new(invalid.kind, invalid.loc, invalid.msg, invalid.input)
    }
}

impl From<Vec<InvalidInput>> for ApiError {
    fn from(problems: Vec<InvalidInput>) -> Self {
        ApiError::Validation(problems.into_iter().map(FieldError::from).collect())
    }
}

impl From<InvalidInput> for ApiError {
    fn from(problem: InvalidInput) -> Self {
        ApiError::Validation(vec![problem.into()])
    }
}

impl From<Vec<OutOfBounds>> for ApiError {
    /// Pydantic's answer for a bounded query integer, one entry per parameter.
    fn from(problems: Vec<OutOfBounds>) -> Self {
        let entry = |problem: OutOfBounds| {
            let (kind, msg) = match problem.bound {
                Bound::AtLeast(min) => {
                    ("greater_than_equal", format!("Input should be greater than or equal to {min}"))
                }
                Bound::AtMost(max) => ("less_than_equal", format!("Input should be less than or equal to {max}")),
            };
            FieldError::new(kind, vec![json!("query"), json!(problem.parameter)], msg, json!(problem.value.to_string()))
        };
        ApiError::Validation(problems.into_iter().map(entry).collect())
    }
}
