//! The `purchases.v1.PurchaseService` implementation and the purchase lifecycle.
//!
//! CreatePurchase: the user and product are fetched concurrently (nothing is written unless
//! both exist), the purchase is written PENDING, charged through payments under the key
//! `purchase-<id>`, and settled COMPLETED or FAILED with a reason. RefundPurchase: a COMPLETED
//! purchase is refunded through payments under `refund-<id>` and marked REFUNDED.
//!
//! Both run detached from the caller (a spawned task): once a purchase is written, it is charged
//! and settled even if the caller goes away. What a crash leaves PENDING the sweeper settles
//! against the payments ledger ([`Core::sweep`]).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncConnection;
use futures::future::{try_join, try_join_all};
use proto::purchases::v1::purchase_service_server::PurchaseService;
use proto::purchases::v1::{
    CreatePurchaseRequest, CreatePurchaseResponse, GetPurchaseRequest, GetPurchaseResponse,
    GetUserPurchasesRequest, GetUserPurchasesResponse, RefundPurchaseRequest,
    RefundPurchaseResponse, WatchPurchaseRequest,
};
use shop_common::pagination::PageRequest;
use shop_common::{Database, Id, IdempotencyKey};
use tonic::{Code, Request, Response, Status};

use crate::budget::Budget;
use crate::db::{self, PurchaseRow};
use crate::domain::{
    Cents, NewPurchase, PurchaseOrder, PurchaseStatus, Settlement, charge_key, reason, refund_key,
};
use crate::error::PurchaseError;
use crate::events::watch::{EventStream, Watchers};
use crate::events::{self, Events};
use crate::idempotency::{self, Owner, Turn, Turns};
use crate::upstream::{CallError, ChargeResult, Upstreams};

/// The operation names request hashes are salted with, so a key used for one operation is a
/// conflict when reused for another.
const CREATE: &str = "purchases.v1.PurchaseService/CreatePurchase";
const REFUND: &str = "purchases.v1.PurchaseService/RefundPurchase";

/// Timing of the lifecycle: when leftovers are settled and how long keys live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The budget of a request whose caller sent no deadline (`grpc-timeout`).
    pub request_timeout: Duration,
    /// A PENDING purchase older than this is settled by the sweeper, and an idempotency key
    /// claimed longer ago with nothing written is presumed abandoned. Must exceed the longest a
    /// live request can keep a purchase PENDING (one per-call deadline: the charge, then the
    /// ledger check) plus the longest payments may still work on a charge it was sent (its
    /// `grpc-timeout`, at most that deadline again): [`crate::Application`] requires more than
    /// twice the deadline, so the sweeper never races a live request.
    pub settle_after: Duration,
    /// How often the sweeper runs (it also runs once at start-up).
    pub sweep_interval: Duration,
    /// How long idempotency keys and their answers are kept.
    pub key_ttl: Duration,
}

/// What the handlers and the sweeper share.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) db: Database,
    pub(crate) upstreams: Upstreams,
    pub(crate) settings: Settings,
    /// The event stream, when configured: its relay publishes the outbox, and watchers read it.
    pub(crate) events: Option<Events>,
    pub(crate) watchers: Watchers,
}

/// The gRPC service. Holds the sweeper's and the outbox relay's tasks, which stop when the last
/// clone (the server's) is dropped.
#[derive(Debug, Clone)]
pub struct PurchasesGrpc {
    core: Arc<Core>,
    _sweeper: Arc<crate::sweeper::SweeperTask>,
    _relay: Option<Arc<events::relay::RelayTask>>,
}

impl PurchasesGrpc {
    /// A service over `db`, calling `upstreams`, with its sweeper and (given `events`) its
    /// outbox relay, started now (they wait for the database to be ready). Without `events`
    /// the outbox still records every change, and nothing publishes it. Must run inside a
    /// tokio runtime.
    pub fn new(
        db: Database,
        upstreams: Upstreams,
        settings: Settings,
        events: Option<Events>,
        watchers: Watchers,
    ) -> Self {
        let relay = events
            .clone()
            .map(|events| Arc::new(events::relay::spawn(db.clone(), events)));
        let core = Arc::new(Core {
            db,
            upstreams,
            settings,
            events,
            watchers,
        });
        let sweeper = crate::sweeper::spawn(core.clone());
        Self {
            core,
            _sweeper: Arc::new(sweeper),
            _relay: relay,
        }
    }
}

