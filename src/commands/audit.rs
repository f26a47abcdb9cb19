//! `vigil audit verify`: reads the `audit` table ordered by node and `seq` from a running
//! daemon (`--server`) or a stopped one's data directory (`--data-dir`) and checks each
//! node's hash chain ([`::audit::verify_nodes`]), one line per chain; `--node ID` checks
//! one. Exit 0 when every chain is intact, 1 when one is broken (the node and the first
//! broken row are named), when `--node` names a node without rows, or when the table
//! cannot be read, 2 for a usage error.

use std::process::ExitCode;

use ::audit::NodeReport;
use analytics::QueryResult;
use analytics::monitor::SqlSource;
use clap::{Args, Subcommand};

use super::Failure;
use super::source::{Source, SourceArgs, open_data_dir};

/// `vigil audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chains, one per node: every row of a node numbered 1,
    /// 2, 3, … and sealed by the hash of its contents and of the node's row before. Exits
    /// 1 naming the node and the first broken row.
    Verify(VerifyArgs),
}

/// Flags of `vigil audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Where to read.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Check only the chain of this node (its `[cluster] node_id`).
    #[arg(long, value_name = "ID")]
    pub node: Option<String>,
}

/// Runs the command; prints the verdicts to stdout.
pub fn main(command: AuditCommand) -> ExitCode {
    let AuditCommand::Verify(args) = command;
    let mut intact = true;
    let code = super::block_on(async {
        let chains = verify(&args.source, args.node.as_deref()).await?;
        for line in verdicts(&chains, args.node.as_deref()) {
            println!("{line}");
        }
        intact = !chains.is_empty() || args.node.is_none();
        intact &= chains.iter().all(|c| c.report.intact());
        Ok(())
    });
    if intact { code } else { ExitCode::from(1) }
}

/// The query whose rows are checked: every node's, or `node`'s.
fn rows_sql(node: Option<&str>) -> String {
    match node {
        Some(node) => format!(
            "SELECT * FROM audit WHERE node = '{}' ORDER BY seq",
            node.replace('\'', "''")
        ),
        None => "SELECT * FROM audit ORDER BY node, seq".to_owned(),
    }
}

/// Reads the rows and checks each node's chain.
async fn verify(source: &SourceArgs, node: Option<&str>) -> Result<Vec<NodeReport>, Failure> {
    let sql = rows_sql(node);
    let result: QueryResult = match source.source() {
        Source::Server(server) => server.query(&sql).await,
        Source::DataDir(dir) => open_data_dir(&dir).await?.query(&sql).await,
    }
    .map_err(|e| anyhow::anyhow!("reading the audit table: {e}"))?;
    let rows = ::audit::rows_from_batches(&result.batches)
        .map_err(|e| anyhow::anyhow!("reading the audit table: {e}"))?;
    Ok(::audit::verify_nodes(&rows))
}

/// The lines printed for the chains found (`asked`: the `--node` given).
fn verdicts(chains: &[NodeReport], asked: Option<&str>) -> Vec<String> {
    if chains.is_empty() {
        return vec![match asked {
            Some(node) => format!("audit: node {node}: no rows"),
            None => "audit: 0 rows, chain intact (empty)".to_owned(),
        }];
    }
    chains.iter().map(verdict).collect()
}

/// The line of one node's chain; the rows written before node ids are `(no node)`.
fn verdict(chain: &NodeReport) -> String {
    let name = if chain.node.is_empty() {
        "(no node)".to_owned()
    } else {
        format!("node {}", chain.node)
    };
    let report = &chain.report;
    match (&report.first_broken, &report.last) {
        (Some(broken), _) => format!("audit: {name}: {broken}"),
        (None, Some((seq, hash))) => format!(
            "audit: {name}: {} rows, chain intact (last seq {seq}, hash {hash})",
            report.rows
        ),
        (None, None) => format!("audit: {name}: 0 rows, chain intact (empty)"),
    }
}

#[cfg(test)]
mod tests {
    use ::audit::{Broken, NodeReport, Problem, Report};

    use super::{rows_sql, verdicts};

    #[test]
    fn the_verdicts_read_as_documented() {
        let intact = NodeReport {
            node: "ingest-1".into(),
            report: Report {
                rows: 3,
                last: Some((3, "ab".repeat(32))),
                first_broken: None,
            },
        };
        let legacy = NodeReport {
            node: String::new(),
            report: Report {
                rows: 2,
                last: Some((2, "cd".repeat(32))),
                first_broken: None,
            },
        };
        let broken = NodeReport {
            node: "ingest-2".into(),
            report: Report {
                rows: 7,
                last: None,
                first_broken: Some(Broken {
                    seq: 7,
                    problem: Problem::HashMismatch,
                }),
            },
        };
        assert_eq!(
            verdicts(&[legacy, intact, broken], None),
            vec![
                format!(
                    "audit: (no node): 2 rows, chain intact (last seq 2, hash {})",
                    "cd".repeat(32)
                ),
                format!(
                    "audit: node ingest-1: 3 rows, chain intact (last seq 3, hash {})",
                    "ab".repeat(32)
                ),
                "audit: node ingest-2: chain broken at seq 7: hash does not match the row (edited?)"
                    .to_owned(),
            ]
        );
        assert_eq!(
            verdicts(&[], None),
            vec!["audit: 0 rows, chain intact (empty)"]
        );
        assert_eq!(
            verdicts(&[], Some("ingest-9")),
            vec!["audit: node ingest-9: no rows"]
        );
    }

    #[test]
    fn a_node_is_quoted_into_the_query() {
        assert_eq!(
            rows_sql(Some("it's")),
            "SELECT * FROM audit WHERE node = 'it''s' ORDER BY seq"
        );
        assert_eq!(rows_sql(None), "SELECT * FROM audit ORDER BY node, seq");
    }
}
