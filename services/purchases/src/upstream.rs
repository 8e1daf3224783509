//! Clients for the services purchases depends on (users, products, payments), found through
//! discovery, all called the same guarded way ([`Upstreams::call`]):
//!
//! - a deadline on every call: what is left of the request's [`Budget`], capped at the
//!   configured per-call deadline, sent as `grpc-timeout` and enforced here too (a balancer
//!   with no reachable instance would otherwise wait);
//! - a circuit breaker per upstream ([`CircuitBreaker`]): while open, calls fail at once;
//! - retries with jittered exponential backoff, within the same deadline, of failures that are
//!   the transport's (unreachable, reset, UNAVAILABLE) and never of answers. Every call made
//!   here is safe to repeat: reads, and payments' Charge and Refund, which always carry their
//!   idempotency key (the types require one), so a retried charge is never a second charge;
//! - within each attempt, failover between instances ([`discovery::Instances::call`] with
//!   [`Retry::Idempotent`], since every call here is safe to repeat): a call that never reached
//!   an instance, or lost its connection, is sent again at once to another instance, and the
//!   dead one leaves the balancer. Losing one of two instances then costs neither a failed
//!   call nor a step of the breaker.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use discovery::{Discovery, DiscoveryError, Instances, Retry};
use proto::payments::v1::payment_service_client::PaymentServiceClient;
use proto::payments::v1::{
    Charge, ChargeOutcome, ChargeRequest, GetChargeRequest, Refund, RefundRequest,
};
use proto::products::v1::product_service_client::ProductServiceClient;
use proto::products::v1::{GetProductRequest, Product};
use proto::users::v1::user_service_client::UserServiceClient;
use proto::users::v1::{GetUserRequest, User};
use shop_common::names::{PAYMENTS_SERVICE, PRODUCTS_SERVICE, USERS_SERVICE};
use shop_common::{Id, IdempotencyKey};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::breaker::{BreakerConfig, CircuitBreaker};
use crate::budget::Budget;
use crate::domain::Cents;
use crate::error::PurchaseError;

/// How calls to upstreams are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// The longest one logical call may take, retries included (also capped by the request's
    /// budget).
    pub deadline: Duration,
    /// How many times a failed call is retried (so `retries + 1` attempts at most).
    pub retries: u32,
    /// When each upstream's breaker opens and for how long.
    pub breaker: BreakerConfig,
}

/// Why a call brought no usable answer.
#[derive(Debug)]
pub enum CallError {
    /// The upstream answered with an error status of its own (NOT_FOUND, ALREADY_EXISTS, ...).
    Answer(Status),
    /// No answer: unreachable, timed out, transport failure, or the breaker is open.
    Unavailable {
        /// What happened, for the log.
        cause: String,
        /// Whether a request may have reached the upstream without its answer reaching us
        /// (a timeout or a reset rather than a refused connection or an open breaker): then
        /// a write may have happened, and only asking again can tell.
        outcome_unknown: bool,
    },
}

/// The outcome of a charge payments answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargeResult {
    /// Charged: the ledger's row.
    Approved(Charge),
    /// Declined, with payments' reason; nothing was charged.
    Declined(String),
}

/// One upstream: its client, the instances behind the client's channel, and its breaker.
#[derive(Debug, Clone)]
struct Upstream<C> {
    service: &'static str,
    client: C,
    instances: Instances,
    breaker: CircuitBreaker,
}

impl<C> Upstream<C> {
    /// The upstream `service` found through `discovery`, called through `client` built on its
    /// channel.
    fn new(
        service: &'static str,
        discovery: &Discovery,
        client: impl FnOnce(Channel) -> C,
        breaker: BreakerConfig,
    ) -> Result<Self, DiscoveryError> {
        Ok(Self {
            service,
            client: client(discovery.channel(service)?),
            instances: discovery.instances(service)?,
            breaker: CircuitBreaker::new(service, breaker),
        })
    }
}

/// The three services purchases depends on.
#[derive(Debug, Clone)]
pub struct Upstreams {
    users: Upstream<UserServiceClient<Channel>>,
    products: Upstream<ProductServiceClient<Channel>>,
    payments: Upstream<PaymentServiceClient<Channel>>,
    policy: CallPolicy,
}

impl Upstreams {
    /// Clients over the channels `discovery` gives for `users-service`, `products-service` and
    /// `payments-service`, called under `policy`.
    pub fn new(discovery: &Discovery, policy: CallPolicy) -> Result<Self, DiscoveryError> {
        Ok(Self {
            users: Upstream::new(
                USERS_SERVICE,
                discovery,
                UserServiceClient::new,
                policy.breaker,
            )?,
            products: Upstream::new(
                PRODUCTS_SERVICE,
                discovery,
                ProductServiceClient::new,
                policy.breaker,
            )?,
            payments: Upstream::new(
                PAYMENTS_SERVICE,
                discovery,
                PaymentServiceClient::new,
                policy.breaker,
            )?,
            policy,
        })
    }

