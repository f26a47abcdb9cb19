use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Int64Type};
use schemas::snapshot::{Snapshot, SnapshotSource, TableSnapshot};
use schemas::tables::Table;
use serde_json::{Value, json};

use super::*;
use crate::QueryConfig;

const DAY: i64 = 86_400_000_000_000;
/// 2026-11-18T00:00:00Z.
const NOV18: i64 = 1_794_960_000_000_000_000;

fn parameter_of(result: Result<impl fmt::Debug>) -> (&'static str, String) {
    match result {
        Err(Error::InvalidParameter { parameter, message }) => (parameter, message),
        other => panic!("expected an invalid parameter, got {other:?}"),
    }
}

#[test]
fn group_keys_parse_from_the_whitelist() {
    for (text, key) in [
        ("agent", GroupKey::Agent),
        ("agent_version", GroupKey::AgentVersion),
        ("model", GroupKey::Model),
        ("provider", GroupKey::Provider),
        ("service", GroupKey::Service),
        ("service_version", GroupKey::ServiceVersion),
        ("day", GroupKey::Day),
        ("week", GroupKey::Week),
        ("month", GroupKey::Month),
        (
            "resource.team",
            GroupKey::Resource(ResourceKey::new("team").unwrap()),
        ),
        (
            "resource.k8s.namespace.name",
            GroupKey::Resource(ResourceKey::new("k8s.namespace.name").unwrap()),
        ),
    ] {
        let parsed = GroupKey::parse(text).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.column_name(), text, "the column is named as the key");
    }
    assert_eq!(
        parse_group_by(" agent , model,resource.team ").unwrap(),
        vec![
            GroupKey::Agent,
            GroupKey::Model,
            GroupKey::Resource(ResourceKey::new("team").unwrap())
        ]
    );
    assert_eq!(parse_group_by("").unwrap(), vec![]);
    assert_eq!(parse_group_by("  ").unwrap(), vec![]);
}

#[test]
fn bad_group_keys_name_the_key_and_the_valid_ones() {
    for (text, needle) in [
        (
            "agents",
            "unknown group key \"agents\"; valid keys: agent, agent_version",
        ),
        ("agent,", "empty key"),
        ("agent,,model", "empty key"),
        ("Agent", "unknown group key \"Agent\""),
        ("agent_name", "unknown group key \"agent_name\""),
        ("resource", "unknown group key \"resource\""),
        ("resource.", "resource. needs an attribute key"),
        ("agent,model,agent", "agent is given twice"),
        (
            "resource.team,resource.team",
            "resource.team is given twice",
        ),
        ("resource.team'] OR 1=1 --", "holds '\\''"),
        ("resource.a\"b", "holds '\"'"),
        ("resource.a b", "holds ' '"),
        ("resource.a)", "holds ')'"),
        ("resource.é", "holds 'é'"),
    ] {
        let (parameter, message) = parameter_of(parse_group_by(text));
        assert_eq!(parameter, "group_by", "{text}");
        assert!(
            message.contains(needle),
            "{text}: {message:?} lacks {needle:?}"
        );
    }
    let long = format!("resource.{}", "a".repeat(257));
    assert!(
        parameter_of(parse_group_by(&long))
            .1
            .contains("longer than 256")
    );
    assert!(parse_group_by(&format!("resource.{}", "a".repeat(256))).is_ok());
}

