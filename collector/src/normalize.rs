//! OTLP → Arrow: the mapping of export requests onto the `spans`, `scores` and `metrics`
//! tables.
//!
//! This is the core of ingest. [`Normalizer::traces`] turns one `ExportTraceServiceRequest`
//! into one `spans` batch and one `scores` batch (from evaluation span events and
//! OpenInference evaluation attributes); [`Normalizer::logs`] turns evaluation log records
//! into `scores`; [`Normalizer::metrics`] turns each metric data point into a `metrics`
//! row. Which attribute feeds which typed column is data
//! ([`schemas::mapping`]); the rest of the attributes stay in the maps, so a value lives in
//! exactly one place. Invalid spans are rejected one by one and counted; the valid rest is
//! kept (OTLP partial success). Pure: no I/O, no clock.
//!
//! On a node with a WAL, ingest maps in two steps: [`Normalizer::map_traces`] (and
//! `map_logs`, `map_metrics`) checks a request on its own and keeps its valid rows
//! borrowed from it ([`Mapped`]); the rows are then appended to the column builders that
//! every request of one WAL group commit shares ([`GroupBuilders`]), which the WAL writer
//! finishes once per group. `traces`, `logs` and `metrics` do both steps for one request.

mod builders;
mod group;
mod metrics;
mod rules;
mod scores;
mod spans;
pub mod value;

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use schemas::mapping::AttributeMapping;
use schemas::prices::PriceTable;

use crate::wal::GroupRows;

pub use group::{GroupBuilders, RowCounts, Rows};
pub use rules::{AttributeRule, NormalizeConfig};
pub use scores::ApiScore;

/// One request checked: its valid rows, not yet in any column, and what was rejected.
pub struct Mapped<'a> {
    /// The rows to store, borrowed from the request.
    pub rows: Rows<'a>,
    /// Rejections, ignored items and messages; its batches are `None`.
    pub outcome: Normalized,
}

impl Mapped<'_> {
    /// The rows built into batches of their own: what `traces`, `logs` and `metrics`
    /// return.
    pub fn into_normalized(self, normalizer: &Normalizer) -> Normalized {
        let mut out = self.outcome;
        let mut builders = GroupBuilders::with_sizes(self.rows.counts());
        builders.append(normalizer, self.rows);
        for (table, batch) in builders.into_batches() {
            match table {
                schemas::tables::Table::Spans => out.spans = Some(batch),
                schemas::tables::Table::Scores => out.scores = Some(batch),
                schemas::tables::Table::Metrics => out.metrics = Some(batch),
                _ => unreachable!("the normaliser writes spans, scores and metrics only"),
            }
        }
        out
    }
}

/// What one export request became.
#[derive(Debug, Default)]
pub struct Normalized {
    /// Rows for `spans`, `None` if there are none.
    pub spans: Option<RecordBatch>,
    /// Rows for `scores`, `None` if there are none.
    pub scores: Option<RecordBatch>,
    /// Rows for `metrics`, `None` if there are none.
    pub metrics: Option<RecordBatch>,
    /// Spans (log records, metric data points) rejected as invalid.
    pub rejected: u64,
    /// Valid items that were not stored because no table holds them (log records that are
    /// not evaluation results).
    pub ignored: u64,
    /// Messages naming the first problems found, for `partial_success.error_message`.
    pub errors: Vec<String>,
}

impl Normalized {
    /// At most this many distinct problems are spelled out in `errors`.
    pub const MAX_ERRORS: usize = 5;

    fn reject(&mut self, message: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.errors.len() < Self::MAX_ERRORS {
            self.errors.push(message());
        }
    }

    /// The `partial_success.error_message`: the problems joined, with a count of the rest.
    pub fn error_message(&self) -> String {
        let mut message = self.errors.join("; ");
        let spelled = self.errors.len() as u64;
        if self.rejected > spelled {
            message.push_str(&format!(" (and {} more)", self.rejected - spelled));
        }
        message
    }
}

/// Maps OTLP requests to table rows. Cheap to share: build once, use from every receiver.
pub struct Normalizer {
    mapping: &'static AttributeMapping,
    prices: PriceTable,
    config: NormalizeConfig,
    /// Confidence key → its rank in `config.confidence_keys` (0 wins).
    confidence_rank: HashMap<String, usize>,
}

impl Normalizer {
    /// A normaliser with the shipped attribute mapping, `prices` and `config`.
    pub fn new(prices: PriceTable, config: NormalizeConfig) -> Self {
        let confidence_rank = config
            .confidence_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Self {
            mapping: AttributeMapping::shipped(),
            prices,
            config,
            confidence_rank,
        }
    }
}

/// Lowercase hex of an id, or `None` unless it has exactly `N` bytes (at most 16, a trace
/// id) and is not all zero.
/// Encoded into a buffer on the stack and allocated once: `hex::encode` collects a
/// `String` one `char` at a time, which was ≈ 1.7 % of ingest's CPU (three ids per span;
/// BENCHMARKS.md, issue 12, fifth pass).
fn hex_id<const N: usize>(bytes: &[u8]) -> Option<String> {
    if bytes.len() != N || bytes.iter().all(|b| *b == 0) {
        return None;
    }
    let mut text = [0u8; 32];
    let text = &mut text[..2 * N];
    hex::encode_to_slice(bytes, text).expect("an output twice the input's length");
    Some(std::str::from_utf8(text).expect("hex digits").to_owned())
}

#[cfg(test)]
mod tests;
