//! Grafana's expansion of a PostgreSQL panel query, step by step as Grafana does it, so
//! that a test can run exactly the SQL Grafana would send to Vigil.
//!
//! A panel's `rawSql` passes three steps before it reaches the database:
//!
//! 1. **Template variables, in the browser.** The dashboard's variables are replaced by the
//!    scenes interpolator (`grafana/scenes`, `packages/scenes/src/variables/interpolation/
//!    sceneInterpolator.ts`, the `VARIABLE_REGEX` of `packages/scenes/src/variables/
//!    constants.ts`): `$var`, `${var}`, `${var:format}` and `[[var]]`. Without a format the
//!    SQL data source formats the value (`SqlDatasource.interpolateVariable`,
//!    `packages/grafana-sql/src/datasource/SqlDatasource.ts`): a single value of a variable
//!    that is neither multi-value nor "include All" goes in raw with `'` doubled; otherwise
//!    each value is quoted as a literal (`PostgresQueryModel.quoteLiteral`) and the values
//!    joined with `,`. With a format, the format registry formats it
//!    (`packages/scenes/src/variables/interpolation/formatRegistry.ts`). Unknown names,
//!    such as the macros below, are left as they are.
//! 2. **Global substitutions, in the server** (`sqleng.Interpolate`,
//!    `pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go`): `$__interval_ms`,
//!    `$__interval` (`gtime.FormatInterval`), `$__unixEpochFrom()`, `$__unixEpochTo()`.
//! 3. **Macros, in the server** (`postgresMacroEngine.Interpolate`,
//!    `pkg/tsdb/grafana-postgresql-datasource/macros.go`): every `$name(args)` is replaced;
//!    an unknown name is an error.
//!
//! Not modelled: TimescaleDB's `time_bucket` form of `$__timeGroup` (Vigil is not
//! TimescaleDB), the fill modes of `$__timeGroup`'s third argument (they change the result
//! frames, not the SQL), intervals in months or years (their length depends on the day the
//! query runs), the newest Grafana's stripping of SQL comments before expansion (the
//! shipped dashboards contain none, a test checks), and formats other than `raw`, `csv`,
//! `sqlstring`, `singlequote` and `doublequote`.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why a query cannot be expanded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// Grafana answers an unknown `$name(…)` macro with this error (`unknown macro "name"`).
    #[error("unknown macro {0:?}")]
    UnknownMacro(String),
    /// A macro lacks an argument it needs.
    #[error("macro {0} is missing an argument")]
    MissingArgument(String),
    /// `$__timeGroup`'s interval does not parse.
    #[error("error parsing interval {0}")]
    Interval(String),
    /// A `${var:format}` whose format is not modelled here.
    #[error("variable format {0:?} is not supported")]
    Format(String),
}

/// The value of a dashboard variable as the browser holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// One value (a single-select variable).
    Single(String),
    /// A list (a multi-value variable, or "All" of an include-All variable without a custom
    /// all value: every option).
    Multi(Vec<String>),
}

/// A dashboard variable: its name, value and the two flags that decide its quoting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name, as `$name` refers to it.
    pub name: String,
    /// Its current value.
    pub value: Value,
    /// Multi-value.
    pub multi: bool,
    /// Offers "All".
    pub include_all: bool,
}

impl Variable {
    /// A single-select variable that is not include-All, with `value`.
    pub fn single(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: Value::Single(value.to_owned()),
            multi: false,
            include_all: false,
        }
    }

    /// A multi-value variable (with "All" when `include_all`) with `values` selected.
    pub fn multi(name: &str, values: &[&str], include_all: bool) -> Self {
        Self {
            name: name.to_owned(),
            value: Value::Multi(values.iter().map(|v| (*v).to_owned()).collect()),
            multi: true,
            include_all,
        }
    }
}

/// What a query is expanded against: the dashboard's time range, the panel's interval
/// (`$__interval`, from the range and the panel's width) and the variables' values.
#[derive(Clone, Debug)]
pub struct Context {
    /// Start of the time range (inclusive in `$__timeFilter`).
    pub from: DateTime<Utc>,
    /// End of the time range (inclusive in `$__timeFilter`).
    pub to: DateTime<Utc>,
    /// The panel's interval.
    pub interval: Duration,
    /// The dashboard's variables.
    pub variables: Vec<Variable>,
}

/// `sql` as Grafana's PostgreSQL data source sends it for `context`: variables, then the
/// global substitutions, then the macros (see the module documentation).
///
/// # Errors
/// An unknown macro, a macro without its argument, an interval that does not parse, or a
/// variable format not modelled here.
pub fn expand(sql: &str, context: &Context) -> Result<String, ExpandError> {
    let sql = variables(sql, &context.variables)?;
    let sql = globals(&sql, context);
    macros(&sql, context)
}

