//! Where a client stands against every rate limit, for `GET /health/rate-limit`: read-only, so
//! asking does not use up a try.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::domain::rate_limit::{Decision, Limit};
use crate::error::ApiError;
use crate::repo::rate_limits;

/// One limit and the client's use of it in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The limit.
    pub limit: Limit,
    /// Requests counted in the current window, including units an instance has reserved and
    /// not used yet.
    pub used: u32,
    /// What the next request would be told.
    pub decision: Decision,
}

/// The client's standing against every limit, one query per distinct window.
pub async fn standings(
    state: &AppState,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Vec<Standing>, ApiError> {
    let all = state.config.rate_limits.all();
    let mut standings = Vec::with_capacity(all.len());
    for window in all.iter().map(|limit| limit.window_start(now)).collect::<BTreeSet<_>>() {
        let same_window: Vec<&Limit> = all.iter().filter(|limit| limit.window_start(now) == window).collect();
        let keys: Vec<String> = same_window.iter().map(|limit| limit.key(client)).collect();
        let counts = rate_limits::peek_many(&state.db, &keys, window).await?;
        for (limit, key) in same_window.into_iter().zip(&keys) {
            let used = counts.iter().find(|(k, _)| k == key).map_or(0, |(_, count)| *count);
            standings.push(Standing {
                limit: *limit,
                used: u32::try_from(used).unwrap_or(0),
                decision: limit.decide(used, now),
            });
        }
    }
    Ok(standings)
}
