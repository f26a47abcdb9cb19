//! The alerting crate's error type.

/// Errors of alert configuration, the persistent store, silences and signatures.
///
/// Delivery failures are not errors: a receiver that answers 503 is an
/// [`crate::notification::DeliveryOutcome`], recorded and retried by the outbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing or wrong; `key` names it as the TOML spells it
    /// (e.g. `receiver.oncall.url`).
    #[error("{key}: {message}")]
    Config {
        /// The offending key, dotted from the config root.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The embedded store (redb) failed to open, read or commit.
    #[error("alert store: {0}")]
    Store(#[from] redb::Error),
    /// A stored entry does not decode; the store was written by an incompatible version
    /// or damaged outside redb.
    #[error("alert store: entry {key} does not decode: {source}")]
    Corrupt {
        /// Table and key of the entry.
        key: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A silence body is invalid (Alertmanager's v2 validation rules); the message names
    /// the field.
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    /// No silence with this id exists, or it has already expired.
    #[error("silence {0} not found or already expired")]
    UnknownSilence(String),
    /// A Standard Webhooks signature did not verify (see [`crate::signature::verify`]).
    #[error("webhook signature: {0}")]
    Signature(&'static str),
    /// The dispatcher is shutting down and takes no more work.
    #[error("the alert dispatcher is shut down")]
    Closed,
    /// A blocking store task panicked or was cancelled.
    #[error("alert store task: {0}")]
    Task(String),
}

impl Error {
    /// Builds a [`Error::Config`] naming `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Wraps any redb error (each redb operation has its own error type).
    pub(crate) fn store(e: impl Into<redb::Error>) -> Self {
        Error::Store(e.into())
    }

    /// Whether the same call may succeed later (the store was busy or failed to write);
    /// configuration, silence and signature errors are the caller's to fix.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Task(_))
    }

    /// A stable machine-readable code for API answers.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "invalid_config",
            Error::Store(_) | Error::Corrupt { .. } | Error::Task(_) => "store_failed",
            Error::InvalidSilence(_) => "invalid_silence",
            Error::UnknownSilence(_) => "silence_not_found",
            Error::Signature(_) => "invalid_signature",
            Error::Closed => "shutting_down",
        }
    }

    /// The HTTP status an API answer carrying this error should have.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Config { .. } | Error::InvalidSilence(_) => 400,
            Error::Signature(_) => 401,
            Error::UnknownSilence(_) => 404,
            Error::Closed => 503,
            Error::Store(_) | Error::Corrupt { .. } | Error::Task(_) => 500,
        }
    }
}

/// The alerting crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