/// Step 1: the template variables (`sceneInterpolator` with the SQL data source's
/// `interpolateVariable`).
pub fn variables(sql: &str, variables: &[Variable]) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(['$', '[']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(reference) = Reference::parse(rest) else {
            let c = rest.chars().next().expect("found above");
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        match variables.iter().find(|v| v.name == reference.name) {
            Some(variable) => out.push_str(&format_value(variable, reference.format)?),
            None => out.push_str(&rest[..reference.len]),
        }
        rest = &rest[reference.len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One match of the scenes `VARIABLE_REGEX`
/// (`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}`).
struct Reference<'a> {
    name: &'a str,
    format: Option<&'a str>,
    /// Bytes of the match.
    len: usize,
}

impl<'a> Reference<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let word = |s: &str| {
            s.bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count()
        };
        if let Some(after) = s.strip_prefix('$') {
            let n = word(after);
            if n > 0 {
                return Some(Reference {
                    name: &after[..n],
                    format: None,
                    len: 1 + n,
                });
            }
            let body = after.strip_prefix('{')?;
            let n = word(body);
            if n == 0 {
                return None;
            }
            let name = &body[..n];
            let mut i = n;
            // An optional `.fieldPath` (`[^:^}]+`), then an optional `:format` (`[^}]+`).
            if body[i..].starts_with('.') {
                let path = body[i + 1..]
                    .bytes()
                    .take_while(|b| !b":^}".contains(b))
                    .count();
                if path == 0 {
                    return None;
                }
                i += 1 + path;
            }
            let mut format = None;
            if body[i..].starts_with(':') {
                let f = body[i + 1..].bytes().take_while(|b| *b != b'}').count();
                if f == 0 {
                    return None;
                }
                format = Some(&body[i + 1..i + 1 + f]);
                i += 1 + f;
            }
            body[i..].starts_with('}').then_some(Reference {
                name,
                format,
                len: 2 + i + 1,
            })
        } else {
            let body = s.strip_prefix("[[")?;
            let n = word(body);
            if n == 0 {
                return None;
            }
            let mut i = n;
            let mut format = None;
            if body[i..].starts_with(':') {
                let f = word(&body[i + 1..]);
                if f > 0 {
                    format = Some(&body[i + 1..i + 1 + f]);
                    i += 1 + f;
                }
            }
            body[i..].starts_with("]]").then_some(Reference {
                name: &body[..n],
                format,
                len: 2 + i + 2,
            })
        }
    }
}

/// `PostgresQueryModel.quoteLiteral`.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A variable's value in the query: `format` from the format registry, or without one the
/// SQL data source's `interpolateVariable`.
fn format_value(variable: &Variable, format: Option<&str>) -> Result<String, ExpandError> {
    let values: Vec<&str> = match &variable.value {
        Value::Single(v) => vec![v.as_str()],
        Value::Multi(vs) => vs.iter().map(String::as_str).collect(),
    };
    let Some(format) = format else {
        return Ok(match &variable.value {
            Value::Single(v) if !variable.multi && !variable.include_all => v.replace('\'', "''"),
            _ => values
                .iter()
                .map(|v| quote_literal(v))
                .collect::<Vec<_>>()
                .join(","),
        });
    };
    let each =
        |f: &dyn Fn(&str) -> String| values.iter().map(|v| f(v)).collect::<Vec<_>>().join(",");
    // Some formats take arguments after a second `:`; none of those below does.
    Ok(match format {
        "raw" | "csv" => values.join(","),
        "sqlstring" => each(&|v| format!("'{}'", v.replace('\'', "''").replace('"', "\\\""))),
        "singlequote" => each(&|v| format!("'{}'", v.replace('\'', "\\'"))),
        "doublequote" => each(&|v| format!("\"{}\"", v.replace('"', "\\\""))),
        other => return Err(ExpandError::Format(other.to_owned())),
    })
}

/// Step 2: `sqleng.Interpolate`'s global substitutions.
pub fn globals(sql: &str, context: &Context) -> String {
    sql.replace("$__interval_ms", &context.interval.as_millis().to_string())
        .replace("$__interval", &format_interval(context.interval))
        .replace("$__unixEpochFrom()", &context.from.timestamp().to_string())
        .replace("$__unixEpochTo()", &context.to.timestamp().to_string())
}

/// Step 3: the PostgreSQL macro engine. Every match of `\$([_a-zA-Z0-9]+)\(([^\)]*)\)` is
/// replaced, left to right; the arguments are split at `,` and trimmed of spaces.
pub fn macros(sql: &str, context: &Context) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let name_len = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let open = i + 1 + name_len;
        if name_len == 0 || bytes.get(open) != Some(&b'(') {
            i += 1;
            continue;
        }
        let Some(close) = sql[open + 1..].find(')').map(|c| open + 1 + c) else {
            i += 1;
            continue;
        };
        let whole = &sql[i..=close];
        let mut name = &sql[i + 1..open];
        // Pre-5.3 compatibility: `$__timeGroup(…)` directly followed by `,` (at its first
        // occurrence in the query) is `$__timeGroupAlias`.
        if name == "__timeGroup"
            && let Some(at) = sql.find(whole)
            && sql.as_bytes().get(at + whole.len()) == Some(&b',')
        {
            name = "__timeGroupAlias";
        }
        let args: Vec<&str> = sql[open + 1..close]
            .split(',')
            .map(|a| a.trim_matches(' '))
            .collect();
        out.push_str(&sql[last..i]);
        out.push_str(&evaluate(name, &args, context)?);
        last = close + 1;
        i = close + 1;
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

