//! How long one request may take, derived from the caller's: the incoming `grpc-timeout` (which
//! the gateway sets from its own deadline), less a margin for our own writes and the answer, or
//! a configured budget when the caller gave none. Every upstream call the request makes waits at
//! most what is left, and at most the per-call cap, so a slow dependency can never hold a
//! request past its caller's deadline.

use std::time::Duration;

use tokio::time::Instant;
use tonic::metadata::MetadataMap;

/// Longest margin kept back from the caller's deadline for our own work after the last call.
const MAX_MARGIN: Duration = Duration::from_millis(200);

/// One request's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget of `duration` from now.
    pub fn new(duration: Duration) -> Self {
        Self {
            deadline: Instant::now() + duration,
        }
    }

    /// The budget of a request with `metadata`: its `grpc-timeout` less a margin (a tenth,
    /// at most 200 ms), else `fallback`.
    pub fn from_metadata(metadata: &MetadataMap, fallback: Duration) -> Self {
        let given = metadata
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        Self::new(match given {
            Some(timeout) => timeout.saturating_sub((timeout / 10).min(MAX_MARGIN)),
            None => fallback,
        })
    }

    /// When the request must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time left.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The deadline of one upstream call starting now: what is left, capped at `cap`.
    pub fn call_deadline(&self, cap: Duration) -> Instant {
        self.deadline.min(Instant::now() + cap)
    }
}

/// Parses a gRPC `grpc-timeout` value (`<at most 8 digits><H|M|S|m|u|n>`).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if !value.is_ascii() || value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("9999999u"),
            Some(Duration::from_micros(9_999_999))
        );
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["123456789S", "S", "5x", "5é", ""] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_caller_s_deadline_less_a_margin_or_the_fallback() {
        let fallback = Duration::from_secs(10);
        let mut request = tonic::Request::new(());
        request.set_timeout(Duration::from_secs(1));
        let budget = Budget::from_metadata(request.metadata(), fallback);
        assert_eq!(budget.remaining(), Duration::from_millis(900));

        request.set_timeout(Duration::from_secs(30));
        let budget = Budget::from_metadata(request.metadata(), fallback);
        assert_eq!(
            budget.remaining(),
            Duration::from_millis(29_800),
            "margin capped"
        );

        let budget = Budget::from_metadata(&MetadataMap::new(), fallback);
        assert_eq!(budget.remaining(), fallback);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_get_what_is_left_capped() {
        let budget = Budget::new(Duration::from_secs(5));
        let cap = Duration::from_secs(3);
        assert_eq!(budget.call_deadline(cap) - Instant::now(), cap);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            budget.call_deadline(cap) - Instant::now(),
            Duration::from_secs(1)
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(budget.remaining(), Duration::ZERO);
    }
}
