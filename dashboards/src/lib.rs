//! Vigil's web pages and Grafana dashboards: what on-call, finance and a newcomer look at.
//!
//! Server-rendered HTML ([maud](https://maud.lambda.xyz), checked at compile time), charts
//! as inline SVG drawn here (readable with JavaScript off, testable without a browser),
//! and htmx (vendored in `src/assets`) for the 30-second refresh and the forms. Every
//! asset is embedded in the binary: the pages load nothing from the network.
//!
//! This crate knows neither an HTTP framework nor the alert engine: the root serves the
//! routes, authenticates, and hands alert state in as plain data ([`pages::alerts`]).
//!
//! - [`chart`]: the SVG charts (sparkline, control chart, statistic chart, histogram,
//!   deciles, bars, waterfall) and the min/max downsampling that keeps every alarm.
//! - [`pages`]: one module per page: its data (SQL over [`analytics::QueryEngine`]) and
//!   its markup.
//! - [`layout`]: the frame every page shares (navigation, time range, refresh, sign-in).
//! - [`range`]: the `from`/`to` every page takes (`now-6h`, RFC 3339, dates).
//! - [`assets`]: the embedded stylesheet and script.
//! - [`grafana`]: the Grafana dashboards shipped in `dashboards/grafana/`.

pub mod assets;
pub mod chart;
pub mod grafana;
pub mod layout;
pub mod pages;
pub mod range;
