//! The benchmark itself works: a tiny run over both upstreams and two concurrencies completes,
//! every variant answers every request (pgbench and h2load where installed), and the gateway
//! and the hand-written handler answer with the same JSON. Nothing here looks at timings.

use gateway_bench::{BenchConfig, Operation, Tools, UpstreamKind, Variant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_run_measures_every_variant() {
    let config = BenchConfig {
        requests: 60,
        postgres_requests: 30,
        warmup: 10,
        concurrencies: vec![1, 4],
        rounds: 2,
        upstreams: vec![UpstreamKind::Memory, UpstreamKind::Postgres],
        variants: Variant::ALL.to_vec(),
    };
    let tools = Tools::find();
    let report = gateway_bench::run(&config).await.expect("the bench runs");
    let in_process = [Variant::DirectGrpc, Variant::HandWritten, Variant::Gateway];
    for upstream in [UpstreamKind::Memory, UpstreamKind::Postgres] {
        for operation in [Operation::GetUser, Operation::CreateUser] {
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
                for row in rows {
                    assert!(!row.sample.latencies.is_empty(), "{row:?}");
                    if in_process.contains(&row.variant) {
                        let requests = match upstream {
                            UpstreamKind::Memory => 60,
                            UpstreamKind::Postgres => 30,
                        };
                        assert_eq!(row.sample.latencies.len(), requests, "{row:?}");
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
    if tools.pgbench.is_some() {
        assert!(
            table.contains("| postgres | `GET /api/users/{id}` | 4 | pgbench (service's SQL) |"),
            "{table}"
        );
    } else {
        assert!(table.contains("pgbench` is not installed"), "{table}");
    }
}
