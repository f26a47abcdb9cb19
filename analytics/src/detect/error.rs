//! The detectors' error type.

/// Everything that can go wrong when configuring or feeding a detector, or running
/// `vigil detect` over CSV.
///
/// Every message names the detector, parameter, column or input line at fault, so the
/// CLI can print it as is and exit 2 (see [`Error::is_usage`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A detector parameter is out of range, e.g. `ewma: lambda must be in (0, 1], got 1.5`.
    #[error("{detector}: {message}")]
    InvalidParameter {
        /// Detector name (`cusum`, `ewma`, …).
        detector: &'static str,
        /// What is wrong, naming the parameter.
        message: String,
    },
    /// A baseline is invalid or does not fit the detector.
    #[error("baseline: {0}")]
    InvalidBaseline(String),
    /// Phase I data without variation (MR̄ = 0, p̄ = 0 or 1): no limits can be drawn
    /// from them. Monitors extend Phase I until the data vary.
    #[error("baseline: {0}")]
    NoVariation(String),
    /// An observation is of the wrong kind for the detector or not usable (NaN, d > n, …).
    #[error("{detector}: {message}")]
    InvalidObservation {
        /// Detector name.
        detector: &'static str,
        /// What is wrong with the observation.
        message: String,
    },
    /// A persisted state does not belong to the detector it is resumed into.
    #[error("state: {0}")]
    InvalidState(String),
    /// `--detector` names no known detector.
    #[error(
        "unknown detector {0:?} (expected cusum, ewma, shewhart, p_chart, ks, psi or jensen_shannon)"
    )]
    UnknownDetector(String),
    /// A required CLI parameter is absent.
    #[error("missing parameter --{parameter} for detector {detector}")]
    MissingParameter {
        /// Detector name.
        detector: &'static str,
        /// Flag name without dashes.
        parameter: &'static str,
    },
    /// CLI parameters that contradict each other or do not apply to the detector.
    #[error("{0}")]
    Usage(String),
    /// A bad input row: non-numeric value, missing column, count above its sample size, …
    #[error("line {line}: {message}")]
    Input {
        /// 1-based line in the CSV input (the header is line 1).
        line: u64,
        /// What is wrong with the row.
        message: String,
    },
    /// Reading the input or writing the output failed (I/O, not the user's data).
    #[error("i/o: {0}")]
    Io(String),
}

impl Error {
    /// Whether the caller's input or parameters are at fault (`vigil detect` exits 2)
    /// rather than the environment (exit 1).
    pub fn is_usage(&self) -> bool {
        !matches!(self, Error::Io(_))
    }

    /// A stable code for API answers and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::InvalidBaseline(_) => "invalid_baseline",
            Error::NoVariation(_) => "no_variation",
            Error::InvalidObservation { .. } => "invalid_observation",
            Error::InvalidState(_) => "invalid_state",
            Error::UnknownDetector(_) => "unknown_detector",
            Error::MissingParameter { .. } => "missing_parameter",
            Error::Usage(_) => "usage",
            Error::Input { .. } => "invalid_input",
            Error::Io(_) => "io",
        }
    }

    pub(super) fn parameter(detector: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            detector,
            message: message.into(),
        }
    }

    pub(super) fn observation(detector: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidObservation {
            detector,
            message: message.into(),
        }
    }
}

/// The detectors' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
