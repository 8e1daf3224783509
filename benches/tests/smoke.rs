//! The benchmark itself works: a tiny run over both upstreams and two concurrencies completes,
//! every variant answers every request of every binding (pgbench and h2load where installed),
//! the gateway and the hand-written handler answer with the same JSON, the overload scenario
//! admits some requests and sheds others, and the chart is drawn. Nothing here looks at
//! timings.

use std::time::Duration;

use gateway_bench::{BenchConfig, Operation, OverloadConfig, Tools, UpstreamKind, Variant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_run_measures_every_variant() {
    let config = BenchConfig {
        requests: 60,
        postgres_requests: 30,
        purchase_requests: 12,
        warmup: 10,
        concurrencies: vec![1, 4],
        rounds: 2,
        upstreams: vec![UpstreamKind::Memory, UpstreamKind::Postgres],
        variants: Variant::ALL.to_vec(),
        overload: Some(OverloadConfig {
            connections: 16,
            max_in_flight: 4,
            upstream_delay: Duration::from_millis(20),
            duration: Duration::from_millis(200),
            // The binary beside the test if a build put it there, else in-process.
            gateway_binary: None,
        }),
    };
    let tools = Tools::find();
    let report = gateway_bench::run(&config).await.expect("the bench runs");
    let in_process = [Variant::DirectGrpc, Variant::HandWritten, Variant::Gateway];
    for upstream in [UpstreamKind::Memory, UpstreamKind::Postgres] {
        for operation in Operation::ALL {
            for concurrency in [1, 4] {
                let rows: Vec<_> = report
                    .rows
                    .iter()
                    .filter(|r| {
                        r.upstream == upstream
                            && r.operation == operation
                            && r.concurrency == concurrency
                    })
                    .collect();
                let expected = Variant::ALL
                    .into_iter()
                    .filter(|v| v.applies(upstream, operation))
                    .filter(|v| match v {
                        Variant::Pgbench => tools.pgbench.is_some(),
                        Variant::H2loadGateway | Variant::H2loadHandWritten => {
                            tools.h2load.is_some()
                        }
                        _ => true,
                    })
                    .count();
                assert_eq!(rows.len(), expected, "{rows:?}");
                if !operation.runs_on(upstream) {
                    assert!(rows.is_empty(), "{rows:?}");
                    continue;
                }
                for row in rows {
                    assert!(!row.sample.latencies.is_empty(), "{row:?}");
                    if in_process.contains(&row.variant) {
                        assert_eq!(
                            row.sample.latencies.len(),
                            config.requests_of(upstream, operation),
                            "{row:?}"
                        );
                    }
                }
                let ratio = report
                    .ratio(
                        upstream,
                        operation,
                        concurrency,
                        Variant::Gateway,
                        Variant::HandWritten,
                    )
                    .expect("both variants measured");
                assert!(ratio.is_finite() && ratio > 0.0);
            }
        }
    }
    let table = report.table();
    assert!(
        table.contains("| memory | `GET /api/users/{id}` | 4 | gateway |"),
        "{table}"
    );
    assert!(
        table.contains("| postgres | `POST /api/users` | 1 | hand-written axum |"),
        "{table}"
    );
    assert!(
        table.contains("| postgres | `POST /api/purchases` | 4 | gateway |"),
        "{table}"
    );
    if tools.pgbench.is_some() {
        for binding in ["GET /api/users/{id}", "POST /api/users"] {
            assert!(
                table.contains(&format!(
                    "| postgres | `{binding}` | 4 | pgbench (service's SQL) |"
                )),
                "{table}"
            );
        }
    } else {
        assert!(table.contains("pgbench` is not installed"), "{table}");
    }

    let overload = report.overload.as_ref().expect("the overload scenario ran");
    let drivers = if tools.h2load.is_some() { 3 } else { 2 };
    assert_eq!(overload.rows.len(), drivers, "{overload:?}");
    overload
        .check()
        .expect("requests admitted and shed, none failed");
    assert!(
        overload
            .table()
            .contains("| in-process, clients honour Retry-After |"),
        "{}",
        overload.table()
    );

    let chart = gateway_bench::chart::render(&report).expect("the chart is drawn");
    assert!(chart.starts_with("<svg"), "{chart}");
    for label in [
        "direct gRPC",
        "hand-written axum",
        "gateway",
        "POST purchase",
    ] {
        assert!(chart.contains(label), "no `{label}` in the chart");
    }
}