impl Core {
    async fn create(
        &self,
        request: CreatePurchaseRequest,
        key: Option<IdempotencyKey>,
        budget: Budget,
    ) -> Result<CreatePurchaseResponse, PurchaseError> {
        let order = PurchaseOrder::try_from(&request)?;
        match key {
            None => self.create_now(order, None, &budget).await,
            Some(key) => {
                let mut turns = Turns::new(key, idempotency::request_hash(CREATE, &request));
                loop {
                    match self.next_turn(&mut turns, &budget).await? {
                        Turn::Own(owner) => {
                            let outcome = self.create_now(order, Some(&owner), &budget).await;
                            return self.release_on_error(&owner, outcome).await;
                        }
                        Turn::Answer(bytes) => return idempotency::decode(turns.key(), &bytes),
                        Turn::Bound(id) => match self.rebuild_create(id, &budget).await? {
                            Some(answer) => return self.store_rebuilt(&turns, answer).await,
                            None => turns.wait(&budget).await?,
                        },
                    }
                }
            }
        }
    }

    /// The purchase lifecycle of one order: check, write PENDING, charge, settle.
    async fn create_now(
        &self,
        order: PurchaseOrder,
        owner: Option<&Owner>,
        budget: &Budget,
    ) -> Result<CreatePurchaseResponse, PurchaseError> {
        let (user, product) = try_join(
            self.upstreams.user(order.user_id, budget),
            self.upstreams.product(order.product_id, budget),
        )
        .await?;
        let amount = Cents::from_price(product.price).ok_or(PurchaseError::UnchargeablePrice {
            product_id: product.id,
            price: product.price,
        })?;
        let purchase = NewPurchase {
            user_id: order.user_id,
            product_id: order.product_id,
            amount,
        };
        let row = {
            let mut conn = self.db.conn().await?;
            conn.transaction(async |conn| {
                let row = db::insert_purchase(conn, &purchase).await?;
                events::record(conn, &row).await?;
                if let Some(owner) = owner
                    && !db::bind_key_to_purchase(conn, &owner.key, owner.claim, stored_id(row.id)?)
                        .await?
                {
                    // Taken over meanwhile: the new owner runs the request, not us.
                    return Err(PurchaseError::KeyInProgress(owner.key.clone()));
                }
                Ok::<_, PurchaseError>(row)
            })
            .await?
        };
        self.events_written();
        let id = stored_id(row.id)?;
        tracing::info!(
            purchase_id = row.id,
            amount_minor = amount.get(),
            "purchase PENDING"
        );
        let settlement = self.charge(id, amount, budget).await?;
        let answer = |row: PurchaseRow| {
            Ok(CreatePurchaseResponse {
                purchase: Some(row.into_message()?),
                user: Some(user.clone()),
                product: Some(product.clone()),
            })
        };
        self.settle(id, &settlement, owner, answer).await
    }

    /// Charges purchase `id` and says how it settles; [`PurchaseError::PaymentPending`] when
    /// payments may have charged without our hearing of it (the purchase then stays PENDING for
    /// the sweeper).
    ///
    /// The whole of it fits in one upstream deadline (or what is left of the request's budget):
    /// two thirds for the charge, the rest to ask the ledger when the charge's answer is lost.
    /// So a payments that never answers costs a purchase one deadline, not two.
    async fn charge(
        &self,
        id: Id,
        amount: Cents,
        budget: &Budget,
    ) -> Result<Settlement, PurchaseError> {
        let key = charge_key(id);
        let phase = Budget::new(budget.remaining().min(self.upstreams.call_deadline()));
        let charging = Budget::new(phase.remaining() * 2 / 3);
        let outcome_unknown = match self.upstreams.charge(&key, amount, &charging).await {
            Ok(ChargeResult::Approved(_)) => return Ok(Settlement::Completed),
            Ok(ChargeResult::Declined(why)) => {
                return Ok(Settlement::Failed(reason::declined(&why)));
            }
            // Payments refused the request itself and wrote nothing.
            Err(CallError::Answer(status))
                if matches!(
                    status.code(),
                    Code::InvalidArgument | Code::AlreadyExists | Code::FailedPrecondition
                ) =>
            {
                tracing::error!(
                    purchase_id = id.get(),
                    ?status,
                    "payments rejected the charge"
                );
                return Ok(Settlement::Failed(reason::rejected(status.message())));
            }
            // Never reached payments (refused, breaker open), or payments said it failed.
            Err(CallError::Unavailable {
                cause,
                outcome_unknown: false,
            }) => {
                tracing::warn!(purchase_id = id.get(), %cause, "payments unavailable");
                return Ok(Settlement::Failed(reason::PAYMENTS_UNAVAILABLE.to_owned()));
            }
            Err(CallError::Answer(_)) => false,
            Err(CallError::Unavailable { .. }) => true,
        };
        // An answer we cannot read, or none at all: the ledger says whether it charged.
        match self.upstreams.get_charge(&key, &phase).await {
            Ok(Some(charge)) => Ok(ledger_settlement(id, amount, charge.amount_minor)),
            // No attempt is still on its way: what the ledger lacks was never charged.
            Ok(None) if !outcome_unknown => {
                Ok(Settlement::Failed(reason::PAYMENTS_UNAVAILABLE.to_owned()))
            }
            Ok(None) | Err(_) => Err(PurchaseError::PaymentPending(id.get())),
        }
    }

