//! What one run measured, and the Markdown table of it: median req/s, p50/p99 and the ratios
//! against the baselines measured beside each variant.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::{Operation, Sample};
use crate::overload::Overload;
use crate::upstream::UpstreamKind;
use crate::{Tools, Variant};

/// The measurements of one variant on one binding, upstream and concurrency.
#[derive(Debug, Clone)]
pub struct Row {
    /// The upstream.
    pub upstream: UpstreamKind,
    /// The binding.
    pub operation: Operation,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The variant.
    pub variant: Variant,
    /// Its measurements, all rounds merged.
    pub sample: Sample,
}

/// Everything measured in one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One row per upstream, binding, concurrency and variant, in that order.
    pub rows: Vec<Row>,
    /// What was left out and why (a tool not installed), for the report.
    pub notes: Vec<String>,
    /// The external tools used, with their versions.
    pub tools: Tools,
    /// The overload scenario, when it ran.
    pub overload: Option<Overload>,
}

/// A duration as the report shows it: milliseconds, two decimals.
pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

impl Report {
    /// The median throughput of `variant` on the same upstream, binding and concurrency as
    /// `row`.
    fn throughput_of(&self, row: &Row, variant: Variant) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| {
                r.upstream == row.upstream
                    && r.operation == row.operation
                    && r.concurrency == row.concurrency
                    && r.variant == variant
            })
            .map(|r| r.sample.median_throughput())
    }

    /// `variant`'s median throughput over `baseline`'s, for one upstream, binding and
    /// concurrency.
    pub fn ratio(
        &self,
        upstream: UpstreamKind,
        operation: Operation,
        concurrency: usize,
        variant: Variant,
        baseline: Variant,
    ) -> Option<f64> {
        let row = self.rows.iter().find(|r| {
            r.upstream == upstream
                && r.operation == operation
                && r.concurrency == concurrency
                && r.variant == variant
        })?;
        Some(row.sample.median_throughput() / self.throughput_of(row, baseline)?)
    }

    /// The report as a Markdown table: median req/s over the rounds, p50, p99 (all rounds),
    /// and throughput ratios against the database (pgbench), direct gRPC and the hand-written
    /// handler (driven the same way: in-process or h2load).
    pub fn table(&self) -> String {
        if self.rows.is_empty() {
            let mut out = String::from("No variant was measured.\n");
            for note in &self.notes {
                let _ = writeln!(out, "\nNote: {note}.");
            }
            return out;
        }
        let mut out = String::from(
            "| upstream | binding | in flight | variant | requests | req/s | p50 | p99 | vs DB | vs gRPC | vs axum |\n\
             |---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let ratio = |baseline: Variant| {
                if baseline == row.variant {
                    return "-".to_owned();
                }
                self.throughput_of(row, baseline)
                    .map_or("-".to_owned(), |base| {
                        format!("{:.2}", row.sample.median_throughput() / base)
                    })
            };
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
                row.upstream.name(),
                row.operation.label(),
                row.concurrency,
                row.variant.label(),
                row.sample.latencies.len(),
                row.sample.median_throughput(),
                millis(row.sample.quantile(0.50)),
                millis(row.sample.quantile(0.99)),
                ratio(Variant::Pgbench),
                ratio(Variant::DirectGrpc),
                ratio(row.variant.hand_written_peer()),
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\nNote: {note}.");
        }
        out
    }
}