#[test]
fn bounds_are_rfc3339_or_dates_and_a_date_to_ends_its_day() {
    for (text, bound, expected) in [
        ("2026-11-18", Bound::From, NOV18),
        ("2026-11-18", Bound::To, NOV18 + DAY),
        ("2026-11-18T00:00:00Z", Bound::From, NOV18),
        ("2026-11-18T00:00:00Z", Bound::To, NOV18),
        ("2026-11-18T01:00:00+01:00", Bound::To, NOV18),
        ("2026-11-18T00:00:00.000000007Z", Bound::From, NOV18 + 7),
        (" 2026-11-18 ", Bound::From, NOV18),
        ("2028-02-28", Bound::To, 1_835_308_800_000_000_000 + DAY),
    ] {
        assert_eq!(
            parse_bound(text, bound).unwrap(),
            expected,
            "{text} {bound:?}"
        );
    }
    for (text, bound, needle) in [
        ("yesterday", Bound::From, "neither RFC 3339"),
        ("2026-11-31", Bound::To, "neither RFC 3339"),
        ("2026-11-18T00:00:00", Bound::From, "neither RFC 3339"),
        ("1600-01-01", Bound::From, "outside the range"),
        ("2262-04-11", Bound::To, "outside the range"),
        ("", Bound::To, "neither RFC 3339"),
    ] {
        let (parameter, message) = parameter_of(parse_bound(text, bound));
        assert_eq!(parameter, bound.parameter(), "{text}");
        assert!(
            message.contains(needle),
            "{text}: {message:?} lacks {needle:?}"
        );
    }
}

#[test]
fn from_must_be_before_to() {
    assert!(
        CostReport::parse("2026-11-18", "2026-11-18", "").is_ok(),
        "one whole day"
    );
    for (from, to) in [
        ("2026-11-19", "2026-11-18"),
        ("2026-11-18T00:00:00Z", "2026-11-18T00:00:00Z"),
        ("2026-11-19T00:00:00Z", "2026-11-18"),
    ] {
        let (parameter, message) = parameter_of(CostReport::parse(from, to, ""));
        assert_eq!(parameter, "from");
        assert!(message.contains("must be before to"), "{message}");
    }
    let (parameter, _) = parameter_of(CostReport::parse("nope", "2026-11-18", "agent"));
    assert_eq!(parameter, "from", "the first bad parameter is named");
    let (parameter, _) = parameter_of(CostReport::parse("2026-11-18", "nope", "agent"));
    assert_eq!(parameter, "to");
    let by_hand = CostReport {
        from: NOV18,
        to: NOV18 + DAY,
        group_by: vec![GroupKey::Day, GroupKey::Day],
    };
    assert_eq!(parameter_of(by_hand.sql()).0, "group_by");
}

#[test]
fn sql_is_built_from_the_whitelist_only() {
    let report = CostReport::parse(
        "2026-11-18",
        "2026-11-19T12:00:00.5Z",
        "day,model,resource.team,resource.service.name",
    )
    .unwrap();
    let sql = report.sql().unwrap();
    for needle in [
        "CAST(date_trunc('day', time) AS DATE) AS \"day\"",
        "COALESCE(response_model, request_model) AS \"model\"",
        "resource_attributes['team'] AS \"resource.team\"",
        "service_name AS \"resource.service.name\"",
        "SUM(CAST(cost_usd AS DECIMAL(38, 12))) AS cost_usd",
        "WHERE time >= '2026-11-18T00:00:00.000000000Z' AND time < '2026-11-19T12:00:00.500000000Z' \
         AND date >= '2026-11-18' AND date <= '2026-11-19'",
        "ORDER BY \"day\" ASC NULLS LAST, \"model\" ASC NULLS LAST",
    ] {
        assert!(sql.contains(needle), "{sql}\nlacks {needle}");
    }
    crate::guard::check(&sql).unwrap();
    let total = CostReport::parse("2026-11-18", "2026-11-18", "").unwrap();
    let sql = total.sql().unwrap();
    assert!(
        !sql.contains("GROUP BY") && !sql.contains("ORDER BY"),
        "{sql}"
    );
}

#[test]
fn per_transaction_cost_rounds_half_away_from_zero() {
    for (n, d, expected) in [
        (10, 4, 3),
        (9, 4, 2),
        (10, 3, 3),
        (11, 3, 4),
        (-10, 4, -3),
        (0, 7, 0),
        (7, 1, 7),
        (1, 2, 1),
        (1, 3, 0),
    ] {
        assert_eq!(div_round(n, d), expected, "{n}/{d}");
    }
}

/// A fixed snapshot of hot `spans` rows.
struct Rows(Vec<arrow::record_batch::RecordBatch>);

