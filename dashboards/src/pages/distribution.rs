//! `/monitors/{monitor}/distribution?series=S`: for a `confidence` monitor, the
//! confidence histogram of the newest window against the Phase I baseline (shares of ten
//! bins over [0, 1], side by side), and the deciles p10, p50, p90 over time. Both come
//! from the `kpis` the monitor job stores with every window ([`analytics::monitor::Signal::kpis`]),
//! so the page reads `drift` only.

use std::sync::Arc;

use analytics::QueryEngine;
use analytics::monitor::{Monitor, Signal};
use maud::{Markup, html};
use schemas::tables::partition_date;

use super::rows::Rows;
use super::{Error, at, literal};
use crate::chart;
use crate::layout::{encode, with_query};
use crate::range::TimeRange;

/// Bins of the stored confidence histogram: bin b holds [b/10, (b+1)/10), the last also 1.0.
pub const BINS: usize = 10;

/// Deciles of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Deciles {
    /// Window start, ns.
    pub start_ns: i64,
    /// p10, p50, p90 of the window's confidence.
    pub p10: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// p90.
    pub p90: Option<f64>,
    /// Whether the window alarmed.
    pub alarm: bool,
}

/// The distribution page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct DistributionPage {
    /// Monitor name.
    pub monitor: String,
    /// Series.
    pub series: String,
    /// Counts per bin over the Phase I windows (all of them, whatever the range).
    pub baseline: [u64; BINS],
    /// Counts per bin of the newest window in the range, and its start.
    pub now: Option<(i64, [u64; BINS])>,
    /// Deciles per window in the range, oldest first.
    pub deciles: Vec<Deciles>,
}

/// Reads the histograms and deciles.
///
/// # Errors
/// [`Error::NotFound`] for an unknown monitor; [`Error::BadParameter`] for a monitor that
/// does not watch confidence; [`Error::Query`] when `drift` cannot be read.
pub async fn load(
    engine: &QueryEngine,
    monitors: &[Arc<Monitor>],
    name: &str,
    series: &str,
    range: &TimeRange,
) -> Result<DistributionPage, Error> {
    let monitor = monitors
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::NotFound(format!("no monitor named {name:?}")))?;
    if monitor.signal != Signal::Confidence {
        return Err(Error::BadParameter {
            parameter: "monitor",
            message: format!(
                "{name:?} watches {}; the distribution page shows confidence monitors \
                 (signal = \"confidence\"), whose windows store a histogram",
                monitor.signal
            ),
        });
    }
    let this = format!(
        "monitor = {} AND series = {}",
        literal(name),
        literal(series)
    );
    let baseline = engine
        .query(&format!(
            "SELECT kpis FROM drift WHERE {this} AND phase = 'baseline'"
        ))
        .await?;
    let mut base = [0; BINS];
    for kpis in Rows::new(&baseline.batches).str("kpis")?.iter().flatten() {
        if let Some(bins) = bins(kpis) {
            for (b, c) in base.iter_mut().zip(bins) {
                *b += c;
            }
        }
    }
    let windows = engine
        .query(&format!(
            "SELECT window_start, alarm, kpis FROM drift WHERE {this} AND date >= {} AND date <= {} \
             AND window_start >= {} AND window_start < {} ORDER BY window_start",
            literal(&partition_date(range.from_ns)),
            literal(&partition_date(range.to_ns)),
            at(range.from_ns),
            at(range.to_ns)
        ))
        .await?;
    let rows = Rows::new(&windows.batches);
    let (start, alarm, kpis) = (
        rows.i64("window_start")?,
        rows.bool("alarm")?,
        rows.str("kpis")?,
    );
    let mut deciles = Vec::with_capacity(rows.len());
    let mut now = None;
    for i in 0..rows.len() {
        let k: serde_json::Value = kpis[i]
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let get = |key: &str| k.get(key).and_then(serde_json::Value::as_f64);
        let start = start[i].unwrap_or_default();
        deciles.push(Deciles {
            start_ns: start,
            p10: get("p10"),
            p50: get("p50"),
            p90: get("p90"),
            alarm: alarm[i].unwrap_or(false),
        });
        if let Some(b) = kpis[i].as_deref().and_then(bins) {
            now = Some((start, b));
        }
    }
    if deciles.is_empty() && base.iter().all(|c| *c == 0) {
        return Err(Error::NotFound(format!(
            "monitor {name:?} has no window of series {series:?}"
        )));
    }
    Ok(DistributionPage {
        monitor: name.to_owned(),
        series: series.to_owned(),
        baseline: base,
        now,
        deciles,
    })
}

