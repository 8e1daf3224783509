//! The benchmark itself works: a tiny run over both upstreams completes, every variant answers
//! every request, and the gateway and the hand-written handler answer with the same JSON.
//! Nothing here looks at timings.

use gateway_bench::{BenchConfig, Operation, UpstreamKind, Variant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_run_measures_every_variant() {
    let config = BenchConfig {
        requests: 60,
        postgres_requests: 30,
        warmup: 10,
        concurrency: 4,
        rounds: 2,
        upstreams: vec![UpstreamKind::Memory, UpstreamKind::Postgres],
        variants: Variant::ALL.to_vec(),
    };
    let report = gateway_bench::run(&config).await.expect("the bench runs");
    assert_eq!(report.rows.len(), 2 * 2 * Variant::ALL.len());
    for row in &report.rows {
        let expected = match row.upstream {
            UpstreamKind::Memory => 60,
            UpstreamKind::Postgres => 30,
        };
        assert_eq!(row.sample.latencies.len(), expected, "{row:?}");
    }
    for upstream in [UpstreamKind::Memory, UpstreamKind::Postgres] {
        for operation in [Operation::GetUser, Operation::CreateUser] {
            let ratio = report
                .ratio(upstream, operation, Variant::Gateway, Variant::HandWritten)
                .expect("both variants measured");
            assert!(ratio.is_finite() && ratio > 0.0);
        }
    }
    let table = report.table();
    assert!(
        table.contains("| memory | `GET /api/users/{id}` | gateway |"),
        "{table}"
    );
    assert!(
        table.contains("| postgres | `POST /api/users` | hand-written axum |"),
        "{table}"
    );
}
