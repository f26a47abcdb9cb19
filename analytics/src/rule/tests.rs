use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray, StringViewArray,
};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use serde::Deserialize;

use super::*;
use crate::monitor::{MonitorConfig, validate_monitors};

#[derive(Deserialize)]
struct File {
    #[serde(default, rename = "monitor")]
    monitors: Vec<MonitorConfig>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleConfig>,
}

fn validate(text: &str) -> Result<Vec<Rule>, ConfigError> {
    let file: File = toml::from_str(text).unwrap();
    let monitors = validate_monitors(&file.monitors).unwrap();
    validate_rules(&file.rules, &monitors)
}

const QUERY: &str = "SELECT agent_name, count(*) AS value FROM transactions WHERE escalated GROUP BY agent_name HAVING count(*) > 3";

#[test]
fn a_rule_takes_prometheus_defaults() {
    let rules = validate(&format!(
        "[[rule]]\nname = \"escalations\"\nquery = \"{QUERY}\"\n"
    ))
    .unwrap();
    assert_eq!(
        rules,
        vec![Rule {
            name: "escalations".into(),
            query: QUERY.into(),
            every: Duration::from_secs(60),
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: "page".into(),
            receivers: vec![],
            annotations: BTreeMap::new(),
            max_series: 1_000,
        }]
    );
    let rules = validate(&format!(
        "[[rule]]\nname = \"e\"\nquery = \"{QUERY}\"\nevery = \"5s\"\nfor = \"1m\"\n\
         keep_firing_for = \"2m\"\nseverity = \"ticket\"\nreceivers = [\"hook\"]\n\
         annotations = {{ runbook_url = \"https://runbooks.example.com/e\" }}\n"
    ))
    .unwrap();
    let rule = &rules[0];
    assert_eq!(rule.every, Duration::from_secs(5));
    assert_eq!(rule.for_, Duration::from_secs(60));
    assert_eq!(rule.keep_firing_for, Duration::from_secs(120));
    assert_eq!(rule.severity, "ticket");
    assert_eq!(rule.receivers, vec!["hook".to_owned()]);
    assert_eq!(
        rule.annotations["runbook_url"],
        "https://runbooks.example.com/e"
    );
}

#[test]
fn rule_errors_name_the_key() {
    let monitor = "[[monitor]]\nname = \"acc\"\nsignal = \"score:accuracy\"\nwindow = \"1m\"\n\
                   detector = \"shewhart\"\nL = 3.0\nbaseline = { mean = 0.9, sd = 0.01 }\n\
                   direction = \"down\"\n";
    for (text, needle) in [
        (
            "[[rule]]\nname = \"r\"\nquery = \"DELETE FROM spans\"\n".to_owned(),
            "rule[0].query: read-only: DELETE FROM is not allowed",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SHOW TABLES\"\n".to_owned(),
            "rule[0].query: read-only: only a query",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1; SELECT 2\"\n".to_owned(),
            "rule[0].query: expected exactly one statement",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELEC 1\"\n".to_owned(),
            "rule[0].query: ",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"  \"\n".to_owned(),
            "rule[0].query: is empty",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nevery = \"0s\"\n".to_owned(),
            "rule[0].every: must be greater than 0s",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\n[[rule]]\nname = \"r\"\nquery = \"SELECT 2\"\n"
                .to_owned(),
            "rule[1].name: \"r\" is already the name of another rule",
        ),
        (
            format!("{monitor}[[rule]]\nname = \"acc\"\nquery = \"SELECT 1\"\n"),
            "rule[0].name: \"acc\" is already the name of a monitor",
        ),
        (
            "[[rule]]\nname = \"\"\nquery = \"SELECT 1\"\n".to_owned(),
            "rule[0].name: is empty",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nseverity = \"\"\n".to_owned(),
            "rule[0].severity: is empty",
        ),
        (
            "[[rule]]\nname = \"r\"\nquery = \"SELECT 1\"\nmax_series = 0\n".to_owned(),
            "rule[0].max_series: must be at least 1",
        ),
    ] {
        let message = validate(&text).unwrap_err().to_string();
        assert!(
            message.starts_with(needle),
            "{text}: {message:?} should start with {needle:?}"
        );
    }
}

#[test]
fn rows_keep_named_strings_and_numbers_in_column_order() {
    let agents: DictionaryArray<Int32Type> = vec![Some("support"), Some("billing"), None]
        .into_iter()
        .collect();
    let batch = RecordBatch::try_from_iter([
        ("agent_name", Arc::new(agents) as ArrayRef),
        (
            "model",
            Arc::new(StringViewArray::from(vec!["m1", "m2", ""])) as ArrayRef,
        ),
        (
            "severity",
            Arc::new(StringArray::from(vec!["x", "y", "z"])) as ArrayRef,
        ),
        (
            "n",
            Arc::new(Int64Array::from(vec![Some(4), Some(7), None])) as ArrayRef,
        ),
        (
            "value",
            Arc::new(Float64Array::from(vec![0.5, 0.25, 1.0])) as ArrayRef,
        ),
        (
            "ok",
            Arc::new(arrow::array::BooleanArray::from(vec![true, false, true])) as ArrayRef,
        ),
    ])
    .unwrap();
    let rows = result_rows(&[batch]).unwrap();
    assert_eq!(rows.len(), 3);
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        rows[0],
        ResultRow {
            strings: vec![
                pair("agent_name", "support"),
                pair("model", "m1"),
                pair("severity", "x")
            ],
            numbers: vec![("n".into(), Some(4.0)), ("value".into(), Some(0.5))],
        },
        "dictionary and view strings are strings, integers and floats numbers; the boolean is left out"
    );
    assert_eq!(
        rows[2].strings,
        vec![pair("severity", "z")],
        "null and empty strings are absent"
    );
    assert_eq!(
        rows[2].numbers[0],
        ("n".into(), None),
        "a null number stays in place"
    );
}