/// One macro (`postgresMacroEngine.evaluateMacro`).
fn evaluate(name: &str, args: &[&str], context: &Context) -> Result<String, ExpandError> {
    let column = || match args.first() {
        Some(c) if !c.is_empty() => Ok(*c),
        // Grafana checks `len(args) == 0`, which a split never gives; an empty column
        // would make SQL that cannot run, so it is refused here.
        _ => Err(ExpandError::MissingArgument(name.to_owned())),
    };
    let (from, to) = (context.from, context.to);
    Ok(match name {
        "__time" => format!("{} AS \"time\"", column()?),
        "__timeEpoch" => format!("extract(epoch from {}) as \"time\"", column()?),
        "__timeFilter" => format!(
            "{} BETWEEN '{}' AND '{}'",
            column()?,
            rfc3339_nano(from),
            rfc3339_nano(to)
        ),
        "__timeFrom" => format!("'{}'", rfc3339_nano(from)),
        "__timeTo" => format!("'{}'", rfc3339_nano(to)),
        "__timeGroup" | "__unixEpochGroup" => {
            let interval = args
                .get(1)
                .ok_or_else(|| ExpandError::MissingArgument(name.to_owned()))?;
            let seconds = parse_interval(interval.trim_matches('\''))
                .ok_or_else(|| ExpandError::Interval((*interval).to_owned()))?
                .as_secs_f64();
            let seconds = go_float(seconds);
            if name == "__timeGroup" {
                format!(
                    "floor(extract(epoch from {})/{seconds})*{seconds}",
                    column()?
                )
            } else {
                format!("floor(({})/{seconds})*{seconds}", column()?)
            }
        }
        "__timeGroupAlias" => format!("{} AS \"time\"", evaluate("__timeGroup", args, context)?),
        "__unixEpochGroupAlias" => format!(
            "{} AS \"time\"",
            evaluate("__unixEpochGroup", args, context)?
        ),
        "__unixEpochFilter" => {
            let c = column()?;
            format!("{c} >= {} AND {c} <= {}", from.timestamp(), to.timestamp())
        }
        "__unixEpochNanoFilter" => {
            let c = column()?;
            format!("{c} >= {} AND {c} <= {}", nanos(from), nanos(to))
        }
        "__unixEpochNanoFrom" => nanos(from).to_string(),
        "__unixEpochNanoTo" => nanos(to).to_string(),
        other => return Err(ExpandError::UnknownMacro(other.to_owned())),
    })
}

fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

/// Go's `time.RFC3339Nano` of a UTC time: fraction without trailing zeros, none when zero,
/// `Z` for UTC (`2018-04-12T18:00:00Z`, `1960-02-01T07:00:00.5Z`).
pub fn rfc3339_nano(t: DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos > 0 {
        s.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// `gtime.ParseInterval` for the units whose length does not depend on today's date: Go
/// durations (`300ms`, `1.5h`, `1h30m`, units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`) and
/// whole days and weeks (`1d`, `2w`: 24 h per day, as `AddDate` in UTC). `None` otherwise.
pub fn parse_interval(s: &str) -> Option<Duration> {
    if let Some(unit) = s.chars().last().filter(|c| matches!(c, 'd' | 'w')) {
        let digits = &s[..s.len() - 1];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let days: u64 = digits.parse().ok()?;
            return Some(Duration::from_secs(
                days * if unit == 'w' { 7 } else { 1 } * 86_400,
            ));
        }
    }
    parse_go_duration(s)
}

/// Go's `time.ParseDuration` for non-negative durations.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let value: f64 = rest[..number].parse().ok()?;
        rest = &rest[number..];
        let unit = rest
            .chars()
            .take_while(|c| !c.is_ascii_digit() && *c != '.')
            .collect::<String>();
        let nanos_per = match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit.len()..];
        total += value * nanos_per;
    }
    Some(Duration::from_nanos(total.round() as u64))
}

/// `gtime.FormatInterval`: the largest whole unit of `y` (365 days), `d`, `h`, `m`, `s`,
/// `ms` (`1m`, `2h`, `1ms` at least).
pub fn format_interval(interval: Duration) -> String {
    const DAY: u128 = 86_400_000;
    let ms = interval.as_millis();
    for (unit, size) in [
        ("y", 365 * DAY),
        ("d", DAY),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            return format!("{}{unit}", ms / size);
        }
    }
    "1ms".to_owned()
}

/// Go's `fmt.Sprintf("%v", x)` of a float64: the shortest representation, in exponent form
/// (`1.0368e+06`) when the decimal exponent is below -4 or at least 6 (`strconv`'s `%g`
/// with the shortest precision), else plain (`300`, `0.02`).
pub fn go_float(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    if (-4..6).contains(&exponent) {
        format!("{x}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}