    /// Moves purchase `id` out of PENDING as `settlement` says and builds the answer from the
    /// settled row; for a key's owner the answer is stored in the same transaction, so an
    /// answer exists whenever the settlement does. If someone settled it first, the row as it
    /// stands is answered.
    async fn settle<R: prost::Message>(
        &self,
        id: Id,
        settlement: &Settlement,
        owner: Option<&Owner>,
        answer: impl Fn(PurchaseRow) -> Result<R, PurchaseError> + Send + Sync,
    ) -> Result<R, PurchaseError> {
        let mut conn = self.db.conn().await?;
        let response = conn
            .transaction(async |conn| {
                let row = match db::settle_purchase(conn, id, settlement).await? {
                    Some(row) => {
                        events::record(conn, &row).await?;
                        tracing::info!(
                            purchase_id = row.id,
                            status = row.status,
                            reason = row.failure_reason,
                            "purchase settled"
                        );
                        row
                    }
                    None => {
                        tracing::warn!(purchase_id = id.get(), "purchase was settled meanwhile");
                        existing_purchase(conn, id).await?
                    }
                };
                let response = answer(row)?;
                store_answer(conn, owner, &response).await?;
                Ok::<_, PurchaseError>(response)
            })
            .await?;
        self.events_written();
        Ok(response)
    }

    /// The answer to a CreatePurchase whose purchase `id` was settled by someone else (its
    /// request gave up waiting for payments, or died); `None` while it is still PENDING.
    async fn rebuild_create(
        &self,
        id: Id,
        budget: &Budget,
    ) -> Result<Option<CreatePurchaseResponse>, PurchaseError> {
        let row = {
            let mut conn = self.db.conn().await?;
            existing_purchase(&mut conn, id).await?
        };
        if row.status == PurchaseStatus::Pending.as_db() {
            return Ok(None);
        }
        let (user, product) = try_join(
            self.upstreams.user(stored_id(row.user_id)?, budget),
            self.upstreams.product(stored_id(row.product_id)?, budget),
        )
        .await?;
        Ok(Some(CreatePurchaseResponse {
            purchase: Some(row.into_message()?),
            user: Some(user),
            product: Some(product),
        }))
    }

    async fn refund(
        &self,
        request: RefundPurchaseRequest,
        key: Option<IdempotencyKey>,
        budget: Budget,
    ) -> Result<RefundPurchaseResponse, PurchaseError> {
        let id = Id::parse(request.id, "id")?;
        match key {
            None => self.refund_now(id, None, &budget).await,
            Some(key) => {
                let mut turns = Turns::new(key, idempotency::request_hash(REFUND, &request));
                match self.next_turn(&mut turns, &budget).await? {
                    Turn::Own(owner) => {
                        let outcome = self.refund_now(id, Some(&owner), &budget).await;
                        self.release_on_error(&owner, outcome).await
                    }
                    Turn::Answer(bytes) => idempotency::decode(turns.key(), &bytes),
                    // Refund keys are never bound to a purchase.
                    Turn::Bound(_) => Err(PurchaseError::Corrupt(
                        "a refund's idempotency key is bound to a purchase".into(),
                    )),
                }
            }
        }
    }

