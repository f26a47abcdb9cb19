//! The shared vocabulary of Vigil: the Arrow schemas of every table, the attribute
//! mapping (which OTLP attribute keys feed which typed column, per convention dialect),
//! the price table, every on-disk name, and the figures of a closed window
//! ([`window::WindowFigures`]) that the `drift` table, alerting and the API share.
//!
//! This crate does no I/O and reads no clock. `collector` (the only writer), `analytics`
//! (the reader), `alerts` and the root binary all depend on it and on nothing of each other's, so
//! what they agree on lives here: a column added to [`tables`] is seen by the writer and
//! every query at once.

pub mod config;
pub mod mapping;
pub mod paths;
pub mod prices;
pub mod snapshot;
pub mod tables;
pub mod window;
