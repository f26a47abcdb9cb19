//! Which `SET`s a session may run. Every PostgreSQL connection shares one DataFusion
//! session context, so a `SET datafusion.*` would change the engine's settings for every
//! other client (and lift limits): only the settings PostgreSQL clients and drivers send
//! are accepted, and each is kept in the connection's own metadata, never in the shared
//! context. Anything else is refused with SQLSTATE 42501 (`insufficient_privilege`).

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::messages::startup::ParameterStatus;

/// The session settings a client may change (lower case), as PostgreSQL names them.
/// `statement_timeout`, `DateStyle`, `IntervalStyle`, `bytea_output`, `application_name`,
/// `extra_float_digits` and `search_path` are kept per connection by
/// `datafusion-postgres`' `SetShowHook`; `TimeZone` and `client_encoding` by this hook.
pub const ALLOWED: [&str; 9] = [
    "statement_timeout",
    "timezone",
    "datestyle",
    "application_name",
    "extra_float_digits",
    "search_path",
    "bytea_output",
    "intervalstyle",
    "client_encoding",
];

/// Where `datafusion-postgres` keeps a connection's time zone (its `client` module's key).
const TIMEZONE_METADATA: &str = "timezone";

/// The hook: runs before `SetShowHook`, refuses what is not allowed and answers the
/// settings that hook would otherwise hand to the shared context.
pub struct SessionSettings;

/// What to do with a statement.
enum Verdict {
    /// Not a `SET`, or one `SetShowHook` keeps per connection.
    Pass,
    /// `SET TimeZone`: kept in this connection's metadata.
    TimeZone(String),
    /// Acknowledged, nothing to keep: `SET client_encoding` / `SET NAMES` to UTF-8, and
    /// transaction characteristics (every query reads one snapshot, so isolation levels
    /// are moot; Metabase sends them).
    Acknowledge,
    /// Refused.
    Refuse(PgWireError),
}

fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

fn not_allowed(what: &str) -> PgWireError {
    error(
        "42501",
        format!(
            "{what} is not allowed: sessions share the query engine, so only these settings may be changed: statement_timeout, TimeZone, DateStyle, IntervalStyle, application_name, extra_float_digits, search_path, bytea_output, client_encoding"
        ),
    )
}

/// The text of a setting's value: `'UTC'`, `"UTC"` or `UTC`.
fn value_text(value: &Expr) -> String {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        other => other
            .to_string()
            .trim_matches('"')
            .trim_matches('\'')
            .to_owned(),
    }
}

fn encoding(value: &str) -> Verdict {
    let v = value.to_ascii_lowercase().replace(['-', '_'], "");
    if v == "utf8" || v == "unicode" {
        Verdict::Acknowledge
    } else {
        Verdict::Refuse(error(
            "22023",
            format!("client_encoding {value:?} is not supported; Vigil speaks UTF8 only"),
        ))
    }
}

fn verdict(statement: &Statement) -> Verdict {
    let Statement::Set(set) = statement else {
        return Verdict::Pass;
    };
    match set {
        Set::SingleAssignment {
            scope,
            hivevar: false,
            variable,
            values,
        } => {
            let name = variable.to_string().to_ascii_lowercase();
            if !ALLOWED.contains(&name.as_str()) {
                return Verdict::Refuse(not_allowed(&format!("SET {variable}")));
            }
            if scope.is_some() {
                return Verdict::Refuse(error(
                    "0A000",
                    format!(
                        "SET SESSION/LOCAL {variable} is not supported; use SET {variable} = value"
                    ),
                ));
            }
            let Some(value) = values.first() else {
                return Verdict::Refuse(error("42601", format!("SET {variable} needs a value")));
            };
            match name.as_str() {
                "timezone" => Verdict::TimeZone(value_text(value)),
                "client_encoding" => encoding(&value_text(value)),
                _ => Verdict::Pass,
            }
        }
        Set::SetTimeZone {
            local: false,
            value,
        } => Verdict::TimeZone(value_text(value)),
        Set::SetNames { charset_name, .. } => encoding(&charset_name.value),
        Set::SetTransaction { .. } => Verdict::Acknowledge,
        other => Verdict::Refuse(not_allowed(&other.to_string())),
    }
}

impl SessionSettings {
    async fn answer(
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match verdict(statement) {
            Verdict::Pass => None,
            Verdict::Refuse(e) => Some(Err(e)),
            Verdict::Acknowledge => Some(Ok(Response::Execution(Tag::new("SET")))),
            Verdict::TimeZone(zone) => {
                client
                    .metadata_mut()
                    .insert(TIMEZONE_METADATA.to_owned(), zone.clone());
                let status = ParameterStatus::new("TimeZone".into(), zone);
                Some(
                    client
                        .send_message(PgWireBackendMessage::ParameterStatus(status))
                        .await
                        .map(|()| Response::Execution(Tag::new("SET"))),
                )
            }
        }
    }
}

#[async_trait]
impl QueryHook for SessionSettings {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::answer(statement, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match verdict(statement) {
            Verdict::Refuse(e) => Some(Err(e)),
            _ => None,
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::answer(statement, client).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    fn code(sql: &str) -> Option<String> {
        match verdict(&parse(sql)) {
            Verdict::Refuse(PgWireError::UserError(info)) => Some(info.code.clone()),
            Verdict::Refuse(other) => panic!("{other}"),
            _ => None,
        }
    }

    #[test]
    fn client_settings_pass_and_engine_settings_are_refused() {
        for ok in [
            "SET statement_timeout = '5s'",
            "SET application_name = 'psql'",
            "SET extra_float_digits = 3",
            "SET DateStyle = 'ISO, MDY'",
            "SET search_path = public",
            "SET TIME ZONE 'UTC'",
            "SET TimeZone = 'Europe/Paris'",
            "SET client_encoding = 'UTF8'",
            "SET NAMES 'utf8'",
            "SET bytea_output = 'hex'",
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SELECT 1",
        ] {
            assert_eq!(code(ok), None, "{ok}");
        }
        for (refused, sqlstate) in [
            ("SET datafusion.execution.batch_size = 1", "42501"),
            ("SET datafusion.runtime.memory_limit = '100G'", "42501"),
            ("SET work_mem = '1GB'", "42501"),
            ("SET ROLE admin", "42501"),
            ("SET client_encoding = 'LATIN1'", "22023"),
            ("SET LOCAL statement_timeout = '1s'", "0A000"),
        ] {
            assert_eq!(code(refused).as_deref(), Some(sqlstate), "{refused}");
        }
    }
}