    /// The breakers of the three upstreams, for the metrics.
    pub(crate) fn breakers(&self) -> Vec<CircuitBreaker> {
        vec![
            self.users.breaker.clone(),
            self.products.breaker.clone(),
            self.payments.breaker.clone(),
        ]
    }

    /// The longest one logical call may take.
    pub fn call_deadline(&self) -> Duration {
        self.policy.deadline
    }

    /// The user `id`.
    #[tracing::instrument(skip(self, budget))]
    pub async fn user(&self, id: Id, budget: &Budget) -> Result<User, PurchaseError> {
        let response = self
            .call(&self.users, budget, |mut client, timeout| async move {
                client
                    .get_user(with_timeout(GetUserRequest { id: id.get() }, timeout))
                    .await
            })
            .await
            .map_err(|err| PurchaseError::from_call(USERS_SERVICE, "user", id.get(), err))?;
        response.user.ok_or_else(|| PurchaseError::UpstreamFailed {
            service: USERS_SERVICE,
            cause: "GetUser answered without a user".into(),
        })
    }

    /// The product `id`.
    #[tracing::instrument(skip(self, budget))]
    pub async fn product(&self, id: Id, budget: &Budget) -> Result<Product, PurchaseError> {
        let response = self
            .call(&self.products, budget, |mut client, timeout| async move {
                client
                    .get_product(with_timeout(GetProductRequest { id: id.get() }, timeout))
                    .await
            })
            .await
            .map_err(|err| PurchaseError::from_call(PRODUCTS_SERVICE, "product", id.get(), err))?;
        response
            .product
            .ok_or_else(|| PurchaseError::UpstreamFailed {
                service: PRODUCTS_SERVICE,
                cause: "GetProduct answered without a product".into(),
            })
    }

    /// Charges `amount` under `key` (retried: the key makes a repeat the same charge).
    #[tracing::instrument(skip(self, budget))]
    pub async fn charge(
        &self,
        key: &IdempotencyKey,
        amount: Cents,
        budget: &Budget,
    ) -> Result<ChargeResult, CallError> {
        let request = ChargeRequest {
            idempotency_key: key.as_str().to_owned(),
            amount_minor: amount.get(),
        };
        let response = self
            .call(&self.payments, budget, |mut client, timeout| {
                let request = request.clone();
                async move { client.charge(with_timeout(request, timeout)).await }
            })
            .await?;
        match (response.outcome(), response.charge) {
            (ChargeOutcome::Approved, Some(charge)) => Ok(ChargeResult::Approved(charge)),
            (ChargeOutcome::Declined, _) => Ok(ChargeResult::Declined(response.decline_reason)),
            (outcome, _) => Err(CallError::Unavailable {
                cause: format!("Charge answered {outcome:?} without a charge"),
                outcome_unknown: true,
            }),
        }
    }

    /// Refunds `amount` of the charge `charge_key` under `key` (retried: the key makes a
    /// repeat the same refund).
    #[tracing::instrument(skip(self, budget))]
    pub async fn refund(
        &self,
        key: &IdempotencyKey,
        charge_key: &IdempotencyKey,
        amount: Cents,
        budget: &Budget,
    ) -> Result<Refund, CallError> {
        let request = RefundRequest {
            idempotency_key: key.as_str().to_owned(),
            charge_idempotency_key: charge_key.as_str().to_owned(),
            amount_minor: amount.get(),
        };
        let response = self
            .call(&self.payments, budget, |mut client, timeout| {
                let request = request.clone();
                async move { client.refund(with_timeout(request, timeout)).await }
            })
            .await?;
        response.refund.ok_or_else(|| CallError::Unavailable {
            cause: "Refund answered without a refund".into(),
            outcome_unknown: true,
        })
    }

