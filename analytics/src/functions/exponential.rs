//! OTLP exponential histograms (Prometheus' native histograms with a standard exponential
//! schema): their buckets, merged and subtracted as the metric monitors need, and their
//! quantiles estimated as Prometheus' `histogram_quantile` does for native histograms.
//!
//! OTLP (`opentelemetry/proto/metrics/v1/metrics.proto`, `ExponentialHistogramDataPoint`):
//! at scale `s` the base is `2^(2^-s)`; positive bucket index `i` holds the observations in
//! `(base^i, base^(i+1)]`, negative index `i` those in `[-base^(i+1), -base^i)`; `counts[j]`
//! of a span is the bucket `offset + j`; the zero bucket holds the observations within
//! `zero_threshold` of 0. Prometheus numbers the same buckets one higher (its bucket `i` is
//! `(base^(i-1), base^i]`), which changes no bound.
//!
//! In SQL ([`register`]): `exponential_histogram_merge(scale, zero_count, positive_offset,
//! positive_counts, negative_offset, negative_counts)` and
//! `exponential_histogram_quantile(q, …)`, beside the explicit-bucket `histogram_merge` and
//! `histogram_quantile`.

mod sql;

pub use sql::{MERGE, QUANTILE, register};

/// One side of an exponential histogram: the bucket `offset + j` holds `counts[j]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketSpan {
    /// Index of the first bucket.
    pub offset: i32,
    /// Observations per bucket, floats because increments and merges may be fractional.
    pub counts: Vec<f64>,
}

/// The buckets of an exponential histogram data point (or of several, merged).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialBuckets {
    /// Resolution: the base is `2^(2^-scale)`; OTLP allows -10 to 20.
    pub scale: i32,
    /// Observations in the zero bucket `[-zero_threshold, zero_threshold]`.
    pub zero_count: f64,
    /// Width of the zero bucket, in the unit of the observations; 0 when only exact zeros
    /// fall in it (what the OpenTelemetry SDKs send).
    pub zero_threshold: f64,
    /// Buckets of positive observations.
    pub positive: BucketSpan,
    /// Buckets of negative observations, indexed by magnitude.
    pub negative: BucketSpan,
}

impl BucketSpan {
    /// The same observations at a scale `by` steps coarser: bucket `i` becomes `i >> by`
    /// (each step merges pairs of buckets), as OTLP's and Prometheus' downscaling do.
    fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let by = by.min(62);
        let first = i64::from(self.offset);
        let new_offset = first >> by;
        let mut counts: Vec<f64> = Vec::new();
        for (j, count) in self.counts.iter().enumerate() {
            let slot = usize::try_from(((first + j as i64) >> by) - new_offset)
                .expect("indices only grow along a span");
            if counts.len() <= slot {
                counts.resize(slot + 1, 0.0);
            }
            counts[slot] += count;
        }
        self.offset = i32::try_from(new_offset).expect("a coarser index is smaller");
        self.counts = counts;
    }

    /// Adds `other` (at the same scale) bucket by bucket.
    fn add(&mut self, other: &BucketSpan, sign: f64) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.offset = other.offset;
        }
        let start = self.offset.min(other.offset);
        let end = (i64::from(self.offset) + self.counts.len() as i64)
            .max(i64::from(other.offset) + other.counts.len() as i64);
        let mut counts = vec![0.0; usize::try_from(end - i64::from(start)).unwrap_or(0)];
        for (span, factor) in [(&*self, 1.0), (other, sign)] {
            let shift = usize::try_from(span.offset - start).expect("start is the lowest offset");
            for (j, count) in span.counts.iter().enumerate() {
                counts[shift + j] += factor * count;
            }
        }
        self.offset = start;
        self.counts = counts;
    }

    fn total(&self) -> f64 {
        self.counts.iter().sum()
    }
}

impl ExponentialBuckets {
    /// Observations in all buckets.
    pub fn count(&self) -> f64 {
        self.zero_count + self.positive.total() + self.negative.total()
    }

    /// The same observations at the coarser scale `scale` (no-op when not coarser).
    pub fn downscale(&mut self, scale: i32) {
        if scale >= self.scale {
            return;
        }
        let by = u32::try_from(self.scale - scale).expect("scale is coarser");
        self.positive.downscale(by);
        self.negative.downscale(by);
        self.scale = scale;
    }

    /// Adds `other`'s observations: both at the coarser of the two scales, zero buckets
    /// added with the wider threshold, into which the buckets of either that lie wholly
    /// within it move (as Prometheus' `FloatHistogram.Add` reconciles zero buckets).
    pub fn merge(&mut self, other: &ExponentialBuckets) {
        self.combine(other, 1.0);
    }

