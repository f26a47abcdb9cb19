//! One module per page, each in two halves: `load` reads the page's data (SQL over
//! [`analytics::QueryEngine`], or plain data the root hands in) into a plain struct, and
//! `render` turns that struct into markup. The halves meet only in that struct, so the
//! tests check data and markup separately and without a server.
//!
//! | path | module |
//! |---|---|
//! | `/` | [`overview`] |
//! | `/monitors/{monitor}?series=S` | [`monitor`] |
//! | `/monitors/{monitor}/distribution?series=S` | [`distribution`] |
//! | `/cost` (and `/cost.csv`) | [`cost`] |
//! | `/traces/{trace_id}` | [`trace`] |
//! | `/alerts` | [`alerts`] |

pub mod alerts;
pub mod cost;
pub mod distribution;
pub mod monitor;
pub mod overview;
mod rows;
pub mod trace;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter is malformed; the message says how.
    #[error("{parameter}: {message}")]
    BadParameter {
        /// The parameter (`from`, `series`, …).
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The monitor, series or trace does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] analytics::Error),
    /// A query result had an unexpected shape (a bug: the SQL is ours).
    #[error("unexpected query result: {0}")]
    Shape(String),
}

impl Error {
    /// The HTTP status to answer with: 400 (a bad parameter), 404, 503 (a query timed out,
    /// ran out of memory or found every query slot taken: try again or narrow the range)
    /// or 500.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadParameter { .. }
            | Error::Query(analytics::Error::InvalidParameter { .. }) => 400,
            Error::NotFound(_) => 404,
            Error::Query(
                analytics::Error::Timeout(_)
                | analytics::Error::ResourcesExhausted(_)
                | analytics::Error::Busy { .. },
            ) => 503,
            Error::Query(_) | Error::Shape(_) => 500,
        }
    }
}

/// A SQL string literal: `'…'` with quotes doubled.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL timestamp literal for ns since the epoch (`to_timestamp_nanos(…)`).
pub(crate) fn at(ns: i64) -> String {
    format!("to_timestamp_nanos({ns})")
}