    /// Refunds the COMPLETED purchase `id` in full and marks it REFUNDED. Payments' refund key
    /// (`refund-<id>`) makes any repeat, concurrent or after a crash, the same one refund.
    async fn refund_now(
        &self,
        id: Id,
        owner: Option<&Owner>,
        budget: &Budget,
    ) -> Result<RefundPurchaseResponse, PurchaseError> {
        let row = {
            let mut conn = self.db.conn().await?;
            db::find_purchase(&mut conn, id)
                .await?
                .ok_or(PurchaseError::NotFound {
                    entity: "purchase",
                    id: id.get(),
                })?
        };
        let status = row.status()?;
        if status != PurchaseStatus::Completed {
            return Err(not_refundable(id, status));
        }
        let amount = Cents::from_minor(row.amount_minor).ok_or_else(|| {
            PurchaseError::Corrupt(format!("purchase {id} has amount {}", row.amount_minor))
        })?;
        let service = shop_common::names::PAYMENTS_SERVICE;
        match self
            .upstreams
            .refund(&refund_key(id), &charge_key(id), amount, budget)
            .await
        {
            Ok(refund) => {
                tracing::info!(purchase_id = id.get(), refund_id = refund.id, "refunded");
            }
            Err(CallError::Answer(status)) if status.code() == Code::NotFound => {
                tracing::error!(purchase_id = id.get(), "a COMPLETED purchase has no charge");
                return Err(PurchaseError::NotRefundable {
                    id: id.get(),
                    why: "the payments ledger holds no charge for it",
                });
            }
            Err(CallError::Answer(status)) => {
                return Err(PurchaseError::UpstreamFailed {
                    service,
                    cause: format!("{:?}: {}", status.code(), status.message()),
                });
            }
            Err(CallError::Unavailable { cause, .. }) => {
                return Err(PurchaseError::UpstreamUnavailable { service, cause });
            }
        }
        let mut conn = self.db.conn().await?;
        let response = conn
            .transaction(async |conn| {
                let row = match db::mark_refunded(conn, id).await? {
                    Some(row) => {
                        events::record(conn, &row).await?;
                        row
                    }
                    // A concurrent refund marked it first (payments refunded once for both).
                    None => {
                        let row = existing_purchase(conn, id).await?;
                        return Err(not_refundable(id, row.status()?));
                    }
                };
                let response = RefundPurchaseResponse {
                    purchase: Some(row.into_message()?),
                };
                store_answer(conn, owner, &response).await?;
                Ok::<_, PurchaseError>(response)
            })
            .await?;
        self.events_written();
        Ok(response)
    }

    async fn get_purchase(
        &self,
        request: GetPurchaseRequest,
        budget: &Budget,
    ) -> Result<GetPurchaseResponse, PurchaseError> {
        let id = Id::parse(request.id, "id")?;
        let row = {
            let mut conn = self.db.conn().await?;
            db::find_purchase(&mut conn, id)
                .await?
                .ok_or(PurchaseError::NotFound {
                    entity: "purchase",
                    id: id.get(),
                })?
        };
        let (user, product) = try_join(
            self.upstreams.user(stored_id(row.user_id)?, budget),
            self.upstreams.product(stored_id(row.product_id)?, budget),
        )
        .await?;
        Ok(GetPurchaseResponse {
            purchase: Some(row.into_message()?),
            user: Some(user),
            product: Some(product),
        })
    }

    async fn get_user_purchases(
        &self,
        request: GetUserPurchasesRequest,
        budget: &Budget,
    ) -> Result<GetUserPurchasesResponse, PurchaseError> {
        let user_id = Id::parse(request.user_id, "user_id")?;
        // Each user's list is its own: a token of another user's list is refused.
        let scope = format!("purchases.v1.PurchaseService/GetUserPurchases/{user_id}");
        let page = PageRequest::parse(request.page_size, &request.page_token, &scope)?;
        // The user is fetched while the purchases load and their products are fetched.
        let purchases_and_products = async {
            let rows = {
                let mut conn = self.db.conn().await?;
                db::purchases_of_user(&mut conn, user_id, page.after_id, page.fetch_limit()).await?
            };
            let (rows, next_page_token) = page.finish(rows, &scope, |row| row.id);
            let mut seen = HashSet::new();
            let product_ids = rows
                .iter()
                .map(|row| row.product_id)
                .filter(|id| seen.insert(*id))
                .map(stored_id)
                .collect::<Result<Vec<_>, _>>()?;
            let products = try_join_all(
                product_ids
                    .into_iter()
                    .map(|id| self.upstreams.product(id, budget)),
            )
            .await?;
            Ok::<_, PurchaseError>((rows, products, next_page_token))
        };
        let (user, (rows, products, next_page_token)) =
            try_join(self.upstreams.user(user_id, budget), purchases_and_products).await?;
        Ok(GetUserPurchasesResponse {
            purchases: rows
                .into_iter()
                .map(PurchaseRow::into_message)
                .collect::<Result<_, _>>()?,
            user: Some(user),
            products,
            next_page_token,
        })
    }

