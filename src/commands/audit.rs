//! `vigil audit verify`: reads the `audit` table in `seq` order from a running daemon
//! (`--server`) or a stopped one's data directory (`--data-dir`) and checks its hash
//! chain ([`::audit::verify`]). Exit 0 when intact, 1 when broken (the first broken row
//! is named) or when the table cannot be read, 2 for a usage error.

use std::process::ExitCode;

use analytics::QueryResult;
use analytics::monitor::SqlSource;
use clap::{Args, Subcommand};

use super::Failure;
use super::source::{Source, SourceArgs, open_data_dir};

/// The query whose rows are checked.
const ROWS_SQL: &str = "SELECT * FROM audit ORDER BY seq";

/// `vigil audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain: every row numbered 1, 2, 3, … and sealed by the
    /// hash of its contents and of the row before. Exits 1 naming the first broken row.
    Verify(VerifyArgs),
}

/// Flags of `vigil audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Where to read.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Runs the command; prints the verdict to stdout.
pub fn main(command: AuditCommand) -> ExitCode {
    let AuditCommand::Verify(args) = command;
    let mut intact = true;
    let code = super::block_on(async {
        let report = verify(&args.source).await?;
        println!("{}", verdict(&report));
        intact = report.intact();
        Ok(())
    });
    if intact { code } else { ExitCode::from(1) }
}

/// Reads the rows and checks them.
async fn verify(source: &SourceArgs) -> Result<::audit::Report, Failure> {
    let result: QueryResult = match source.source() {
        Source::Server(server) => server.query(ROWS_SQL).await,
        Source::DataDir(dir) => open_data_dir(&dir).await?.query(ROWS_SQL).await,
    }
    .map_err(|e| anyhow::anyhow!("reading the audit table: {e}"))?;
    let rows = ::audit::rows_from_batches(&result.batches)
        .map_err(|e| anyhow::anyhow!("reading the audit table: {e}"))?;
    Ok(::audit::verify(&rows))
}

/// The line printed for a report.
fn verdict(report: &::audit::Report) -> String {
    match (&report.first_broken, &report.last) {
        (Some(broken), _) => format!("audit: {broken}"),
        (None, Some((seq, hash))) => format!(
            "audit: {} rows, chain intact (last seq {seq}, hash {hash})",
            report.rows
        ),
        (None, None) => "audit: 0 rows, chain intact (empty)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use ::audit::{Broken, Problem, Report};

    use super::verdict;

    #[test]
    fn the_verdicts_read_as_documented() {
        let intact = Report {
            rows: 3,
            last: Some((3, "ab".repeat(32))),
            first_broken: None,
        };
        assert_eq!(
            verdict(&intact),
            format!(
                "audit: 3 rows, chain intact (last seq 3, hash {})",
                "ab".repeat(32)
            )
        );
        let broken = Report {
            rows: 7,
            last: None,
            first_broken: Some(Broken {
                seq: 7,
                problem: Problem::HashMismatch,
            }),
        };
        assert_eq!(
            verdict(&broken),
            "audit: chain broken at seq 7: hash does not match the row (edited?)"
        );
    }
}