    /// `self − previous` bucket by bucket, the increase of a cumulative stream from
    /// `previous` to `self`; `None` when a bucket or the zero bucket decreased (a counter
    /// reset, as Prometheus' `DetectReset` sees it).
    pub fn minus(&self, previous: &ExponentialBuckets) -> Option<ExponentialBuckets> {
        let mut difference = self.clone();
        difference.combine(previous, -1.0);
        let decreased = |c: &f64| *c < 0.0;
        (!(difference.zero_count < 0.0
            || difference.positive.counts.iter().any(decreased)
            || difference.negative.counts.iter().any(decreased)))
        .then_some(difference)
    }

    fn combine(&mut self, other: &ExponentialBuckets, sign: f64) {
        let scale = self.scale.min(other.scale);
        let mut other = other.clone();
        other.downscale(scale);
        self.downscale(scale);
        let threshold = self.zero_threshold.max(other.zero_threshold);
        self.widen_zero_bucket(threshold);
        other.widen_zero_bucket(threshold);
        self.zero_count += sign * other.zero_count;
        self.positive.add(&other.positive, sign);
        self.negative.add(&other.negative, sign);
    }

    /// Moves the buckets whose upper bound (by magnitude) is at most `threshold` into the
    /// zero bucket, which becomes `threshold` wide.
    fn widen_zero_bucket(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold {
            return;
        }
        let scale = self.scale;
        for span in [&mut self.positive, &mut self.negative] {
            let inside = span
                .counts
                .iter()
                .enumerate()
                .take_while(|(j, _)| upper_bound(scale, span.offset + *j as i32) <= threshold)
                .count();
            self.zero_count += span.counts.drain(..inside).sum::<f64>();
            span.offset += inside as i32;
        }
        self.zero_threshold = threshold;
    }

    /// Every bucket in ascending order of value, as `(lower, upper, count)`: the negative
    /// buckets from the largest magnitude down, the zero bucket, then the positive ones.
    fn ascending(&self) -> Vec<(f64, f64, f64)> {
        let scale = self.scale;
        let mut buckets = Vec::new();
        let side = |span: &BucketSpan| {
            span.counts
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    let index = span.offset + j as i32;
                    (upper_bound(scale, index - 1), upper_bound(scale, index), *c)
                })
                .collect::<Vec<_>>()
        };
        for (lower, upper, count) in side(&self.negative).into_iter().rev() {
            buckets.push((-upper, -lower, count));
        }
        buckets.push((-self.zero_threshold, self.zero_threshold, self.zero_count));
        buckets.extend(side(&self.positive));
        buckets
    }
}

/// The upper bound `base^(index+1)` of the positive bucket `index` at `scale`, with
/// `base = 2^(2^-scale)`.
fn upper_bound(scale: i32, index: i32) -> f64 {
    ((f64::from(index) + 1.0) * (-f64::from(scale)).exp2()).exp2()
}

/// The `q`-quantile of an exponential histogram, as Prometheus computes it for a native
/// histogram: a port of `HistogramQuantile` in `promql/quantile.go` of prometheus/prometheus
/// (for histograms without NaN observations, which OTLP's SDKs do not record), documented
/// in `docs/querying/functions.md`, `histogram_quantile()`.
///
/// The rank `q · count` is found from below for `q < 0.5` and from above otherwise; within
/// the bucket it falls into, the quantile is interpolated exponentially (linearly between
/// the logarithms of the bounds; mirrored for negative buckets), and linearly in the zero
/// bucket, whose lower bound is 0 when the histogram has only positive observations (upper
/// bound 0 when only negative ones). `q` NaN or no observations → NaN, `q < 0` → `-Inf`,
/// `q > 1` → `+Inf`.
pub fn exponential_quantile(q: f64, histogram: &ExponentialBuckets) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let observations = histogram.count();
    if observations <= 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let mut buckets = histogram.ascending();
    let forward = q < 0.5;
    let mut rank = if forward {
        q * observations
    } else {
        buckets.reverse();
        (1.0 - q) * observations
    };
    let mut count = 0.0;
    let mut bucket = (0.0, 0.0, 0.0);
    for &b in &buckets {
        if b.2 == 0.0 {
            continue;
        }
        bucket = b;
        count += b.2;
        if count >= rank {
            break;
        }
    }
    let (mut lower, mut upper, in_bucket) = bucket;
    if lower < 0.0 && upper > 0.0 {
        let (negative, positive) = (histogram.negative.total(), histogram.positive.total());
        if negative == 0.0 && positive > 0.0 {
            lower = 0.0;
        } else if positive == 0.0 && negative > 0.0 {
            upper = 0.0;
        }
    }
    count = count.min(observations);
    if count < rank {
        return upper;
    }
    if forward {
        rank -= count - in_bucket;
    } else {
        rank = count - rank;
    }
    let fraction = rank / in_bucket;
    if lower <= 0.0 && upper >= 0.0 {
        return lower + (upper - lower) * fraction;
    }
    let (log_lower, log_upper) = (lower.abs().log2(), upper.abs().log2());
    if lower > 0.0 {
        (log_lower + (log_upper - log_lower) * fraction).exp2()
    } else {
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
    }
}

#[cfg(test)]
mod tests;
