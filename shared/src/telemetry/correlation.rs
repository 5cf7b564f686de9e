//! The id of the HTTP request being served, for the jobs it queues: the worker logs a job's lines
//! under the same `request_id`, so one Logs Insights filter finds the request and everything it
//! set off. Kept in a task-local because every job is queued from the request's own task.

use std::future::Future;

/// Longest request id carried on: a caller may send its own `x-request-id`.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` as the request `request_id`.
pub async fn within_request<F: Future>(request_id: String, work: F) -> F::Output {
    REQUEST_ID.scope(request_id, work).await
}

/// The id of the request this task serves, cut to [`MAX_REQUEST_ID_CHARS`]; `None` outside a
/// request (scheduled jobs, the worker).
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| bounded(id)).ok().filter(|id| !id.is_empty())
}

/// `id` cut to [`MAX_REQUEST_ID_CHARS`] characters.
pub fn bounded(id: &str) -> String {
    id.chars().take(MAX_REQUEST_ID_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_is_known_inside_the_request_only_and_bounded() {
        assert_eq!(current_request_id(), None);
        let inside = within_request("req-1".into(), async { current_request_id() }).await;
        assert_eq!(inside, Some("req-1".into()));
        let long = within_request("é".repeat(500), async { current_request_id() }).await;
        assert_eq!(long.map(|id| id.chars().count()), Some(MAX_REQUEST_ID_CHARS));
        assert_eq!(within_request(String::new(), async { current_request_id() }).await, None);
    }
}
