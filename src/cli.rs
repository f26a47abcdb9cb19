//! The command table (SPEC §2): one variant per subcommand, its flags defined beside the
//! command in [`crate::commands`] (the daemon's in [`crate::config::ServeArgs`], which
//! the config file mirrors).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::audit::AuditCommand;
use crate::commands::backtest::BacktestArgs;
use crate::commands::demo::DemoArgs;
use crate::commands::detect::DetectFlags;
use crate::commands::report::ReportCommand;
use crate::commands::sql::SqlArgs;
use crate::config::ServeArgs;

/// Vigil: statistical process control for AI agents in production, fed by OTLP.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: OTLP receivers, storage, SQL.
    Serve(ServeArgs),
    /// Start the daemon with a built-in config and a synthetic agent fleet whose quality
    /// drifts after a minute: data, drift and an alert at once, no config needed.
    Demo(DemoArgs),
    /// Run one SQL query against a running daemon or, offline, a data directory.
    Sql(SqlArgs),
    /// Run one drift detector over a series read as CSV from stdin (header `value`,
    /// optional `series` and, for p_chart, `n`); print CSV.
    Detect(DetectFlags),
    /// Replay stored history through one monitor and print the windows it would have
    /// alarmed on (nothing is alerted or written).
    Backtest(BacktestArgs),
    /// Reports for finance.
    #[command(subcommand)]
    Report(ReportCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Validate a config file and print what it would run.
    CheckConfig {
        /// The TOML file.
        file: PathBuf,
    },
}
