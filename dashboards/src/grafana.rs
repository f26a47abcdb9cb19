//! The Grafana dashboards shipped in `dashboards/grafana/`, and Grafana's expansion of their
//! queries.
//!
//! Three dashboards for Grafana's PostgreSQL data source (plugin id
//! `grafana-postgresql-datasource`) pointed at Vigil's PostgreSQL port: `agents.json`
//! (agent KPIs), `monitor.json` (one monitor × series from `drift` as a control chart) and
//! `cost.json` (cost by agent, model and provider; unpriced spans as unknown). Each
//! chooses its data source through a `datasource` variable of type `datasource` (no
//! `__inputs`, so file provisioning loads them as they are), and every panel restricts time
//! with `$__timeFilter`. [`DASHBOARDS`] embeds them in the binary; [`queries`] lists every
//! SQL statement in them (panels, query variables, annotations) with its
//! [`TemplateVariable`]s; [`expand`] turns one into the SQL Grafana sends. The end-to-end
//! test `tests/e2e/grafana.rs` runs each one, expanded, against a live daemon over the
//! PostgreSQL protocol; `docs/grafana.md` tells how to provision them.

mod expand;
#[cfg(test)]
mod tests;

pub use expand::{
    Context, ExpandError, Value, Variable, expand, format_interval, go_float, parse_interval,
    rfc3339_nano,
};

use serde_json::Value as Json;

/// Grafana's plugin id of its PostgreSQL data source (`plugin.json` of
/// `public/app/plugins/datasource/grafana-postgresql-datasource`; `postgres` is its alias).
pub const DATASOURCE_TYPE: &str = "grafana-postgresql-datasource";

/// The dashboards as (file name, JSON), in the order the docs list them.
pub const DASHBOARDS: [(&str, &str); 3] = [
    ("agents.json", include_str!("../grafana/agents.json")),
    ("monitor.json", include_str!("../grafana/monitor.json")),
    ("cost.json", include_str!("../grafana/cost.json")),
];

/// Where a query sits in its dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// A panel target (`panels[].targets[].rawSql`).
    Panel,
    /// A query variable (`templating.list[].query`).
    Variable,
    /// An annotation (`annotations.list[].target.rawSql`).
    Annotation,
}

/// One SQL statement of a dashboard, unexpanded.
#[derive(Clone, Debug)]
pub struct Query {
    /// The dashboard's file name.
    pub file: &'static str,
    /// Panel title, variable name or annotation name.
    pub title: String,
    /// Where it sits.
    pub kind: QueryKind,
    /// The target's `format` (`time_series` or `table`); `table` for variables and
    /// annotations, which Grafana always runs as tables.
    pub format: String,
    /// The raw SQL with Grafana's macros and variables.
    pub sql: String,
}

/// A variable of a dashboard's `templating.list`.
#[derive(Clone, Debug)]
pub struct TemplateVariable {
    /// Its name.
    pub name: String,
    /// `query`, `datasource`, `custom`, …
    pub kind: String,
    /// Multi-value.
    pub multi: bool,
    /// Offers "All".
    pub include_all: bool,
    /// The SQL of a query variable.
    pub query: Option<String>,
}

/// The JSON of the dashboard `file`.
///
/// # Panics
/// When `file` is not one of [`DASHBOARDS`] or does not parse (a unit test parses each).
pub fn dashboard(file: &str) -> Json {
    let (_, text) = DASHBOARDS
        .iter()
        .find(|(name, _)| *name == file)
        .unwrap_or_else(|| panic!("no dashboard {file}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The variables of dashboard `file`, in order.
pub fn template_variables(file: &str) -> Vec<TemplateVariable> {
    dashboard(file)["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| TemplateVariable {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            kind: v["type"].as_str().unwrap_or_default().to_owned(),
            multi: v["multi"].as_bool().unwrap_or(false),
            include_all: v["includeAll"].as_bool().unwrap_or(false),
            query: query_text(&v["query"]),
        })
        .collect()
}

/// A variable's query: a string, or the `rawSql` of the object newer editors save.
fn query_text(query: &Json) -> Option<String> {
    match query {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("rawSql").and_then(Json::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Every SQL statement of every dashboard: each panel target (rows' nested panels
/// included), each query variable and each annotation, in document order.
pub fn queries() -> Vec<Query> {
    let mut out = Vec::new();
    for (file, _) in DASHBOARDS {
        let json = dashboard(file);
        for variable in template_variables(file) {
            if let Some(sql) = variable.query.filter(|_| variable.kind == "query") {
                out.push(Query {
                    file,
                    title: variable.name,
                    kind: QueryKind::Variable,
                    format: "table".to_owned(),
                    sql,
                });
            }
        }
        let mut panels: Vec<&Json> = json["panels"].as_array().into_iter().flatten().collect();
        while let Some(panel) = panels.first().copied() {
            panels.remove(0);
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(sql) = target["rawSql"].as_str() {
                    out.push(Query {
                        file,
                        title: panel["title"].as_str().unwrap_or_default().to_owned(),
                        kind: QueryKind::Panel,
                        format: target["format"]
                            .as_str()
                            .unwrap_or("time_series")
                            .to_owned(),
                        sql: sql.to_owned(),
                    });
                }
            }
            // A collapsed row holds its panels inside it.
            panels.extend(panel["panels"].as_array().into_iter().flatten());
        }
        for annotation in json["annotations"]["list"].as_array().into_iter().flatten() {
            if let Some(sql) = annotation["target"]["rawSql"].as_str() {
                out.push(Query {
                    file,
                    title: annotation["name"].as_str().unwrap_or_default().to_owned(),
                    kind: QueryKind::Annotation,
                    format: "table".to_owned(),
                    sql: sql.to_owned(),
                });
            }
        }
    }
    out
}
