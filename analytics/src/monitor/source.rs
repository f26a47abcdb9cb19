//! Where monitor queries run: the [`SqlSource`] trait, implemented by the daemon's own
//! [`QueryEngine`] here and, for `vigil backtest --server`, by the root's HTTP client.

use crate::error::Result;
use crate::{QueryEngine, QueryResult};

/// Where the scheduler's queries run: the daemon's own [`QueryEngine`], or, for
/// `vigil backtest --server`, a running daemon's SQL API.
#[async_trait::async_trait]
pub trait SqlSource: Send + Sync {
    /// Runs one read-only query.
    ///
    /// # Errors
    /// As [`QueryEngine::query`].
    async fn query(&self, sql: &str) -> Result<QueryResult>;

    /// Runs `queries` over one snapshot, each able to read the `shared` relations
    /// `(name, sql)` by name. This default inlines them as a `WITH` in every query; the
    /// [`QueryEngine`] computes each shared relation once and reuses it.
    ///
    /// # Errors
    /// As [`SqlSource::query`].
    async fn query_all(
        &self,
        shared: &[(&str, String)],
        queries: &[String],
    ) -> Result<Vec<QueryResult>> {
        let with = if shared.is_empty() {
            String::new()
        } else {
            let parts: Vec<String> = shared
                .iter()
                .map(|(n, q)| format!("{n} AS ({q})"))
                .collect();
            format!("WITH {} ", parts.join(", "))
        };
        let mut out = Vec::with_capacity(queries.len());
        for query in queries {
            out.push(self.query(&format!("{with}{query}")).await?);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl SqlSource for QueryEngine {
    async fn query(&self, sql: &str) -> Result<QueryResult> {
        QueryEngine::query(self, sql).await
    }

    async fn query_all(
        &self,
        shared: &[(&str, String)],
        queries: &[String],
    ) -> Result<Vec<QueryResult>> {
        use datafusion::datasource::MemTable;
        let ctx = self.context().await?;
        for (name, sql) in shared {
            let started = std::time::Instant::now();
            let frame = ctx.sql(sql).await?;
            let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            tracing::debug!(relation = name, rows, elapsed = ?started.elapsed(), "monitors: shared rows built");
            let table = MemTable::try_new(schema, vec![batches])?;
            ctx.register_table(*name, std::sync::Arc::new(table))?;
        }
        let mut out = Vec::with_capacity(queries.len());
        for query in queries {
            let started = std::time::Instant::now();
            let frame = ctx.sql(query).await?;
            let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await?;
            tracing::debug!(elapsed = ?started.elapsed(), %query, "monitors: windows measured");
            out.push(QueryResult { schema, batches });
        }
        Ok(out)
    }
}
