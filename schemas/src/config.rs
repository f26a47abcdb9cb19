//! The error every crate's config section reports: the dotted key path
//! (`storage.flush_interval`, `monitor[0].lambda`, `rule[1].query`) and the problem, so
//! that `vigil serve` and `vigil check-config` exit 2 naming the key (SPEC §2).

/// A config problem: the dotted key (`monitor[0].lambda`, `rule[1].query`) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    /// The dotted key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, problem: impl ToString) -> Self {
        Self {
            key: key.into(),
            problem: problem.to_string(),
        }
    }
}
