//! A circuit breaker per upstream: after `failures` consecutive failed calls it opens and
//! rejects calls at once (the caller answers UNAVAILABLE without waiting on a dead service),
//! after `cooldown` it lets one probe call through (half-open), and the probe's outcome closes
//! it again or reopens it for another cool-down.
//!
//! Why our own and not the `failsafe` crate (1.3, evaluated with `cargo info failsafe`): its
//! half-open state admits every concurrent call, not one probe, so a recovering service gets the
//! whole backlog at once; it reads `std::time::Instant` through its own clock, so the state
//! machine cannot be tested under tokio's paused time; and it brings `rand` 0.8 and
//! `parking_lot` for what is sixty lines here. What counts as a failure is the caller's call
//! (an upstream's NOT_FOUND is an answer, not a failure), which a [`Permit`] reports.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker (at least 1).
    pub failures: u32,
    /// How long it stays open before letting a probe through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(5),
        }
    }
}

/// The observable state, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are rejected until the cool-down ends.
    Open,
    /// The cool-down ended: one probe call may go (or is going) through.
    HalfOpen,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A call was rejected because the breaker is open (or half-open with its probe in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open")]
pub struct BreakerOpen;

/// One upstream's breaker; shared by every call to it (cheap to clone).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: &'static str,
    config: BreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker for the upstream `name` (named in its log lines).
    pub fn new(name: &'static str, config: BreakerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                config: BreakerConfig {
                    failures: config.failures.max(1),
                    ..config
                },
                state: Mutex::new(State::Closed { failures: 0 }),
            }),
        }
    }

    /// The current state (an open breaker whose cool-down has ended reads as half-open).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Permission for one call, or [`BreakerOpen`] at once. The permit reports the call's
    /// outcome; dropped without a report (the call was cancelled), it counts for nothing.
    pub fn try_acquire(&self) -> Result<Permit, BreakerOpen> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() < until => return Err(BreakerOpen),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                tracing::info!(
                    upstream = self.inner.name,
                    "circuit breaker half-open: probing"
                );
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return Err(BreakerOpen),
        };
        Ok(Permit {
            breaker: self.clone(),
            probe,
            reported: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, success: bool) {
        let mut state = self.lock();
        let name = self.inner.name;
        *state = match (*state, success) {
            (State::Closed { .. }, true) => State::Closed { failures: 0 },
            (State::Open { .. } | State::HalfOpen { .. }, true) => {
                tracing::info!(
                    upstream = name,
                    "circuit breaker closed: the upstream answers"
                );
                State::Closed { failures: 0 }
            }
            (State::Closed { failures }, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.inner.config.failures {
                    tracing::warn!(
                        upstream = name,
                        failures,
                        cooldown = ?self.inner.config.cooldown,
                        "circuit breaker open: calls fail fast until the cool-down ends"
                    );
                    self.open_state()
                } else {
                    State::Closed { failures }
                }
            }
            (State::HalfOpen { .. }, false) => {
                tracing::warn!(
                    upstream = name,
                    "circuit breaker reopened: the probe failed"
                );
                self.open_state()
            }
            // A call admitted before the breaker opened, failing late: already open.
            (open @ State::Open { .. }, false) => open,
        };
    }

    fn open_state(&self) -> State {
        State::Open {
            until: Instant::now() + self.inner.config.cooldown,
        }
    }

    fn release_probe(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { probing: true } = *state {
            *state = State::HalfOpen { probing: false };
        }
    }
}

/// Permission for one call; report its outcome with [`Permit::success`] or
/// [`Permit::failure`].
#[derive(Debug)]
pub struct Permit {
    breaker: CircuitBreaker,
    probe: bool,
    reported: bool,
}

impl Permit {
    /// The upstream answered (any answer it meant to give, errors included).
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(true);
    }

    /// The upstream did not answer: transport failure, timeout, or it said it is unavailable.
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record(false);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // A cancelled probe must not keep the breaker half-open with no probe ever reporting.
        if !self.reported && self.probe {
            self.breaker.release_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: BreakerConfig = BreakerConfig {
        failures: 3,
        cooldown: Duration::from_secs(5),
    };

    fn fail(breaker: &CircuitBreaker, times: u32) {
        for _ in 0..times {
            breaker.try_acquire().expect("admitted").failure();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_only() {
        let breaker = CircuitBreaker::new("test", CONFIG);
        fail(&breaker, 2);
        breaker.try_acquire().expect("admitted").success();
        fail(&breaker, 2);
        assert_eq!(breaker.state(), BreakerState::Closed, "a success resets");
        fail(&breaker, 1);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.try_acquire().map(drop), Err(BreakerOpen));
    }

    #[tokio::test(start_paused = true)]
    async fn half_opens_after_the_cooldown_with_one_probe_that_closes_it() {
        let breaker = CircuitBreaker::new("test", CONFIG);
        fail(&breaker, 3);
        tokio::time::advance(Duration::from_millis(4_900)).await;
        assert!(breaker.try_acquire().is_err(), "still cooling down");
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let probe = breaker.try_acquire().expect("the probe");
        assert_eq!(
            breaker.try_acquire().map(drop),
            Err(BreakerOpen),
            "one probe at a time"
        );
        probe.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.try_acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_a_whole_cooldown() {
        let breaker = CircuitBreaker::new("test", CONFIG);
        fail(&breaker, 3);
        tokio::time::advance(CONFIG.cooldown).await;
        breaker.try_acquire().expect("the probe").failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        tokio::time::advance(CONFIG.cooldown - Duration::from_millis(1)).await;
        assert!(breaker.try_acquire().is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(breaker.try_acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_lets_the_next_call_probe() {
        let breaker = CircuitBreaker::new("test", CONFIG);
        fail(&breaker, 3);
        tokio::time::advance(CONFIG.cooldown).await;
        drop(breaker.try_acquire().expect("the probe"));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        breaker.try_acquire().expect("a new probe").success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn late_outcomes_of_calls_admitted_before_opening() {
        let breaker = CircuitBreaker::new("test", CONFIG);
        let slow = breaker.try_acquire().expect("admitted while closed");
        fail(&breaker, 3);
        slow.failure();
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a late failure does not extend the cool-down"
        );
        let late = {
            let breaker = CircuitBreaker::new("test", CONFIG);
            let late = breaker.try_acquire().expect("admitted");
            fail(&breaker, 3);
            late.success();
            breaker.state()
        };
        assert_eq!(
            late,
            BreakerState::Closed,
            "an answer proves the upstream is back"
        );
    }

    #[test]
    fn zero_failures_means_one() {
        let breaker = CircuitBreaker::new(
            "test",
            BreakerConfig {
                failures: 0,
                cooldown: Duration::from_secs(1),
            },
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            fail(&breaker, 1);
            assert_eq!(breaker.state(), BreakerState::Open);
        });
    }
}