impl SnapshotSource for Rows {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            tables: Table::ALL
                .iter()
                .map(|&table| TableSnapshot {
                    table,
                    delta_version: None,
                    hot: if table == Table::Spans {
                        self.0.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }
}

/// A `spans` row with the required columns filled in; `extra` sets the rest.
fn span(trace: u32, id: u32, time: i64, extra: Value) -> Value {
    let mut row = json!({
        "time": time, "end_time": time + 1_000, "duration_ms": 0.001,
        "trace_id": format!("{trace:032x}"), "span_id": format!("{id:016x}"),
        "name": "chat", "kind": "CLIENT", "status_code": "UNSET", "escalated": false,
        "date": schemas::tables::partition_date(time),
    });
    row.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    row
}

fn engine(rows: &[Value]) -> QueryEngine {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, row).unwrap();
        text.push(b'\n');
    }
    let batch = arrow::json::ReaderBuilder::new(Table::Spans.schema())
        .build(std::io::Cursor::new(text))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    QueryEngine::new(
        Arc::new(Rows(vec![batch])),
        schemas::paths::TablesLocation::under_data_dir(std::path::Path::new("/nonexistent")),
        QueryConfig::default(),
    )
}

/// Every cell of a result as JSON-ish text, row by row, for compact assertions.
fn cells(result: &QueryResult) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(row) {
                            "null".to_owned()
                        } else {
                            arrow::util::display::array_value_to_string(c, row).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

fn fleet() -> Vec<Value> {
    let team = |t: &str| json!({"team": t});
    vec![
        // Trace 1, day 1, team a: an agent span, a priced chat, a tool call.
        span(
            1,
            1,
            NOV18 + 10,
            json!({"agent_name": "support", "resource_attributes": team("a")}),
        ),
        span(
            1,
            2,
            NOV18 + 20,
            json!({"agent_name": "support", "request_model": "gpt-4o",
            "response_model": "gpt-4o-2024-08-06", "input_tokens": 1000, "output_tokens": 100,
            "cache_read_tokens": 200, "cost_usd": 0.1, "resource_attributes": team("a")}),
        ),
        span(
            1,
            3,
            NOV18 + 30,
            json!({"agent_name": "support", "resource_attributes": team("a")}),
        ),
        // Trace 2, day 1, team a: a chat priced at 0.2 and one of an unknown model.
        span(
            2,
            4,
            NOV18 + 40,
            json!({"agent_name": "support", "request_model": "gpt-4o",
            "input_tokens": 10, "output_tokens": 1, "cost_usd": 0.2, "resource_attributes": team("a")}),
        ),
        span(
            2,
            5,
            NOV18 + 50,
            json!({"agent_name": "support", "request_model": "mystery-1",
            "input_tokens": 7, "output_tokens": 3, "resource_attributes": team("a")}),
        ),
        // Trace 3, day 2, team b: only an unknown model.
        span(
            3,
            6,
            NOV18 + DAY + 5,
            json!({"agent_name": "billing", "request_model": "mystery-1",
            "input_tokens": 5, "reasoning_tokens": 2, "resource_attributes": team("b")}),
        ),
        // Trace 4, day 2, no team: a client-priced span without tokens.
        span(
            4,
            7,
            NOV18 + DAY + 6,
            json!({"agent_name": "billing", "cost_usd": 0.3}),
        ),
        // Outside the range: exactly at `to`, and before `from`.
        span(
            5,
            8,
            NOV18 + 2 * DAY,
            json!({"agent_name": "late", "cost_usd": 1.0}),
        ),
        span(
            6,
            9,
            NOV18 - 1,
            json!({"agent_name": "early", "cost_usd": 1.0}),
        ),
    ]
}

#[tokio::test]
async fn groups_add_up_exactly_and_unknown_cost_is_null() {
    let engine = engine(&fleet());
    let run = |group_by: &'static str| {
        let engine = &engine;
        async move {
            CostReport::parse("2026-11-18", "2026-11-19", group_by)
                .unwrap()
                .run(engine)
                .await
                .unwrap()
        }
    };

    let total = run("").await;
    let names: Vec<&str> = total
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, MEASURES);
    // 0.1 + 0.2 + 0.3 is 0.6000000000000001 in float64; the report is exact.
    assert_eq!(
        cells(&total),
        vec![vec![
            "4",
            "7",
            "1022",
            "104",
            "200",
            "null",
            "2",
            "0.600000000000",
            "0.150000000000",
            "2"
        ]]
    );

    let by_model = run("model").await;
    assert_eq!(
        cells(&by_model),
        vec![
            vec![
                "gpt-4o",
                "1",
                "1",
                "10",
                "1",
                "null",
                "null",
                "null",
                "0.200000000000",
                "0.200000000000",
                "0"
            ],
            vec![
                "gpt-4o-2024-08-06",
                "1",
                "1",
                "1000",
                "100",
                "200",
                "null",
                "null",
                "0.100000000000",
                "0.100000000000",
                "0"
            ],
            vec![
                "mystery-1",
                "2",
                "2",
                "12",
                "3",
                "null",
                "null",
                "2",
                "null",
                "null",
                "2"
            ],
            vec![
                "null",
                "2",
                "3",
                "null",
                "null",
                "null",
                "null",
                "null",
                "0.300000000000",
                "0.150000000000",
                "0"
            ],
        ],
        "the response model wins; spans without a model form the null group, last"
    );

    let by_team_day = run("resource.team,day").await;
    assert_eq!(
        cells(&by_team_day)
            .iter()
            .map(|r| [
                r[0].as_str(),
                r[1].as_str(),
                r[2].as_str(),
                r[3].as_str(),
                r[9].as_str(),
                r[11].as_str()
            ])
            .collect::<Vec<_>>(),
        vec![
            ["a", "2026-11-18", "2", "5", "0.300000000000", "1"],
            ["b", "2026-11-19", "1", "1", "null", "1"],
            ["null", "2026-11-19", "1", "1", "0.300000000000", "0"],
        ]
    );

    // Every grouping adds up to the total, to the last digit.
    for group_by in [
        "agent",
        "model",
        "day",
        "week",
        "month",
        "resource.team",
        "agent,model,day",
    ] {
        let result = run(group_by).await;
        let position = result.schema.index_of("cost_usd").unwrap();
        let (mut cost, mut spans, mut unpriced) = (0i128, 0i64, 0i64);
        for batch in &result.batches {
            cost += batch
                .column(position)
                .as_primitive::<Decimal128Type>()
                .iter()
                .flatten()
                .sum::<i128>();
            spans += batch
                .column_by_name("spans")
                .unwrap()
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>();
            unpriced += batch
                .column_by_name("unpriced_spans")
                .unwrap()
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>();
        }
        assert_eq!(cost, 600_000_000_000, "{group_by}");
        assert_eq!((spans, unpriced), (7, 2), "{group_by}");
    }
}

