//! SQL rules: a rule's rows fire and resolve alerts; a rule that does not plan stops the
//! start.

use std::ops::Range;
use std::process::Command;

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

use super::{ALERTING, Hook, SECRET, T0, firing, start, transaction, wait_rows, webhook};
use crate::daemon::binary;
use crate::otlp;

/// A SQL rule: agents with more than three escalations that are more than half their
/// transactions. Every row it returns is one alert, labelled by its string columns.
const ESCALATIONS_RULE: &str = r#"
[[rule]]
name = "support-escalations"
query = """
SELECT agent_name,
       sum(CASE WHEN escalated THEN 1 ELSE 0 END) AS value,
       count(*) AS transactions
FROM transactions
GROUP BY agent_name
HAVING sum(CASE WHEN escalated THEN 1 ELSE 0 END) > 3
   AND avg(CASE WHEN escalated THEN 1.0 ELSE 0.0 END) > 0.5
"""
every = "1s"
receivers = ["hook"]
annotations = { runbook_url = "https://runbooks.example.com/escalations" }
"#;

/// Transactions `seqs` of `agent`, escalated (`agent.escalated = true`) or not.
fn escalations(agent: &str, seqs: Range<u64>, escalated: bool) -> Vec<Span> {
    seqs.map(|seq| {
        let mut span = transaction(9, seq, agent, T0 + seq * 1_000_000_000, 0.9);
        span.attributes.push(otlp::kv(
            "agent.escalated",
            if escalated { "true" } else { "false" },
        ));
        span
    })
    .collect()
}

#[test]
fn a_sql_rule_fires_a_signed_webhook_and_resolves_when_its_rows_are_gone() {
    let hook = Hook::start(&[], 200);
    let config = format!(
        "{ALERTING}{ESCALATIONS_RULE}{}",
        webhook("hook", &hook.url, "send_resolved = true")
    );
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), &config);

    // Three escalations of `support` and a calm `billing`: no row yet, so no page (the
    // one page below shows five escalations).
    daemon.export("support-svc", escalations("support", 1..4, true));
    daemon.export("support-svc", escalations("billing", 100..110, false));

    // Two more: five of five escalated, the query returns `support`, which pages.
    daemon.export("support-svc", escalations("support", 4..6, true));
    let got = hook.wait("a firing webhook", |r| r.iter().any(firing));
    assert_eq!(got.len(), 1, "one notification: {got:#?}");
    let r = &got[0];
    assert!(r.verified, "the signature verifies: {r:?}");
    let alert = &r.body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"],
        json!({"alertname": "support-escalations", "monitor": "support-escalations",
               "severity": "page", "agent_name": "support"})
    );
    assert_eq!(alert["annotations"]["value"], "5", "{alert}");
    assert_eq!(alert["annotations"]["transactions"], "5", "{alert}");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "https://runbooks.example.com/escalations"
    );
    assert_eq!(r.body["vigil"]["detector"], "sql", "{}", r.body);
    assert_eq!(r.body["vigil"]["series"], "support", "{}", r.body);
    assert_eq!(
        alert["annotations"]["summary"],
        "support-escalations fires on series support"
    );
    // `GET /api/v1/rules` lists the rule, firing, with its alert.
    let rules: Value = daemon.get_json("/api/v1/rules");
    let rule = &rules["rules"][0];
    assert_eq!(rule["name"], "support-escalations", "{rules}");
    assert_eq!(rule["state"], "firing", "{rules}");
    assert_eq!(rule["every_seconds"], 1.0, "{rules}");
    assert_eq!(rule["alerts"].as_array().unwrap().len(), 1, "{rules}");
    assert_eq!(
        rule["alerts"][0]["labels"]["agent_name"], "support",
        "{rules}"
    );

    // Ten calm transactions: five of fifteen, the row is gone and the alert resolves.
    daemon.export("support-svc", escalations("support", 6..16, false));
    let got = hook.wait("the resolved notification", |r| {
        r.iter().any(|r| r.body["status"] == "resolved")
    });
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[1].verified);
    assert_eq!(got[1].body["alerts"][0]["status"], "resolved");
    assert_eq!(
        got[1].body["alerts"][0]["fingerprint"],
        alert["fingerprint"]
    );
    assert_eq!(
        got[1].body["alerts"][0]["annotations"]["value"], "5",
        "the last figures"
    );

    // Both transitions are in `alerts`, the rule wrote nothing to `drift`.
    let transitions = wait_rows(
        &daemon,
        "SELECT from_state, to_state, alertname, labels['agent_name'] FROM alerts \
         WHERE kind = 'transition' ORDER BY seq",
        2,
    );
    assert_eq!(
        transitions,
        vec![
            vec![
                json!("inactive"),
                json!("firing"),
                json!("support-escalations"),
                json!("support")
            ],
            vec![
                json!("firing"),
                json!("resolved"),
                json!("support-escalations"),
                json!("support")
            ],
        ]
    );
    wait_rows(
        &daemon,
        "SELECT seq FROM alerts WHERE kind = 'attempt' AND outcome = 'delivered'",
        2,
    );
    assert_eq!(daemon.count("SELECT count(*) FROM drift"), 0);
}

#[test]
fn a_sql_rule_that_does_not_plan_stops_the_start_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"r\"\nquery = \"SELECT agent_nmae FROM transactions\"\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--otlp-grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
        ])
        .args(["--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("vigil: config error: rule[0].query: does not plan"),
        "{stderr}"
    );
    assert!(stderr.contains("agent_nmae"), "{stderr}");

    // check-config checks the statement kind without a data directory.
    std::fs::write(
        &path,
        "[[rule]]\nname = \"r\"\nquery = \"DROP TABLE spans\"\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rule[0].query: read-only"), "{stderr}");
    std::fs::write(
        &path,
        format!(
            "{ESCALATIONS_RULE}{}",
            webhook("hook", "https://example.com/h", "")
        ),
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .env("HOOK_SECRET", SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rules: 1"), "{stdout}");
    assert!(
        stdout
            .contains("support-escalations: every 1s, for 0ns, keep_firing_for 0ns, severity page"),
        "{stdout}"
    );
}
