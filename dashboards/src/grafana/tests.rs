//! The expansion against Grafana's own test cases (each cited by file and test), and the
//! shipped dashboards against the rules file provisioning and Vigil's SQL need.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
        + chrono::Duration::nanoseconds(i64::from(nanos))
}

fn context(from: DateTime<Utc>, to: DateTime<Utc>) -> Context {
    Context {
        from,
        to,
        interval: Duration::from_secs(600),
        variables: Vec::new(),
    }
}

/// `pkg/tsdb/grafana-postgresql-datasource/macros_test.go`, `TestMacroEngine`, "Given a time
/// range between 2018-04-12 00:00 and 2018-04-12 00:05" (the range is 18:00 to 18:05).
#[test]
fn grafana_macro_engine_examples() {
    let from = at(2018, 4, 12, 18, 0, 0, 0);
    let ctx = context(from, from + chrono::Duration::minutes(5));
    let cases = [
        (
            "select $__time(time_column)",
            "select time_column AS \"time\"",
        ),
        (
            "select min($__time(time_column))",
            "select min(time_column AS \"time\")",
        ),
        (
            "WHERE $__timeFilter(time_column)",
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
        ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
        // "interpolate __timeGroup function pre 5.3 compatibility"
        (
            "SELECT $__timeGroup(time_column,'5m'), value",
            "SELECT floor(extract(epoch from time_column)/300)*300 AS \"time\", value",
        ),
        (
            "SELECT $__timeGroup(time_column,'5m') as time, value",
            "SELECT floor(extract(epoch from time_column)/300)*300 as time, value",
        ),
        // "interpolate __timeGroup function"
        (
            "SELECT $__timeGroup(time_column,'5m')",
            "SELECT floor(extract(epoch from time_column)/300)*300",
        ),
        (
            "SELECT $__timeGroupAlias(time_column,'5m')",
            "SELECT floor(extract(epoch from time_column)/300)*300 AS \"time\"",
        ),
        // "interpolate __timeGroup function with spaces between args"
        (
            "$__timeGroup(time_column , '5m')",
            "floor(extract(epoch from time_column)/300)*300",
        ),
        (
            "$__timeGroupAlias(time_column , '5m')",
            "floor(extract(epoch from time_column)/300)*300 AS \"time\"",
        ),
        (
            "select $__unixEpochFilter(time)",
            "select time >= 1523556000 AND time <= 1523556300",
        ),
        (
            "select $__unixEpochNanoFilter(time)",
            "select time >= 1523556000000000000 AND time <= 1523556300000000000",
        ),
        (
            "select $__unixEpochNanoFrom()",
            "select 1523556000000000000",
        ),
        ("select $__unixEpochNanoTo()", "select 1523556300000000000"),
        // "interpolate __unixEpochGroup function"
        (
            "SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
            "SELECT floor((time_column+time_adjustment)/300)*300",
        ),
        (
            "SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
            "SELECT floor((time_column+time_adjustment)/300)*300 AS \"time\"",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(expand(sql, &ctx).unwrap(), want, "{sql}");
    }
}

/// `macros_test.go`, `TestMacroEngine`, the ranges from 1960 (before the epoch) and with
/// half seconds: Go's RFC 3339 with nanoseconds drops trailing zeros.
#[test]
fn grafana_macro_engine_examples_before_1970_and_with_fractions() {
    let ctx = context(at(1960, 2, 1, 7, 0, 0, 0), at(1965, 2, 3, 8, 0, 0, 0));
    assert_eq!(
        expand("WHERE $__timeFilter(time_column)", &ctx).unwrap(),
        "WHERE time_column BETWEEN '1960-02-01T07:00:00Z' AND '1965-02-03T08:00:00Z'"
    );
    assert_eq!(
        expand("select $__unixEpochFilter(time)", &ctx).unwrap(),
        "select time >= -312915600 AND time <= -154886400"
    );
    assert_eq!(
        expand("select $__unixEpochNanoFilter(time)", &ctx).unwrap(),
        "select time >= -312915600000000000 AND time <= -154886400000000000"
    );
    let ctx = context(
        at(1960, 2, 1, 7, 0, 0, 500_000_000),
        at(1980, 2, 3, 8, 0, 0, 500_000_000),
    );
    assert_eq!(
        expand("WHERE $__timeFilter(time_column)", &ctx).unwrap(),
        "WHERE time_column BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"
    );
}

/// `macros_test.go`, `TestInterpolateSQLCommenter`, "preserves an inert trailing tag while
/// interpolating the body" (interval 10 minutes), and `sqleng.Interpolate`'s other
/// substitutions.
#[test]
fn grafana_global_substitutions() {
    let from = at(2018, 4, 12, 18, 0, 0, 0);
    let ctx = context(from, from + chrono::Duration::minutes(5));
    assert_eq!(
        expand("SELECT $__interval /*app='grafana',source='bi'*/", &ctx).unwrap(),
        "SELECT 10m /*app='grafana',source='bi'*/"
    );
    assert_eq!(
        expand(
            "SELECT $__interval_ms, $__unixEpochFrom(), $__unixEpochTo()",
            &ctx
        )
        .unwrap(),
        "SELECT 600000, 1523556000, 1523556300"
    );
    assert_eq!(
        expand("SELECT $__nope(x)", &ctx),
        Err(ExpandError::UnknownMacro("__nope".into()))
    );
    assert_eq!(
        expand("SELECT $__timeGroup(t, 'soon')", &ctx),
        Err(ExpandError::Interval("'soon'".into()))
    );
}

/// `public/app/plugins/datasource/grafana-postgresql-datasource/interpolationTruthTable.test.ts`
/// ("PostgresDatasource interpolation truth table"): the data source's own formatting of
/// single, multi-value and include-All variables, and the `csv`/`sqlstring` formats.
#[test]
fn grafana_postgres_interpolation_truth_table() {
    let host = Variable::single("host", "server01");
    let multi = |name: &str, values: &[&str]| Variable::multi(name, values, false);
    let cases: Vec<(&str, Vec<Variable>, &str)> = vec![
        // "WHERE equals single (unquoted)"
        (
            "SELECT * FROM host_status WHERE host = $host",
            vec![host.clone()],
            "SELECT * FROM host_status WHERE host = server01",
        ),
        // "WHERE equals single with manual quotes"
        (
            "SELECT * FROM host_status WHERE host = '$host'",
            vec![host],
            "SELECT * FROM host_status WHERE host = 'server01'",
        ),
        // "WHERE IN multi (unquoted)"
        (
            "SELECT * FROM host_status WHERE host IN ($host)",
            vec![multi("host", &["srv1", "srv2"])],
            "SELECT * FROM host_status WHERE host IN ('srv1','srv2')",
        ),
        // "WHERE IN multi (unquoted) with sqlstring formatter"
        (
            "SELECT * FROM host_status WHERE host IN (${host:sqlstring})",
            vec![multi("host", &["srv1", "srv2"])],
            "SELECT * FROM host_status WHERE host IN ('srv1','srv2')",
        ),
        // "WHERE IN multi with manual quotes"
        (
            "SELECT * FROM host_status WHERE host IN ('$host')",
            vec![multi("host", &["srv1", "srv2"])],
            "SELECT * FROM host_status WHERE host IN (''srv1','srv2'')",
        ),
        // "WHERE IN multi numeric with :csv"
        (
            "SELECT * FROM latency WHERE latency_ms IN (${latency:csv})",
            vec![multi("latency", &["50", "75"])],
            "SELECT * FROM latency WHERE latency_ms IN (50,75)",
        ),
        // "WHERE equals multi variable with single value"
        (
            "SELECT * FROM hosts WHERE hostname = $hostname",
            vec![multi("hostname", &["app1"])],
            "SELECT * FROM hosts WHERE hostname = 'app1'",
        ),
        // "WHERE IN includeAll no allValue expands to selected list"
        (
            "SELECT * FROM regions WHERE region IN ($region)",
            vec![Variable::multi("region", &["us", "eu"], true)],
            "SELECT * FROM regions WHERE region IN ('us','eu')",
        ),
        // "JOIN with ANY and multi parent variable"
        (
            "SELECT * FROM devices d JOIN regions r ON d.region = ANY(ARRAY[$region])",
            vec![multi("region", &["us", "eu"])],
            "SELECT * FROM devices d JOIN regions r ON d.region = ANY(ARRAY['us','eu'])",
        ),
        // "Identifier substitution (schema/table)"
        (
            "SELECT * FROM \"$schema\".\"$table\"",
            vec![
                Variable::single("schema", "public"),
                Variable::single("table", "orders"),
            ],
            "SELECT * FROM \"public\".\"orders\"",
        ),
        // "Time filter with multi region": the macro is left for the server.
        (
            "SELECT * FROM metrics WHERE $__timeFilter(ts) AND region IN ($region)",
            vec![multi("region", &["us", "eu"])],
            "SELECT * FROM metrics WHERE $__timeFilter(ts) AND region IN ('us','eu')",
        ),
        // "Time bucket with interval variable"
        (
            "SELECT $__timeGroupAlias(ts, $bucket) AS time, avg(v) FROM metrics GROUP BY 1",
            vec![Variable::single("bucket", "5m")],
            "SELECT $__timeGroupAlias(ts, 5m) AS time, avg(v) FROM metrics GROUP BY 1",
        ),
        // "Single quote in single value with manual quotes"
        (
            "SELECT * FROM users WHERE name = '$user'",
            vec![Variable::single("user", "O'Brien")],
            "SELECT * FROM users WHERE name = 'O''Brien'",
        ),
        // "Single quote in array value"
        (
            "SELECT * FROM users WHERE name IN ($users)",
            vec![multi("users", &["O'Brien", "D'Angelo"])],
            "SELECT * FROM users WHERE name IN ('O''Brien','D''Angelo')",
        ),
        // "Multiple single quotes in single value"
        (
            "SELECT * FROM logs WHERE message = '$msg'",
            vec![Variable::single("msg", "It's a test's message")],
            "SELECT * FROM logs WHERE message = 'It''s a test''s message'",
        ),
        // "Mixed special characters in array"
        (
            "SELECT * FROM users WHERE name IN ($names)",
            vec![multi("names", &["O'Brien", "user.name", "test's"])],
            "SELECT * FROM users WHERE name IN ('O''Brien','user.name','test''s')",
        ),
    ];
    for (sql, variables, want) in cases {
        assert_eq!(expand::variables(sql, &variables).unwrap(), want, "{sql}");
    }
}

/// `grafana/scenes` `packages/scenes/src/variables/interpolation/formatRegistry.test.ts`
/// ("Can format values according to format") for the formats modelled, and the
/// `VARIABLE_REGEX` forms of `constants.ts` (`$var`, `${var}`, `${var:fmt}`, `[[var]]`,
/// `[[var:fmt]]`).
#[test]
fn grafana_format_registry_examples_and_reference_forms() {
    let one = |value: &str, format: &str| {
        expand::variables(
            &format!("${{server:{format}}}"),
            &[Variable::single("server", value)],
        )
        .unwrap()
    };
    let many = |values: &[&str], format: &str| {
        expand::variables(
            &format!("${{server:{format}}}"),
            &[Variable::multi("server", values, false)],
        )
        .unwrap()
    };
    assert_eq!(one("test", "csv"), "test");
    assert_eq!(many(&["test", "test2"], "csv"), "test,test2");
    assert_eq!(one("test", "singlequote"), "'test'");
    assert_eq!(
        many(&["test", "test'2"], "singlequote"),
        "'test','test\\'2'"
    );
    assert_eq!(one("test", "doublequote"), "\"test\"");
    assert_eq!(
        many(&["test", "test\"2"], "doublequote"),
        "\"test\",\"test\\\"2\""
    );
    assert_eq!(one("test'value", "sqlstring"), "'test''value'");
    assert_eq!(one("test\"value", "sqlstring"), "'test\\\"value'");
    assert_eq!(
        many(&["test", "test'value2"], "sqlstring"),
        "'test','test''value2'"
    );
    assert_eq!(
        many(&["test", "test'value2", "test\"value3"], "sqlstring"),
        "'test','test''value2','test\\\"value3'"
    );
    assert_eq!(many(&["12", "13"], "raw"), "12,13");

    let vars = [
        Variable::multi("a", &["x", "y"], true),
        Variable::single("b", "z"),
    ];
    assert_eq!(
        expand::variables(
            "$a|${a}|${a:csv}|[[a]]|[[a:csv]]|$b|${b}|$bc|${b|$|[x]",
            &vars
        )
        .unwrap(),
        "'x','y'|'x','y'|x,y|'x','y'|x,y|z|z|$bc|${b|$|[x]"
    );
    assert_eq!(
        expand::variables("${b:date:YYYY}", &vars),
        Err(ExpandError::Format("date:YYYY".into()))
    );
}

/// `gtime.FormatInterval` and `gtime.ParseInterval` (`grafana-plugin-sdk-go`,
/// `backend/gtime/gtime.go`), and Go's `%v` of the interval seconds.
#[test]
fn grafana_intervals_and_go_floats() {
    for (ms, want) in [
        (1, "1ms"),
        (0, "1ms"),
        (1500, "1s"),
        (60_000, "1m"),
        (600_000, "10m"),
        (7_200_000, "2h"),
        (86_400_000, "1d"),
        (365 * 86_400_000, "1y"),
    ] {
        assert_eq!(format_interval(Duration::from_millis(ms)), want);
    }
    for (text, secs) in [
        ("5m", 300.0),
        ("1d", 86_400.0),
        ("2w", 1_209_600.0),
        ("20ms", 0.02),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("12d", 1_036_800.0),
    ] {
        assert_eq!(parse_interval(text).unwrap().as_secs_f64(), secs, "{text}");
    }
    for text in ["1M", "1y", "", "5", "5 m", "m"] {
        assert_eq!(parse_interval(text), None, "{text:?}");
    }
    for (x, want) in [
        (300.0, "300"),
        (0.02, "0.02"),
        (86_400.0, "86400"),
        (604_800.0, "604800"),
        (1_036_800.0, "1.0368e+06"),
        (0.00001, "1e-05"),
        (0.0, "0"),
    ] {
        assert_eq!(go_float(x), want);
    }
    assert_eq!(
        rfc3339_nano(at(2026, 1, 5, 0, 0, 0, 120_000)),
        "2026-01-05T00:00:00.00012Z"
    );
}

/// The rules every shipped dashboard keeps: file provisioning loads it as it is, every
/// query runs on the data source the `datasource` variable picks, panels honour the time
/// range, and every statement expands completely.
#[test]
fn shipped_dashboards_are_provisionable_and_expand() {
    let mut uids = Vec::new();
    for (file, text) in DASHBOARDS {
        let json: Json = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            json.get("__inputs").is_none(),
            "{file}: __inputs breaks file provisioning"
        );
        assert!(json["id"].is_null(), "{file}: an id would clash on import");
        uids.push(json["uid"].as_str().unwrap().to_owned());
        let vars = template_variables(file);
        let ds = vars
            .iter()
            .find(|v| v.name == "datasource")
            .expect("a datasource variable");
        assert_eq!(ds.kind, "datasource");
        assert_eq!(json["templating"]["list"][0]["query"], DATASOURCE_TYPE);
        let expected = serde_json::json!({"type": DATASOURCE_TYPE, "uid": "${datasource}"});
        let mut sources = Vec::new();
        for panel in json["panels"].as_array().unwrap() {
            sources.push((&panel["title"], &panel["datasource"]));
            for target in panel["targets"].as_array().unwrap() {
                sources.push((&panel["title"], &target["datasource"]));
            }
        }
        for v in json["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "query")
        {
            sources.push((&v["name"], &v["datasource"]));
        }
        for (title, source) in sources {
            assert_eq!(source, &expected, "{file}: {title}");
        }
    }
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), DASHBOARDS.len(), "unique uids");

    let all = queries();
    assert!(all.len() > 30, "{}", all.len());
    let from = at(2026, 1, 5, 0, 0, 0, 0);
    let ctx = Context {
        from,
        to: from + chrono::Duration::hours(1),
        interval: Duration::from_secs(60),
        variables: vec![
            Variable::multi("agent", &["support", "billing"], true),
            Variable::single("score", "accuracy"),
            Variable::single("monitor", "accuracy"),
            Variable::single("series", "support"),
        ],
    };
    for q in &all {
        assert!(
            !q.sql.contains("--") && !q.sql.contains("/*"),
            "{}: {}: no comments",
            q.file,
            q.title
        );
        if q.kind == QueryKind::Panel {
            assert!(
                q.sql.contains("$__timeFilter("),
                "{}: {}: honours the time range",
                q.file,
                q.title
            );
        }
        let sql = expand(&q.sql, &ctx).unwrap_or_else(|e| panic!("{}: {}: {e}", q.file, q.title));
        assert!(
            !sql.contains('$'),
            "{}: {}: left unexpanded: {sql}",
            q.file,
            q.title
        );
        assert!(
            sql.contains("BETWEEN '2026-01-05T00:00:00Z' AND '2026-01-05T01:00:00Z'"),
            "{sql}"
        );
    }
}
