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
//!
//! [`BreakerCollector`] exposes the breakers at scrape time:
//! `circuit_breaker_state{upstream}` (0 closed, 1 half-open, 2 open),
//! `circuit_breaker_transitions_total{upstream, state}` (entries into each state) and
//! `circuit_breaker_rejections_total{upstream}` (calls refused without trying).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
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

impl BreakerState {
    /// The value of `circuit_breaker_state`: 0 closed, 1 half-open, 2 open.
    pub fn as_metric(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
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
    counts: Counts,
}

/// What the breaker did, for its metrics (only ever incremented, under the state's lock).
#[derive(Debug, Default)]
struct Counts {
    to_closed: AtomicU64,
    to_half_open: AtomicU64,
    to_open: AtomicU64,
    rejected: AtomicU64,
}

impl Counts {
    fn entered(&self, state: BreakerState) {
        let counter = match state {
            BreakerState::Closed => &self.to_closed,
            BreakerState::HalfOpen => &self.to_half_open,
            BreakerState::Open => &self.to_open,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, state: BreakerState) -> u64 {
        match state {
            BreakerState::Closed => &self.to_closed,
            BreakerState::HalfOpen => &self.to_half_open,
            BreakerState::Open => &self.to_open,
        }
        .load(Ordering::Relaxed)
    }
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
                counts: Counts::default(),
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
            State::Open { until } if Instant::now() < until => return Err(self.reject()),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                if let State::Open { .. } = *state {
                    self.inner.counts.entered(BreakerState::HalfOpen);
                }
                tracing::info!(
                    upstream = self.inner.name,
                    "circuit breaker half-open: probing"
                );
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return Err(self.reject()),
        };
        Ok(Permit {
            breaker: self.clone(),
            probe,
            reported: false,
        })
    }

    /// The upstream this breaker guards.
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    fn reject(&self) -> BreakerOpen {
        self.inner.counts.rejected.fetch_add(1, Ordering::Relaxed);
        BreakerOpen
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
                self.inner.counts.entered(BreakerState::Closed);
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
        self.inner.counts.entered(BreakerState::Open);
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

/// The state and counts of a set of breakers, read at each scrape.
#[derive(Debug)]
pub(crate) struct BreakerCollector(pub(crate) Vec<CircuitBreaker>);

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let states = [
            BreakerState::Closed,
            BreakerState::HalfOpen,
            BreakerState::Open,
        ];
        let gauge_type = ConstGauge::new(0i64).metric_type();
        let counter_type = ConstCounter::new(0u64).metric_type();
        let mut family = encoder.encode_descriptor(
            "circuit_breaker_state",
            "State of the circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
            None,
            gauge_type,
        )?;
        for breaker in &self.0 {
            let labels = [("upstream", breaker.name())];
            ConstGauge::new(breaker.state().as_metric()).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "circuit_breaker_transitions",
            "Times the circuit breaker of an upstream entered a state",
            None,
            counter_type,
        )?;
        for breaker in &self.0 {
            for state in states {
                let labels = [("upstream", breaker.name()), ("state", state.label())];
                ConstCounter::new(breaker.inner.counts.get(state))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "circuit_breaker_rejections",
            "Calls to an upstream refused at once by its open circuit breaker",
            None,
            counter_type,
        )?;
        for breaker in &self.0 {
            let labels = [("upstream", breaker.name())];
            ConstCounter::new(breaker.inner.counts.rejected.load(Ordering::Relaxed))
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
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