    /// The approved charge under `key`, or `None` when payments has none.
    #[tracing::instrument(skip(self, budget))]
    pub async fn get_charge(
        &self,
        key: &IdempotencyKey,
        budget: &Budget,
    ) -> Result<Option<Charge>, CallError> {
        let request = GetChargeRequest {
            idempotency_key: key.as_str().to_owned(),
        };
        let result = self
            .call(&self.payments, budget, |mut client, timeout| {
                let request = request.clone();
                async move { client.get_charge(with_timeout(request, timeout)).await }
            })
            .await;
        match result {
            Ok(response) => response
                .charge
                .map(Some)
                .ok_or_else(|| CallError::Unavailable {
                    cause: "GetCharge answered without a charge".into(),
                    outcome_unknown: false,
                }),
            Err(CallError::Answer(status)) if status.code() == Code::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// One logical call to `upstream`: attempts through its breaker, each bounded by what is
    /// left of the call's deadline, transport failures retried with backoff and jitter.
    async fn call<C, T, F, Fut>(
        &self,
        upstream: &Upstream<C>,
        budget: &Budget,
        rpc: F,
    ) -> Result<T, CallError>
    where
        C: Clone,
        F: Fn(C, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let until = budget.call_deadline(self.policy.deadline);
        // Attempts that may have reached the upstream and whose answer we do not have.
        let in_doubt = AtomicUsize::new(0);
        let attempt = || async {
            let permit = upstream
                .breaker
                .try_acquire()
                .map_err(|_| Failure::BreakerOpen)?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            in_doubt.fetch_add(1, Ordering::SeqCst);
            let failover = upstream
                .instances
                .call(Retry::Idempotent, || rpc(upstream.client.clone(), left));
            match tokio::time::timeout(left, failover).await {
                Ok(Ok(response)) => {
                    in_doubt.fetch_sub(1, Ordering::SeqCst);
                    permit.success();
                    Ok(response.into_inner())
                }
                Ok(Err(status)) if is_transport_failure(&status) => {
                    if !may_have_acted(&status) {
                        in_doubt.fetch_sub(1, Ordering::SeqCst);
                    }
                    permit.failure();
                    Err(Failure::Transport(status))
                }
                Ok(Err(status)) => {
                    in_doubt.fetch_sub(1, Ordering::SeqCst);
                    // The upstream answered: it is up, whatever it said.
                    permit.success();
                    Err(Failure::Answer(status))
                }
                Err(_elapsed) => {
                    permit.failure();
                    Err(Failure::Timeout)
                }
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_millis(400))
            .with_jitter()
            .with_max_times(self.policy.retries as usize);
        let retried = attempt
            .retry(backoff)
            .when(|failure| matches!(failure, Failure::Transport(_)))
            .notify(|failure, wait| {
                tracing::debug!(upstream = upstream.service, ?failure, ?wait, "retrying");
            });
        let outcome = tokio::time::timeout_at(until, retried)
            .await
            .unwrap_or(Err(Failure::Timeout));
        let outcome_unknown = in_doubt.load(Ordering::SeqCst) > 0;
        outcome.map_err(|failure| match failure {
            Failure::Answer(status) => CallError::Answer(status),
            Failure::Transport(status) => CallError::Unavailable {
                cause: format!("{:?}: {}", status.code(), status.message()),
                outcome_unknown,
            },
            Failure::Timeout => CallError::Unavailable {
                cause: format!("no answer within {:?}", self.policy.deadline),
                outcome_unknown,
            },
            Failure::BreakerOpen => CallError::Unavailable {
                cause: format!("circuit breaker {:?}", upstream.breaker.state()),
                outcome_unknown,
            },
        })
    }
}

/// One attempt's failure.
#[derive(Debug)]
enum Failure {
    /// An answer (not retried).
    Answer(Status),
    /// A transport failure or UNAVAILABLE (retried).
    Transport(Status),
    /// The call's deadline passed (not retried: there is no time left).
    Timeout,
    /// The breaker rejected the call (not retried: that is the point of it).
    BreakerOpen,
}

/// The request for one attempt: the deadline, and the trace context of the calling span (the
/// `#[instrument]`ed method, itself inside the caller's call), so the upstream's spans join the
/// trace.
fn with_timeout<T>(message: T, timeout: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(timeout);
    shop_common::telemetry::inject_metadata(request.metadata_mut());
    request
}

/// Whether `status` means "no usable answer": transport failures surface as UNAVAILABLE or
/// UNKNOWN depending on where they happen; CANCELLED and DEADLINE_EXCEEDED mean no answer in
/// time.
fn is_transport_failure(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled
    )
}

/// Whether the upstream may have acted on a request that failed with `status`. Not when the
/// request never left (a refused connection), nor when the server itself answered UNAVAILABLE
/// (our services say that only before doing anything: payments' simulated failures, no
/// database connection). Everything else may have: a reset or a timeout on our side, and a
/// server's CANCELLED or DEADLINE_EXCEEDED (it gave up at some point of its work, maybe after a
/// commit).
fn may_have_acted(status: &Status) -> bool {
    let answered_unavailable = from_the_server(status) && status.code() == Code::Unavailable;
    sent_to_the_server(status) && !answered_unavailable
}

/// Whether the server itself sent `status` (a gRPC answer, trailers and all) rather than the
/// client's transport making it up.
fn from_the_server(status: &Status) -> bool {
    std::error::Error::source(status).is_none()
}

/// Whether the request may have been sent: false only when the connection was refused, so it
/// never left this process.
fn sent_to_the_server(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return false;
        }
        source = err.source();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connections_are_never_sent() {
        let refused = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(!sent_to_the_server(&refused));
        assert!(!from_the_server(&refused));
        let reset = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(sent_to_the_server(&reset));
        let answered = Status::unavailable("simulated failure");
        assert!(from_the_server(&answered));
        assert!(is_transport_failure(&answered));
        assert!(!is_transport_failure(&Status::not_found("no")));
    }

    #[test]
    fn only_refusals_and_unavailable_answers_are_known_not_to_have_acted() {
        let refused = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(!may_have_acted(&refused));
        assert!(!may_have_acted(&Status::unavailable("simulated failure")));
        let reset = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(may_have_acted(&reset));
        // The server's own timeout fired: maybe after its commit.
        assert!(may_have_acted(&Status::cancelled("Timeout expired")));
        assert!(may_have_acted(&Status::deadline_exceeded("late")));
        assert!(may_have_acted(&Status::unknown("panicked")));
    }
}
