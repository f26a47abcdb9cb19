//! The query side's error type.

/// Errors of planning and running a query.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The statement would write or reach outside the store (SPEC §7).
    #[error("read-only: {0}")]
    ReadOnly(String),
    /// The SQL does not parse or plan (unknown table or column, syntax error).
    #[error("{0}")]
    Plan(String),
    /// The query ran past its timeout.
    #[error("query cancelled after the {0:?} timeout")]
    Timeout(std::time::Duration),
    /// Every permit was taken for the whole queue timeout ([`crate::admission`]): the
    /// caller should retry later.
    #[error(
        "too many queries: {running} are running and this one waited {waited:?} in the queue; retry later"
    )]
    Busy {
        /// `max_concurrent` of the engine.
        running: usize,
        /// How long the query waited (the queue timeout).
        waited: std::time::Duration,
    },
    /// The query needed more memory than its limit.
    #[error("query exceeded its memory limit: {0}")]
    ResourcesExhausted(String),
    /// Execution failed.
    #[error("{0}")]
    Execution(String),
    /// A request parameter is invalid (a cost report's bounds or group keys).
    #[error("{parameter}: {message}")]
    InvalidParameter {
        /// The parameter as the HTTP API names it (`from`, `to`, `group_by`).
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A Delta table could not be read.
    #[error("delta table {table}: {message}")]
    Delta {
        /// Table name.
        table: &'static str,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// A stable code for API answers (`read_only`, `invalid_query`, `timeout`,
    /// `too_many_queries`, `resources_exhausted`, `execution_error`, `storage_error`, `invalid_parameter`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::ReadOnly(_) => "read_only",
            Error::Plan(_) => "invalid_query",
            Error::Timeout(_) => "timeout",
            Error::Busy { .. } => "too_many_queries",
            Error::ResourcesExhausted(_) => "resources_exhausted",
            Error::Execution(_) => "execution_error",
            Error::Delta { .. } => "storage_error",
            Error::InvalidParameter { .. } => "invalid_parameter",
        }
    }

    /// Whether the caller's query is at fault (HTTP 4xx) rather than the server (5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Error::ReadOnly(_)
                | Error::Plan(_)
                | Error::Timeout(_)
                | Error::ResourcesExhausted(_)
                | Error::InvalidParameter { .. }
        )
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::ResourcesExhausted(m) => Error::ResourcesExhausted(m.clone()),
            D::SQL(..) | D::Plan(_) | D::SchemaError(..) | D::NotImplemented(_) => {
                Error::Plan(e.strip_backtrace())
            }
            _ => Error::Execution(e.strip_backtrace()),
        }
    }
}

/// The query side's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use schemas::config::ConfigError;