/// The ten bin counts of a window's `kpis` JSON (`bin0` … `bin9`).
fn bins(kpis: &str) -> Option<[u64; BINS]> {
    let v: serde_json::Value = serde_json::from_str(kpis).ok()?;
    let mut out = [0; BINS];
    for (b, slot) in out.iter_mut().enumerate() {
        let c = v.get(format!("bin{b}"))?.as_f64()?;
        *slot = c.max(0.0).round() as u64;
    }
    Some(out)
}

/// Shares of a histogram (all zero for an empty one).
pub fn shares(counts: &[u64; BINS]) -> [f64; BINS] {
    let total: u64 = counts.iter().sum();
    let mut out = [0.0; BINS];
    if total > 0 {
        for (s, c) in out.iter_mut().zip(counts) {
            *s = *c as f64 / total as f64;
        }
    }
    out
}

/// The distribution page's markup.
pub fn render(data: &DistributionPage, range: &TimeRange) -> Markup {
    let labels: Vec<String> = (0..BINS)
        .map(|b| format!("{:.1}–{:.1}", b as f64 / 10.0, (b + 1) as f64 / 10.0))
        .collect();
    let back = with_query(
        &format!(
            "/monitors/{}?series={}",
            encode(&data.monitor),
            encode(&data.series)
        ),
        &range.query(),
    );
    let base_total: u64 = data.baseline.iter().sum();
    html! {
        p { "Series " strong { (data.series) } " · " a href=(back) { "control chart" } }
        section.chart #histogram {
            h2 { "Confidence now vs baseline" }
            @match &data.now {
                None => p.empty { "No window with a histogram in the range." },
                Some((start, now)) => {
                    p {
                        "Newest window from " (schemas::window::time_of_ns(*start).format("%Y-%m-%d %H:%M:%S")) " UTC ("
                        (now.iter().sum::<u64>()) " transactions) against the Phase I baseline ("
                        (base_total) " transactions)."
                    }
                    (chart::histogram(&chart::Histogram {
                        bins: labels.clone(),
                        baseline: shares(&data.baseline).to_vec(),
                        now: shares(now).to_vec(),
                    }))
                    table.shares {
                        thead { tr { th { "Bin" } th.num { "Baseline" } th.num { "Now" } } }
                        tbody {
                            @for (b, label) in labels.iter().enumerate() {
                                tr { td { (label) } td.num { (format!("{:.1} %", 100.0 * shares(&data.baseline)[b])) } td.num { (format!("{:.1} %", 100.0 * shares(now)[b])) } }
                            }
                        }
                    }
                }
            }
        }
        section.chart #deciles {
            h2 { "Deciles over time (p10, p50, p90)" }
            (chart::deciles(&data.deciles.iter().map(|d| chart::QuantilePoint {
                t_ns: d.start_ns,
                values: vec![d.p10, d.p50, d.p90],
                alarm: d.alarm,
            }).collect::<Vec<_>>(), &["p10", "p50", "p90"]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_and_shares_come_from_kpis() {
        let kpis = r#"{"p10":0.5,"p50":0.8,"p90":0.95,"bin0":0,"bin1":0,"bin2":0,"bin3":0,"bin4":1,"bin5":1,"bin6":0,"bin7":2,"bin8":4,"bin9":2}"#;
        let b = bins(kpis).unwrap();
        assert_eq!(b, [0, 0, 0, 0, 1, 1, 0, 2, 4, 2]);
        let s = shares(&b);
        assert!((s[8] - 0.4).abs() < 1e-12);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(bins(r#"{"p10":0.5}"#), None);
        assert_eq!(shares(&[0; BINS]), [0.0; BINS]);
    }
}
