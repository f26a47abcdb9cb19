//! The column builders that the requests of one WAL group commit share.
//!
//! A request is checked on its own ([`Normalizer::map_traces`] and its siblings: the
//! rejections, agent inheritance and scores are per request) and only its valid rows are
//! appended here, under the group's lock; the WAL writer finishes the builders once per
//! group. So a group of small requests allocates, finishes, copies and frees one set of
//! Arrow buffers per table instead of one per request (BENCHMARKS.md, issue 12).

use arrow::record_batch::RecordBatch;
use schemas::tables::Table;

use super::Normalizer;
use super::metrics::{MetricBuilders, PointRows};
use super::scores::{ScoreRow, ScoreRows};
use super::spans::{SpanBuilders, TraceRows};
use crate::error::Result;
use crate::wal::GroupRows;

/// About the Arrow memory of one stored span: the hot buffer holds ≈ 870 B per span of
/// the benchmark's agent traces (BENCHMARKS.md, "Where the peak memory goes"). Only
/// what bounds a group ([`crate::wal::WalConfig::max_group_bytes`]) is estimated with it.
const SPAN_BYTES: usize = 900;
/// About the Arrow memory of one `scores` row.
const SCORE_BYTES: usize = 400;
/// About the Arrow memory of one `metrics` row (a histogram point with its buckets).
const POINT_BYTES: usize = 1_000;

/// One request's rows after the checks, borrowed from the request, not yet in a column.
pub struct Rows<'a>(pub(super) Kind<'a>);

/// What a [`Rows`] holds, by signal.
pub(super) enum Kind<'a> {
    /// A trace export: spans and the scores they carry.
    Traces(TraceRows<'a>),
    /// Scores (evaluation log records).
    Scores(Vec<ScoreRow>),
    /// Metric data points.
    Metrics(PointRows<'a>),
}

/// Rows per table: of a request, or of a group's builders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// `spans` rows.
    pub spans: usize,
    /// `scores` rows.
    pub scores: usize,
    /// `metrics` rows.
    pub metrics: usize,
}

impl Rows<'_> {
    /// How many rows each table gets.
    pub fn counts(&self) -> RowCounts {
        match &self.0 {
            Kind::Traces(t) => RowCounts {
                spans: t.spans.len(),
                scores: t.scores.len(),
                metrics: 0,
            },
            Kind::Scores(s) => RowCounts {
                scores: s.len(),
                ..RowCounts::default()
            },
            Kind::Metrics(m) => RowCounts {
                metrics: m.points.len(),
                ..RowCounts::default()
            },
        }
    }

    /// No row for any table.
    pub fn is_empty(&self) -> bool {
        self.counts() == RowCounts::default()
    }

    /// About the Arrow memory the rows take once appended (a per-row estimate, for
    /// bounding a group, not an account).
    pub fn approx_bytes(&self) -> usize {
        let c = self.counts();
        c.spans * SPAN_BYTES + c.scores * SCORE_BYTES + c.metrics * POINT_BYTES
    }
}

/// The builders of one group, per table, made at the first row of that table (a group of
/// trace exports never builds `metrics` columns). Sized from the previous group.
#[derive(Default)]
pub struct GroupBuilders {
    /// Rows per table to make room for when a table's builders are made.
    capacity: RowCounts,
    spans: Option<SpanBuilders>,
    scores: Option<ScoreRows>,
    metrics: Option<MetricBuilders>,
    counts: RowCounts,
}

impl GroupBuilders {
    /// Appends a request's checked rows; `normalizer` prices spans and applies the
    /// escalation rules as [`Normalizer::traces`] does.
    pub fn append(&mut self, normalizer: &Normalizer, rows: Rows<'_>) {
        let counts = rows.counts();
        self.counts.spans += counts.spans;
        self.counts.scores += counts.scores;
        self.counts.metrics += counts.metrics;
        match rows.0 {
            Kind::Traces(t) => {
                if !t.spans.is_empty() {
                    let sizes = self.capacity.spans;
                    let b = self
                        .spans
                        .get_or_insert_with(|| SpanBuilders::with_capacity(sizes));
                    for span in &t.spans {
                        b.append(normalizer, span, &t.resources[span.resource]);
                    }
                }
                self.append_scores(t.scores);
            }
            Kind::Scores(scores) => self.append_scores(scores),
            Kind::Metrics(m) => {
                if !m.points.is_empty() {
                    let sizes = self.capacity.metrics;
                    m.append_to(
                        self.metrics
                            .get_or_insert_with(|| MetricBuilders::with_capacity(sizes)),
                    );
                }
            }
        }
    }

    fn append_scores(&mut self, scores: Vec<ScoreRow>) {
        if scores.is_empty() {
            return;
        }
        let sizes = self.capacity.scores;
        let b = self
            .scores
            .get_or_insert_with(|| ScoreRows::with_capacity(sizes));
        for score in scores {
            b.append(score);
        }
    }

    /// The finished batches of every table that got rows, in [`Table::ALL`] order.
    pub fn into_batches(self) -> Vec<(Table, RecordBatch)> {
        let mut out = Vec::with_capacity(2);
        if let Some(b) = self.spans {
            out.push((Table::Spans, b.finish()));
        }
        if let Some(b) = self.scores {
            out.push((Table::Scores, b.finish()));
        }
        if let Some(b) = self.metrics {
            out.push((Table::Metrics, b.finish()));
        }
        out
    }
}

impl GroupRows for GroupBuilders {
    type Sizes = RowCounts;

    fn with_sizes(sizes: RowCounts) -> Self {
        GroupBuilders {
            capacity: sizes,
            ..GroupBuilders::default()
        }
    }

    fn sizes(&self) -> RowCounts {
        self.counts
    }

    fn finish(self) -> Result<Vec<(Table, RecordBatch)>> {
        Ok(self.into_batches())
    }
}
