//! Tables for long-lived sessions: each scan reads a fresh snapshot.
//!
//! A PostgreSQL connection keeps one DataFusion session for its lifetime, so its tables
//! cannot be a snapshot taken at connect time. A [`LiveTable`] plans each scan in a fresh
//! [`QueryEngine::context`] (Delta version ∪ hot batches, as the HTTP API does per query)
//! and hands the caller that plan, with the filters, projection and limit pushed into it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, col, create_udf};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::QueryEngine;

/// One user-facing table (`spans`, `scores`, `transactions`, `metrics`, …) that snapshots at
/// scan time.
///
/// Attribute maps are presented as JSON text (`utf8`): the PostgreSQL wire protocol has no
/// map type, and SPEC §7 asks for maps as JSON there.
pub struct LiveTable {
    engine: Arc<QueryEngine>,
    name: &'static str,
    schema: SchemaRef,
}

/// `map_to_json(map<utf8, utf8>) -> utf8`: a map as a JSON object, null stays null.
fn map_to_json() -> ScalarUDF {
    create_udf(
        "map_to_json",
        vec![schemas::tables::attribute_map_type()],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let maps = arrays[0].as_map();
            let mut out = StringBuilder::with_capacity(maps.len(), maps.len() * 32);
            for row in 0..maps.len() {
                if maps.is_null(row) {
                    out.append_null();
                    continue;
                }
                let entries = maps.value(row);
                let keys = entries.column(0).as_string::<i32>();
                let values = entries.column(1).as_string::<i32>();
                let object: serde_json::Map<String, serde_json::Value> = (0..entries.len())
                    .map(|i| {
                        let value = if values.is_null(i) {
                            serde_json::Value::Null
                        } else {
                            values.value(i).into()
                        };
                        (keys.value(i).to_owned(), value)
                    })
                    .collect();
                out.append_value(serde_json::Value::Object(object).to_string());
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    )
}

impl std::fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTable")
            .field("name", &self.name)
            .finish()
    }
}

impl LiveTable {
    /// Every user-facing table of `engine`, with its schema.
    ///
    /// # Errors
    /// When a snapshot cannot be planned (a Delta table cannot be read).
    pub async fn all(
        engine: &Arc<QueryEngine>,
    ) -> crate::Result<Vec<(&'static str, Arc<LiveTable>)>> {
        let ctx = engine.context().await?;
        let mut tables = Vec::new();
        for name in crate::catalog::USER_TABLES {
            let fields: Vec<Field> = ctx
                .table(name)
                .await?
                .schema()
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Map(..) => Field::new(f.name(), DataType::Utf8, true),
                    _ => f.as_ref().clone(),
                })
                .collect();
            let schema = Arc::new(Schema::new(fields));
            tables.push((
                name,
                Arc::new(LiveTable {
                    engine: engine.clone(),
                    name,
                    schema,
                }),
            ));
        }
        Ok(tables)
    }
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let ctx = self
            .engine
            .context()
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let frame = ctx.table(self.name).await?;
        let json = map_to_json();
        let columns: Vec<Expr> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Map(..) => json.call(vec![col(f.name())]).alias(f.name()),
                _ => col(f.name()),
            })
            .collect();
        let mut frame = frame.select(columns)?;
        if let Some(predicate) = conjunction(filters.to_vec()) {
            frame = frame.filter(predicate)?;
        }
        if let Some(projection) = projection {
            let names: Vec<&str> = projection
                .iter()
                .map(|i| self.schema.field(*i).name().as_str())
                .collect();
            frame = frame.select_columns(&names)?;
        }
        if limit.is_some() {
            frame = frame.limit(0, limit)?;
        }
        frame.create_physical_plan().await
    }
}
