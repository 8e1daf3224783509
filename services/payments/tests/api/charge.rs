use std::time::{Duration, Instant};

use payments_service::Rules;
use proto::payments::v1::{ChargeOutcome, GetChargeRequest};
use tonic::Code;

use crate::helpers::{LedgerRow, charge, ledger, spawn_app, spawn_with};

#[tokio::test(flavor = "multi_thread")]
async fn charges_the_exact_minor_units_once_per_key() {
    let app = spawn_app().await;
    let first = charge(&app, "purchase-1", 129_999).await.expect("charge");
    assert_eq!(first.outcome(), ChargeOutcome::Approved);
    assert_eq!(first.decline_reason, "");
    let charged = first.charge.clone().expect("the ledger's charge");
    assert_eq!(charged.idempotency_key, "purchase-1");
    assert_eq!(charged.amount_minor, 129_999);
    assert_eq!(charged.refunded_minor, 0);

    // The same key and amount again: the same answer, nothing new written.
    let again = charge(&app, "purchase-1", 129_999).await.expect("replay");
    assert_eq!(again, first);
    assert_eq!(
        ledger(&app, "charges").await,
        vec![LedgerRow {
            idempotency_key: "purchase-1".into(),
            amount_minor: 129_999,
        }]
    );

    let read = app
        .client
        .clone()
        .get_charge(GetChargeRequest {
            idempotency_key: "purchase-1".into(),
        })
        .await
        .expect("get charge")
        .into_inner()
        .charge;
    assert_eq!(read, Some(charged));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_for_another_amount_is_already_exists_naming_the_key() {
    let app = spawn_app().await;
    charge(&app, "purchase-7", 100).await.expect("charge");
    let status = charge(&app, "purchase-7", 101).await.expect_err("conflict");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(status.message().contains("\"purchase-7\""), "{status:?}");
    assert!(status.message().contains("100"), "{status:?}");
    assert!(status.message().contains("101"), "{status:?}");
    assert_eq!(ledger(&app, "charges").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_charges_with_one_key_write_one_row_and_answer_alike() {
    let app = spawn_app().await;
    let attempts = (0..20).map(|_| charge(&app, "purchase-9", 4_950));
    let answers = futures::future::join_all(attempts).await;
    let first = answers[0].as_ref().expect("charged").clone();
    for answer in &answers {
        assert_eq!(answer.as_ref().expect("charged"), &first);
    }
    assert_eq!(ledger(&app, "charges").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn amounts_above_the_limit_are_declined_with_a_reason_and_not_written() {
    let app = spawn_with(Rules {
        decline_above: 100_000,
        ..Rules::default()
    })
    .await;
    let declined = charge(&app, "purchase-1", 100_001)
        .await
        .expect("an answer");
    assert_eq!(declined.outcome(), ChargeOutcome::Declined);
    assert_eq!(
        declined.decline_reason,
        "amount 100001 exceeds the limit of 100000 minor units"
    );
    assert_eq!(declined.charge, None);
    assert!(ledger(&app, "charges").await.is_empty());
    let status = app
        .client
        .clone()
        .get_charge(GetChargeRequest {
            idempotency_key: "purchase-1".into(),
        })
        .await
        .expect_err("declines are not in the ledger");
    assert_eq!(status.code(), Code::NotFound);

    // The limit itself is still fine.
    let approved = charge(&app, "purchase-2", 100_000).await.expect("charge");
    assert_eq!(approved.outcome(), ChargeOutcome::Approved);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    for (key, amount, field) in [
        ("", 1, "idempotency_key"),
        ("has space", 1, "idempotency_key"),
        ("k", -1, "amount_minor"),
    ] {
        let status = charge(&app, key, amount).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(&format!("{field}:")),
            "{status:?}"
        );
    }
    assert!(ledger(&app, "charges").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_rate_of_one_fails_every_charge_before_the_ledger() {
    let app = spawn_with(Rules {
        failure_rate: 1.0,
        failure_seed: 42,
        ..Rules::default()
    })
    .await;
    for n in 0..3 {
        let status = charge(&app, &format!("purchase-{n}"), 100)
            .await
            .expect_err("simulated failure");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    assert!(ledger(&app, "charges").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeded_failure_rate_fails_the_same_calls_every_run() {
    let run = async || {
        let app = spawn_with(Rules {
            failure_rate: 0.5,
            failure_seed: 7,
            ..Rules::default()
        })
        .await;
        let mut failed = Vec::new();
        for n in 0..12 {
            failed.push(charge(&app, &format!("k-{n}"), 100).await.is_err());
        }
        failed
    };
    let first = run().await;
    assert_eq!(first, run().await);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delay_holds_the_answer_after_the_charge_is_committed() {
    let delay = Duration::from_millis(1500);
    let app = spawn_with(Rules {
        delay,
        ..Rules::default()
    })
    .await;
    let started = Instant::now();
    let mut client = app.client.clone();
    let call = tokio::spawn(async move {
        client
            .charge(crate::helpers::charge_request("purchase-5", 999))
            .await
    });
    // The row is there (committed, visible to another connection) before the answer.
    loop {
        if !ledger(&app, "charges").await.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < delay,
            "the charge was not committed first"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!call.is_finished(), "answered before the delay");
    call.await.expect("join").expect("charged");
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
}
