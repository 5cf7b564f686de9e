//! A value that breaks an input rule, and where in the request it was.

use serde_json::Value;

/// One broken rule, in pydantic's vocabulary so the HTTP layer can answer it as one entry of a
/// FastAPI-style 422 without translating.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidInput {
    /// pydantic's error type (`missing`, `string_too_long`, `enum`, ...).
    pub kind: &'static str,
    /// Where the value is: `["body", "kwargs", "to"]`, `["query", "page"]`, ...
    pub loc: Vec<Value>,
    /// What is wrong, in words.
    pub msg: String,
    /// The value itself.
    pub input: Value,
}

impl InvalidInput {
    /// A broken rule at `loc`.
    pub fn new(kind: &'static str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        Self { kind, loc, msg: msg.into(), input }
    }
}