#[tokio::test]
async fn bounds_are_half_open_and_an_empty_range_totals_to_null_cost() {
    let engine = engine(&fleet());
    let run = |from: &'static str, to: &'static str| {
        let engine = &engine;
        async move {
            let report = CostReport::parse(from, to, "agent").unwrap();
            cells(&report.run(engine).await.unwrap())
                .into_iter()
                .map(|r| r[0].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        run("2026-11-20T00:00:00Z", "2026-11-21").await,
        ["late"],
        "from is inclusive"
    );
    assert_eq!(
        run("2026-11-17T00:00:00Z", "2026-11-18T00:00:00.000000010Z").await,
        ["early"],
        "to is exclusive"
    );
    assert_eq!(
        run("2026-11-17", "2026-11-17").await,
        ["early"],
        "a date to ends its day"
    );

    let empty = CostReport::parse("2030-01-01", "2030-01-02", "")
        .unwrap()
        .run(&engine)
        .await
        .unwrap();
    assert_eq!(
        cells(&empty),
        vec![vec![
            "0", "0", "null", "null", "null", "null", "null", "null", "null", "0"
        ]]
    );
    let empty = CostReport::parse("2030-01-01", "2030-01-02", "agent")
        .unwrap()
        .run(&engine)
        .await
        .unwrap();
    assert_eq!(empty.num_rows(), 0);
    assert_eq!(empty.schema.fields().len(), 1 + MEASURES.len());
}
