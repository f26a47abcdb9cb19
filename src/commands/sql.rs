//! `vigil sql`: one query against a running daemon (HTTP API) or, offline, against a data
//! directory (its Delta tables plus what its WAL holds beyond them). With
//! `--engine ballista://HOST:PORT`, the data directory's committed Delta tables are read
//! by a DataFusion Ballista cluster instead ([`analytics::ballista`]).

use std::io::Write;
use std::process::ExitCode;

use analytics::ballista::Scheduler;
use anyhow::Context;
use clap::{Args, ValueEnum};

use super::Failure;
use super::source::{Server, Source, SourceArgs, open_data_dir};
use crate::render;

/// Flags of `vigil sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query.
    pub query: String,
    /// Where to read.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Where the query runs: `local` (this process), or `ballista://HOST:PORT`, a
    /// DataFusion Ballista scheduler that reads the committed Delta tables of --data-dir
    /// (not the WAL's unflushed tail; Vigil's json_get_*/histogram_* functions are not
    /// available there).
    #[arg(long, default_value = "local", value_parser = Engine::parse, conflicts_with = "server")]
    pub engine: Engine,
}

/// Where `vigil sql` runs a query over a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process, over the Delta tables and the WAL.
    Local,
    /// A Ballista cluster, over the committed Delta tables.
    Ballista(Scheduler),
}

impl Engine {
    /// `local` or `ballista://HOST[:PORT]`.
    ///
    /// # Errors
    /// Anything else, with the accepted forms.
    fn parse(s: &str) -> Result<Self, String> {
        if s == "local" {
            Ok(Engine::Local)
        } else if s.contains("://") {
            s.parse().map(Engine::Ballista)
        } else {
            Err(format!("{s}: expected local or ballista://HOST:PORT"))
        }
    }
}

/// Result format of `vigil sql` and `vigil backtest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// The API's JSON (`columns`, `rows`).
    Json,
}

/// Runs the command; prints to stdout.
pub fn main(args: SqlArgs) -> ExitCode {
    super::block_on(run(args))
}

async fn run(args: SqlArgs) -> Result<(), Failure> {
    match args.source.source() {
        Source::Server(server) => remote(&server, &args.query, args.format).await,
        Source::DataDir(dir) => {
            let engine = open_data_dir(&dir).await?;
            let result = match &args.engine {
                Engine::Local => engine.query(&args.query).await,
                Engine::Ballista(scheduler) => {
                    engine
                        .query_on_ballista(scheduler, &args.query)
                        .await
                        .map(|answer| {
                            if answer.uncommitted_rows > 0 {
                                eprintln!(
                                    "note: {} acknowledged rows are in the write-ahead log only (not yet \
                                     in a Delta commit) and were not read by {scheduler}",
                                    answer.uncommitted_rows
                                );
                            }
                            answer.result
                        })
                }
            }
            .map_err(anyhow::Error::from)?;
            let out = match args.format {
                OutputFormat::Table => render::to_table(&result).into_bytes(),
                OutputFormat::Csv => render::to_csv(&result).context("writing CSV")?,
                OutputFormat::Json => {
                    let mut v =
                        serde_json::to_vec(&render::to_json(&result)).context("writing JSON")?;
                    v.push(b'\n');
                    v
                }
            };
            std::io::stdout()
                .write_all(&out)
                .context("writing to stdout")?;
            Ok(())
        }
    }
}

async fn remote(server: &Server, query: &str, format: OutputFormat) -> Result<(), Failure> {
    let accept = if format == OutputFormat::Csv {
        "text/csv"
    } else {
        "application/json"
    };
    let body = server
        .post(
            "/api/v1/sql",
            accept,
            &serde_json::json!({ "query": query }),
        )
        .await?;
    let mut stdout = std::io::stdout();
    let out = match format {
        OutputFormat::Csv => body.to_vec(),
        OutputFormat::Json => [&body[..], b"\n"].concat(),
        OutputFormat::Table => {
            let value: serde_json::Value =
                serde_json::from_slice(&body).context("unexpected answer from the server")?;
            let (columns, rows) =
                render::json_rows(&value).context("unexpected answer from the server")?;
            let texts: Vec<Vec<String>> = rows
                .iter()
                .map(|r| r.iter().map(render::json_text).collect())
                .collect();
            render::text_table(&columns, &texts).into_bytes()
        }
    };
    stdout.write_all(&out).context("writing to stdout")?;
    Ok(())
}