    /// Settles what crashes and lost answers left PENDING longer than the settle bound, by
    /// asking payments' ledger (COMPLETED if it holds the charge, FAILED otherwise), and purges
    /// expired idempotency keys. Returns how many purchases it settled.
    pub(crate) async fn sweep(&self) -> Result<usize, PurchaseError> {
        let age =
            chrono::Duration::from_std(self.settings.settle_after).unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now() - age;
        let rows = {
            let mut conn = self.db.conn().await?;
            db::pending_before(&mut conn, cutoff, 100).await?
        };
        let mut settled = 0;
        for row in rows {
            let id = stored_id(row.id)?;
            let amount = Cents::from_minor(row.amount_minor).ok_or_else(|| {
                PurchaseError::Corrupt(format!("purchase {id} has amount {}", row.amount_minor))
            })?;
            let budget = Budget::new(self.upstreams.call_deadline());
            let settlement = match self.upstreams.get_charge(&charge_key(id), &budget).await {
                Ok(Some(charge)) => ledger_settlement(id, amount, charge.amount_minor),
                Ok(None) => Settlement::Failed(reason::NO_PAYMENT_TAKEN.to_owned()),
                Err(err) => {
                    tracing::warn!(
                        purchase_id = id.get(),
                        ?err,
                        "cannot settle yet: payments does not answer"
                    );
                    continue;
                }
            };
            let mut conn = self.db.conn().await?;
            let settled_row = conn
                .transaction(async |conn| {
                    let row = db::settle_purchase(conn, id, &settlement).await?;
                    if let Some(row) = &row {
                        events::record(conn, row).await?;
                    }
                    Ok::<_, PurchaseError>(row)
                })
                .await?;
            if let Some(row) = settled_row {
                self.events_written();
                tracing::info!(
                    purchase_id = row.id,
                    status = row.status,
                    reason = row.failure_reason,
                    "sweeper settled a PENDING purchase"
                );
                settled += 1;
            }
        }
        let mut conn = self.db.conn().await?;
        let purged = db::purge_expired_keys(&mut conn).await?;
        if purged > 0 {
            tracing::info!(purged, "purged expired idempotency keys");
        }
        let published_before = chrono::Utc::now() - chrono::Duration::days(1);
        let purged = db::purge_published(&mut conn, published_before).await?;
        if purged > 0 {
            tracing::info!(purged, "purged published outbox events");
        }
        Ok(settled)
    }

    /// Tells the outbox relay that committed transactions wrote events.
    fn events_written(&self) {
        if let Some(events) = &self.events {
            events.wake_relay();
        }
    }

    /// The events of one existing purchase; see `WatchPurchase` in the proto.
    async fn watch(&self, request: WatchPurchaseRequest) -> Result<EventStream, PurchaseError> {
        let id = Id::parse(request.id, "id")?;
        {
            let mut conn = self.db.conn().await?;
            if db::find_purchase(&mut conn, id).await?.is_none() {
                return Err(PurchaseError::NotFound {
                    entity: "purchase",
                    id: id.get(),
                });
            }
        }
        let events = self
            .events
            .as_ref()
            .ok_or_else(|| PurchaseError::EventsUnavailable {
                cause: "this instance has no event stream configured".into(),
            })?;
        events::watch::watch(events, &self.watchers, id, request.after_sequence).await
    }
}

/// How a purchase of `amount` settles when the ledger holds a charge of `charged` under its
/// key: COMPLETED when they agree. They can only disagree if the key was used by something
/// else (another purchases database against the same ledger): then this purchase was not
/// charged.
fn ledger_settlement(id: Id, amount: Cents, charged: i64) -> Settlement {
    if charged == amount.get() {
        Settlement::Completed
    } else {
        tracing::error!(
            purchase_id = id.get(),
            amount = amount.get(),
            charged,
            "the payments ledger holds another amount under this purchase's key"
        );
        Settlement::Failed(reason::rejected(
            "the payments ledger holds another charge under this purchase's key",
        ))
    }
}

