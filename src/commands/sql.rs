//! `vigil sql`: one query against a running daemon (HTTP API) or, offline, against a data
//! directory (its Delta tables plus what its WAL holds beyond them).

use std::io::Write;
use std::process::ExitCode;

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
            let result = engine
                .query(&args.query)
                .await
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
