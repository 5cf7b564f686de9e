//! Every request is answered within `REQUEST_TIMEOUT_MS`. The pool's acquire timeout bounds the
//! wait for a connection, and Postgres' statement timeout bounds a query it is running, but
//! nothing bounds a query whose connection stopped answering (a database host that hangs, a
//! network path that drops packets): the request would wait until Lambda kills the invocation,
//! or forever in the devserver. Past the deadline the work is dropped, which closes the
//! connection it held, and the caller gets the usual 503.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// The request ran past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request took longer than its {0:?} deadline and was abandoned")]
struct DeadlineExceeded(std::time::Duration);

/// Middleware: runs the rest of the stack under the configured deadline.
pub(crate) async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => ApiError::Unavailable(Box::new(DeadlineExceeded(limit))).into_response(),
    }
}
