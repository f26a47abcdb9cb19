//! The `vigil` binary: the only crate that knows axum, tonic, flags, env vars and
//! signals. It wires the collector (the writer), analytics (the reader) and alerts
//! together and holds no domain logic of its own.
//!
//! - `cli`: the command table; `commands`: one module per subcommand; `demo`: the
//!   built-in config, synthetic fleet and rollback hook of `vigil demo`.
//! - `config`: the config file, flags and environment, assembled from each crate's
//!   section; `logging`: log levels and format.
//! - `otlp`: the OTLP receivers (gRPC, HTTP, intake); `http`: the API; `pg`: the
//!   PostgreSQL front end; `render`: results as JSON, CSV, tables, Parquet.
//! - `jobs`: background loops (monitors, SQL rules, alert records).
//! - `auth`: tokens, scopes and the browser guards; `tls`: TLS on every listener.
//! - `audit`: the audit log's writer (the hash chain is the `audit` crate's).
//! - `allocator`: the global allocator and its settings.

mod allocator;
mod audit;
mod auth;
mod cli;
mod cluster;
mod commands;
mod config;
mod demo;
mod http;
mod jobs;
mod logging;
mod otlp;
mod pg;
mod render;
mod tls;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    allocator::configure();
    // `[storage] tables` may be s3://, gs:// or az:// for any command that opens tables.
    collector::store::register_object_stores();
    match Cli::parse().command {
        Command::Serve(args) => commands::serve::main(args),
        Command::Demo(args) => commands::demo::main(args),
        Command::Sql(args) => commands::sql::main(args),
        Command::Detect(flags) => commands::detect::main(flags),
        Command::Backtest(args) => commands::backtest::main(args),
        Command::Report(report) => commands::report::main(report),
        Command::Audit(command) => commands::audit::main(command),
        Command::CheckConfig { file } => commands::check_config::main(file),
    }
}
