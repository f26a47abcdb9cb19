//! Step 3 of the module docs: one series' increments in one window added up
//! ([`Accumulator`]), and the statistic of the window ([`Figures`]).

use std::collections::BTreeMap;

use super::{Increment, Kind, Payload, Statistic};
use crate::functions::exponential::{ExponentialBuckets, exponential_quantile};
use crate::functions::histogram::{bucket_quantile, otlp_buckets};

/// One series' increments in one window, added up.
#[derive(Debug, Default)]
pub struct Accumulator {
    kind: Option<Kind>,
    /// Increments added.
    increments: i64,
    /// Gauge values.
    values: Vec<f64>,
    /// Sum increase, or histogram count increase.
    increase: f64,
    /// Histogram sum increase; `None` once an increment lacked its sum.
    sum: Option<f64>,
    bounds: Option<Vec<f64>>,
    buckets: Vec<f64>,
    /// Exponential histogram buckets merged so far.
    exponential: Option<ExponentialBuckets>,
    error: Option<String>,
}

/// A window's value, its number of observations or points, and its figures (`kpis`).
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Observations (histograms) or points (gauges, sums) the value is computed from.
    pub n: i64,
    /// The statistic.
    pub value: f64,
    /// The figures beside it: `p50`, `p95`, `p99`, `count`, `sum` of a histogram;
    /// `increase` of a sum; `min`, `max` of a gauge.
    pub kpis: BTreeMap<String, Option<f64>>,
}

impl Accumulator {
    /// Adds one stream's increment.
    pub fn add(&mut self, increment: Increment) {
        if self.error.is_some() {
            return;
        }
        let kind = self.kind.get_or_insert_with(|| increment.kind.clone());
        if kind.name() != increment.kind.name() {
            self.error = Some(format!(
                "the metric has points of type {} and {}",
                kind.name(),
                increment.kind.name()
            ));
            return;
        }
        if self.increments == 0 {
            self.sum = Some(0.0);
        }
        self.increments += 1;
        match increment.payload {
            Payload::Number(v) if increment.kind == Kind::Gauge => self.values.push(v),
            Payload::Number(v) => self.increase += v,
            Payload::Histogram {
                count,
                sum,
                bounds,
                buckets,
            } => {
                self.increase += count;
                self.sum = self.sum.zip(sum).map(|(a, b)| a + b);
                match &self.bounds {
                    None => {
                        self.bounds = Some(bounds);
                        self.buckets = buckets;
                    }
                    Some(have) if *have == bounds && self.buckets.len() == buckets.len() => {
                        for (total, b) in self.buckets.iter_mut().zip(buckets) {
                            *total += b;
                        }
                    }
                    Some(have) => {
                        self.error = Some(format!(
                            "histograms with different bounds cannot be merged: {have:?} and {bounds:?}"
                        ));
                    }
                }
            }
            Payload::Exponential {
                count,
                sum,
                buckets,
            } => {
                self.increase += count;
                self.sum = self.sum.zip(sum).map(|(a, b)| a + b);
                match &mut self.exponential {
                    Some(merged) => merged.merge(&buckets),
                    None => self.exponential = Some(buckets),
                }
            }
            Payload::Summary { count, sum } => {
                self.increase += count;
                self.sum = self.sum.zip(sum).map(|(a, b)| a + b);
            }
        }
    }

    /// The statistic of the window; `None` when it has none (a histogram without new
    /// observations, a window with only base points).
    ///
    /// # Errors
    /// When the metric's type has no such statistic, or its points could not be merged.
    pub fn finish(self, statistic: Statistic, window_ns: i64) -> Result<Option<Figures>, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let Some(kind) = self.kind else {
            return Ok(None);
        };
        let seconds = window_ns as f64 / 1e9;
        let wrong = |what: &str| {
            Err(format!(
                "{what} of a metric of type {}: p50/p95/p99 need a histogram or an exponential \
                 histogram, mean one of them, a summary or a gauge, rate a sum, a histogram, an \
                 exponential histogram or a summary",
                kind.name()
            ))
        };
        let figure = |v: f64| (v.is_finite()).then_some(v);
        match (&kind, statistic) {
            (Kind::Histogram | Kind::ExponentialHistogram, _) => {
                let quantile: Box<dyn Fn(f64) -> f64> = if kind == Kind::Histogram {
                    let bounds = self.bounds.unwrap_or_default();
                    let buckets = otlp_buckets("metric monitor", &bounds, &self.buckets)
                        .map_err(|e| e.to_string())?;
                    Box::new(move |q| bucket_quantile(q, buckets.clone()))
                } else {
                    let buckets = self.exponential.unwrap_or_default();
                    Box::new(move |q| exponential_quantile(q, &buckets))
                };
                let count = self.increase;
                let value = match statistic {
                    Statistic::Quantile(q) => quantile(q),
                    Statistic::Mean => self.sum.map_or(f64::NAN, |s| s / count),
                    Statistic::Rate => count / seconds,
                };
                if count <= 0.0 || !value.is_finite() {
                    return Ok(None);
                }
                let kpis = [
                    ("p50", figure(quantile(0.5))),
                    ("p95", figure(quantile(0.95))),
                    ("p99", figure(quantile(0.99))),
                    ("count", Some(count)),
                    ("sum", self.sum),
                ];
                Ok(Some(Figures {
                    n: count.round() as i64,
                    value,
                    kpis: kpis.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                }))
            }
            (Kind::Gauge, Statistic::Mean) => {
                let n = self.values.len();
                let kpis = [
                    ("min", self.values.iter().copied().reduce(f64::min)),
                    ("max", self.values.iter().copied().reduce(f64::max)),
                ];
                Ok(Some(Figures {
                    n: n as i64,
                    value: self.values.iter().sum::<f64>() / n as f64,
                    kpis: kpis.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                }))
            }
            (Kind::Summary, Statistic::Mean | Statistic::Rate) => {
                let count = self.increase;
                let value = match statistic {
                    Statistic::Mean => self.sum.map_or(f64::NAN, |s| s / count),
                    _ => count / seconds,
                };
                if count <= 0.0 || !value.is_finite() {
                    return Ok(None);
                }
                let kpis = [("count", Some(count)), ("sum", self.sum)];
                Ok(Some(Figures {
                    n: count.round() as i64,
                    value,
                    kpis: kpis.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                }))
            }
            (Kind::Sum { .. }, Statistic::Rate) => Ok(Some(Figures {
                n: self.increments,
                value: self.increase / seconds,
                kpis: BTreeMap::from([("increase".to_owned(), Some(self.increase))]),
            })),
            (Kind::Other(_), _) => wrong("no statistic is read"),
            (Kind::Summary, Statistic::Quantile(_)) => {
                wrong("a quantile (a summary's quantiles cannot be added across points or streams)")
            }
            (_, Statistic::Quantile(_)) => wrong("a quantile"),
            (_, Statistic::Mean) => wrong("a mean"),
            (_, Statistic::Rate) => wrong("a rate"),
        }
    }
}