/// The purchase `id`, which the caller knows exists (it was written earlier, and purchases are
/// never deleted): a missing row is corruption, not NOT_FOUND.
async fn existing_purchase(
    conn: &mut diesel_async::AsyncPgConnection,
    id: Id,
) -> Result<PurchaseRow, PurchaseError> {
    db::find_purchase(conn, id)
        .await?
        .ok_or_else(|| PurchaseError::Corrupt(format!("purchase {id} vanished")))
}

/// Stores `response` as the answer of the idempotency key `owner` holds (if the request had
/// one), in the caller's transaction. A claim taken over meanwhile keeps the other request's
/// answer: this one is still returned, only not stored.
async fn store_answer(
    conn: &mut diesel_async::AsyncPgConnection,
    owner: Option<&Owner>,
    response: &impl prost::Message,
) -> Result<(), PurchaseError> {
    if let Some(owner) = owner
        && !db::store_response(conn, &owner.key, owner.claim, &response.encode_to_vec()).await?
    {
        tracing::warn!(key = %owner.key, "the key was taken over; its answer is not stored");
    }
    Ok(())
}

fn not_refundable(id: Id, status: PurchaseStatus) -> PurchaseError {
    let why = match status {
        PurchaseStatus::Refunded => "it is already REFUNDED",
        PurchaseStatus::Failed => "it FAILED and was never charged",
        PurchaseStatus::Pending => "its payment is not settled yet (PENDING)",
        PurchaseStatus::Completed => "it is COMPLETED",
    };
    PurchaseError::NotRefundable { id: id.get(), why }
}

/// An id read back from our own table (the CHECK constraints keep it positive).
fn stored_id(value: i64) -> Result<Id, PurchaseError> {
    Id::parse(value, "stored id").map_err(|err| PurchaseError::Corrupt(err.to_string()))
}

/// Runs `work` as its own task and waits for it: the caller going away (its deadline, a closed
/// connection) cancels the wait, not the work.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, PurchaseError>> + Send + 'static,
) -> Result<T, PurchaseError> {
    shop_common::telemetry::spawn_in_context(work)
        .await
        .map_err(|err| PurchaseError::Corrupt(format!("request task failed: {err}")))?
}

#[tonic::async_trait]
impl PurchaseService for PurchasesGrpc {
    #[tracing::instrument(skip_all, fields(user_id = request.get_ref().user_id, product_id = request.get_ref().product_id))]
    async fn create_purchase(
        &self,
        request: Request<CreatePurchaseRequest>,
    ) -> Result<Response<CreatePurchaseResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let core = self.core.clone();
        let budget = Budget::from_metadata(request.metadata(), core.settings.request_timeout);
        let key =
            idempotency::key_from_metadata(request.metadata()).map_err(PurchaseError::from)?;
        let request = request.into_inner();
        let response = detached(async move { core.create(request, key, budget).await }).await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(id = request.get_ref().id))]
    async fn refund_purchase(
        &self,
        request: Request<RefundPurchaseRequest>,
    ) -> Result<Response<RefundPurchaseResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let core = self.core.clone();
        let budget = Budget::from_metadata(request.metadata(), core.settings.request_timeout);
        let key =
            idempotency::key_from_metadata(request.metadata()).map_err(PurchaseError::from)?;
        let request = request.into_inner();
        let response = detached(async move { core.refund(request, key, budget).await }).await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(id = request.get_ref().id))]
    async fn get_purchase(
        &self,
        request: Request<GetPurchaseRequest>,
    ) -> Result<Response<GetPurchaseResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let budget = Budget::from_metadata(request.metadata(), self.core.settings.request_timeout);
        Ok(Response::new(
            self.core
                .get_purchase(request.into_inner(), &budget)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(user_id = request.get_ref().user_id))]
    async fn get_user_purchases(
        &self,
        request: Request<GetUserPurchasesRequest>,
    ) -> Result<Response<GetUserPurchasesResponse>, Status> {
        shop_common::validation::check(request.get_ref())?;
        let budget = Budget::from_metadata(request.metadata(), self.core.settings.request_timeout);
        Ok(Response::new(
            self.core
                .get_user_purchases(request.into_inner(), &budget)
                .await?,
        ))
    }

    type WatchPurchaseStream = EventStream;

    #[tracing::instrument(skip_all, fields(id = request.get_ref().id, after = request.get_ref().after_sequence))]
    async fn watch_purchase(
        &self,
        request: Request<WatchPurchaseRequest>,
    ) -> Result<Response<EventStream>, Status> {
        shop_common::validation::check(request.get_ref())?;
        Ok(Response::new(self.core.watch(request.into_inner()).await?))
    }
}
