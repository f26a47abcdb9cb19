//! SVG charts, drawn on the server as inline `<svg>` markup: readable with JavaScript off,
//! testable as text, and scaled by the browser (`viewBox`, `width="100%"`).
//!
//! Every chart is a pure function from plain data to [`maud::Markup`]; the pages in
//! [`crate::pages`] fetch the data and place the markup. Times are UTC throughout; values
//! are printed by a [`NumberFormat`]. Times are `i64` ns since the Unix epoch, as the
//! tables store them. Nothing here knows SQL, HTTP or the alert engine.
//!
//! - Time charts ([`control_chart`], [`statistic_chart`], [`cusum_chart`],
//!   [`deciles_chart`]) share one plot ([`ChartOptions`] for size and range) and are
//!   downsampled per pixel column ([`downsample()`]) keeping every alarm window.
//! - [`sparkline()`] for the overview's rows, [`histogram()`] (baseline vs now shares),
//!   [`day_bars`] (stacked cost per day with the unpriced part shown as unknown), and
//!   [`waterfall()`] (one trace's spans).
//!
//! State is never shown by colour alone: an alarm is a diamond with a `<title>` tooltip,
//! the Phase I band carries the words "Phase I (baseline)", an unknown cost is hatched and
//! labelled. Parts carry stable classes and `data-*` attributes (`data-series`,
//! `data-limit="upper|lower"`, `data-centre`, `data-phase1`, `data-alarm` with `data-t`,
//! `data-span-id`, …) for tests and scripts; `src/assets/chart.css` styles them.
//!
//! ```
//! use dashboards::chart::{ChartOptions, ControlWindow, control_chart};
//! let start_ns = 1_796_000_000_000_000_000; // 2026-11-30 14:13:20 UTC
//! let w = ControlWindow {
//!     start_ns,
//!     end_ns: start_ns + 60_000_000_000,
//!     value: Some(0.81),
//!     centre: Some(0.9),
//!     upper: Some(0.95),
//!     lower: Some(0.85),
//!     smoothed: None,
//!     baseline: false,
//!     alarm: true,
//! };
//! let svg = control_chart(&[w], &ChartOptions::new("accuracy · agent=triage")).into_string();
//! assert!(svg.contains("data-alarm"));
//! ```

pub mod bars;
pub mod control;
pub mod deciles;
pub mod downsample;
pub mod histogram;
mod path;
mod plot;
pub mod scale;
pub mod sparkline;
pub mod statistic;
pub mod waterfall;

#[cfg(test)]
mod svgscan;

pub use bars::{DayBar, day_bars};
pub use control::{ControlWindow, control_chart};
pub use deciles::{QuantilePoint, deciles, deciles_chart};
pub use downsample::{Aggregation, SamplePoint, downsample};
pub use histogram::{Histogram, histogram};
pub use scale::NumberFormat;
pub use sparkline::{SparkPoint, Sparkline, sparkline};
pub use statistic::{CusumWindow, StatisticWindow, cusum_chart, statistic_chart};
pub use waterfall::{WaterfallRow, waterfall};

/// Size, range and formatting of a time chart.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartOptions {
    /// The accessible name: the `<title>` (a tooltip) and `aria-label`, e.g.
    /// `accuracy · agent=triage`.
    pub title: String,
    /// How values are printed on the axis and in tooltips.
    pub format: NumberFormat,
    /// The time axis, `[from, to)` in ns since the epoch (UTC); `None` fits the data.
    /// Windows outside it are still drawn but fall outside the plot area.
    pub range: Option<(i64, i64)>,
    /// `viewBox` width in user units (≈ CSS pixels when drawn at that width).
    pub width: f64,
    /// `viewBox` height in user units.
    pub height: f64,
    /// Downsampling columns across the plot area; `None` is one per 2 user units (about
    /// 450 at the default width), which keeps a week of 1-minute windows to a few KB.
    pub columns: Option<usize>,
    /// Which points per column a downsampled line keeps.
    pub aggregation: Aggregation,
    /// The legend's name for the main line (`value`, `zᵢ`, `p̂`, `D`, …); `None` uses
    /// the chart's default (`value` or `statistic`).
    pub series_label: Option<String>,
    /// The legend's name for the limits (e.g. `μ₀ ± 3σ₀ (reference)` when they are not
    /// the detector's); `None` uses `control limits`.
    pub limits_label: Option<String>,
}

impl ChartOptions {
    /// Options with `title`, plain numbers, the data's own range, 960 × 280 units, the
    /// default columns, [`Aggregation::MinMax`] and the default legend names.
    pub fn new(title: impl Into<String>) -> Self {
        ChartOptions {
            title: title.into(),
            format: NumberFormat::Plain,
            range: None,
            width: 960.0,
            height: 280.0,
            columns: None,
            aggregation: Aggregation::MinMax,
            series_label: None,
            limits_label: None,
        }
    }

    /// The same options naming the main line `label` in the legend.
    pub fn series_label(mut self, label: impl Into<String>) -> Self {
        self.series_label = Some(label.into());
        self
    }

    /// The same options naming the limits `label` in the legend.
    pub fn limits_label(mut self, label: impl Into<String>) -> Self {
        self.limits_label = Some(label.into());
        self
    }

    /// The same options printing values with `format`.
    pub fn format(mut self, format: NumberFormat) -> Self {
        self.format = format;
        self
    }

    /// The same options with the time axis fixed to `[from_ns, to_ns)`.
    pub fn range(mut self, from_ns: i64, to_ns: i64) -> Self {
        self.range = Some((from_ns, to_ns));
        self
    }

    /// The same options with a `viewBox` of `width × height` user units.
    pub fn size(mut self, width: f64, height: f64) -> Self {
        self.width = width;
        self.height = height;
        self
    }
}
