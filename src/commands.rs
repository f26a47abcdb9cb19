//! One module per subcommand (SPEC §2). Each exposes `main(args) -> ExitCode`; exit codes
//! are 0 ok, 2 a usage or config error (the message names the flag or key), 1 anything
//! else, with the message on stderr.

pub mod audit;
pub mod backtest;
pub mod check_config;
pub mod demo;
pub mod detect;
pub mod report;
pub mod serve;
pub mod source;
pub mod sql;

use std::process::ExitCode;

/// Why a command failed, which decides its exit code.
#[derive(Debug)]
pub enum Failure {
    /// A bad flag value, file or key (exit 2); the message names it.
    Usage(String),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl Failure {
    /// Prints the message to stderr and gives the exit code.
    pub fn exit(self) -> ExitCode {
        match self {
            Failure::Usage(message) => {
                eprintln!("vigil: {message}");
                ExitCode::from(2)
            }
            Failure::Other(e) => {
                eprintln!("vigil: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

/// Runs a client command's future on a fresh multi-threaded runtime.
pub fn block_on(command: impl Future<Output = Result<(), Failure>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Failure::Other(e.into()).exit(),
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.exit(),
    }
}
