//! `vigil report cost`: the cost report of `analytics::report` from a running daemon
//! (`GET /api/v1/reports/cost`) or, offline, from a data directory, printed or written to a
//! file as a table, CSV, JSON or Parquet.
//!
//! Both paths render through `render::cost`, and the table is laid out from the CSV, so the
//! same request prints the same bytes whether it went to a server or read the files.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use analytics::report::CostReport;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::Failure;
use super::source::{ApiError, Offline, Server, Source, SourceArgs, open_data_dir};
use crate::render;

/// `vigil report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Cost per group over a time range: transactions, spans, tokens, USD (exact sums).
    Cost(CostArgs),
}

/// Flags of `vigil report cost`.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// Start of the range, inclusive: RFC 3339 (2026-11-18T09:30:00Z) or a date (YYYY-MM-DD:
    /// its UTC midnight).
    #[arg(long)]
    pub from: String,
    /// End of the range, exclusive: RFC 3339, or a date meaning the end of that day (UTC), so
    /// `--from 2026-11-01 --to 2026-11-30` is all of November.
    #[arg(long)]
    pub to: String,
    /// Group keys, comma-separated or repeated: agent, agent_version, model, provider,
    /// service, service_version, resource.<key>, day, week, month [default: none, one total row].
    #[arg(long)]
    pub group_by: Vec<String>,
    /// Output format; parquet needs --output or a stdout that is not a terminal.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Where to read.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Output format of `vigil report cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header row; an unknown cost is an empty field.
    Csv,
    /// The JSON of `POST /api/v1/sql`; an unknown cost is null.
    Json,
    /// A Parquet file (USD as DECIMAL(38, 12)).
    Parquet,
}

/// Runs `vigil report …` and returns its exit code: 0 ok, 2 a bad flag value (the message
/// names the flag), 1 anything else. Messages go to stderr.
pub fn main(command: ReportCommand) -> ExitCode {
    match command {
        ReportCommand::Cost(args) => super::block_on(run(args)),
    }
}

/// The CLI flag of an API parameter: `group_by` → `--group-by`.
fn flag(parameter: &str) -> String {
    format!("--{}", parameter.replace('_', "-"))
}

fn usage(e: analytics::Error) -> Failure {
    match e {
        analytics::Error::InvalidParameter { parameter, message } => {
            Failure::Usage(format!("{}: {message}", flag(parameter)))
        }
        other => Failure::Other(other.into()),
    }
}

async fn run(args: CostArgs) -> Result<(), Failure> {
    let group_by = args.group_by.join(",");
    // Validated here as well as by the server, so that a bad flag fails before any I/O.
    let report = CostReport::parse(&args.from, &args.to, &group_by).map_err(usage)?;
    if args.format == ReportFormat::Parquet
        && args.output.is_none()
        && std::io::stdout().is_terminal()
    {
        return Err(Failure::Usage(
            "--format parquet is binary: give --output FILE or redirect stdout".into(),
        ));
    }
    // The table is laid out from CSV, the format both paths produce identically.
    let wire = match args.format {
        ReportFormat::Table | ReportFormat::Csv => "csv",
        ReportFormat::Json => "json",
        ReportFormat::Parquet => "parquet",
    };
    let mut bytes = match args.source.source() {
        Source::Server(server) => remote(&server, &args.from, &args.to, &group_by, wire).await?,
        Source::DataDir(dir) => offline(&dir, &report, wire).await?,
    };
    match args.format {
        ReportFormat::Table => bytes = render::cost::table_from_csv(&bytes)?.into_bytes(),
        ReportFormat::Json => bytes.push(b'\n'),
        ReportFormat::Csv | ReportFormat::Parquet => {}
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .context("writing to stdout")?,
    }
    Ok(())
}

/// The report read from a data directory (its Delta tables and what its WAL holds beyond
/// them), rendered as `wire`.
async fn offline(dir: &Offline, report: &CostReport, wire: &str) -> Result<Vec<u8>, Failure> {
    let engine = open_data_dir(dir).await?;
    let result = report.run(&engine).await.map_err(usage)?;
    Ok(match wire {
        "csv" => render::cost::to_csv(&result)?,
        "parquet" => render::cost::to_parquet(&result)?,
        _ => render::cost::to_json(&result)?,
    })
}

/// The report from `GET /api/v1/reports/cost` of a running daemon, in `wire` format. The
/// flags go to the server as given, so that it reads them exactly as the offline path does.
async fn remote(
    server: &Server,
    from: &str,
    to: &str,
    group_by: &str,
    wire: &str,
) -> Result<Vec<u8>, Failure> {
    let query = [
        ("from", from),
        ("to", to),
        ("group_by", group_by),
        ("format", wire),
    ];
    match server.get("/api/v1/reports/cost", &query).await {
        Ok(body) => Ok(body.to_vec()),
        Err(e) => match e.downcast::<ApiError>() {
            // The server names the parameter; the CLI names the flag.
            Ok(ApiError {
                parameter: Some(parameter),
                message,
                ..
            }) => {
                let message = message
                    .strip_prefix(&format!("{parameter}: "))
                    .unwrap_or(&message);
                Err(Failure::Usage(format!("{}: {message}", flag(&parameter))))
            }
            Ok(other) => Err(Failure::Other(other.into())),
            Err(e) => Err(Failure::Other(e)),
        },
    }
}
