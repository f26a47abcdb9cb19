use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::evaluation::{Outcome, WindowFigures};
use crate::labels::Labels;
use schemas::window::WindowPhase;

fn t(sec: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap()
}

fn alert(series: &str, state: AlertState) -> Alert {
    let series_labels = Labels::from([("agent_name".to_owned(), series.to_owned())]);
    let mut labels = series_labels.clone();
    labels.insert("alertname".into(), "support-accuracy".into());
    labels.insert("monitor".into(), "support-accuracy".into());
    labels.insert("severity".into(), "critical".into());
    Alert {
        fingerprint: Fingerprint::of_alert("support-accuracy", &series_labels),
        monitor: "support-accuracy".into(),
        series: series.into(),
        labels,
        annotations: Labels::from([("runbook_url".to_owned(), "https://runbooks/acc".to_owned())]),
        state,
        active_at: t(0),
        fired_at: Some(t(60)),
        resolved_at: (state == AlertState::Resolved).then(|| t(600)),
        keep_firing_since: None,
        last_evaluated: t(60),
        last_outcome: Outcome::Alarm,
        figures: Some(WindowFigures {
            detector: "cusum".into(),
            value: Some(0.81),
            statistic: Some(5.25),
            upper: Some(5.0),
            lower: None,
            baseline_mean: Some(0.9),
            baseline_sd: Some(0.05),
            window_start: t(0),
            window_end: t(60),
            n: 120,
            phase: WindowPhase::Monitoring,
            alarm: true,
        }),
        rollback: None,
        verdict: None,
    }
}

fn flush(alerts: Vec<Alert>) -> Flush {
    Flush {
        id: "msg_0123456789abcdef0123456789abcdef".into(),
        receiver: "rollback-support".into(),
        group_key: r#"{receiver="rollback-support"}:{alertname="support-accuracy"}"#.into(),
        group_labels: Labels::from([("alertname".to_owned(), "support-accuracy".to_owned())]),
        alerts,
        at: t(90),
    }
}

const CTX: PayloadContext<'static> = PayloadContext {
    external_url: "http://vigil.example:8080",
    rollback: true,
    max_alerts: 0,
};

#[test]
fn golden_single_alert_body() {
    let p = build(&flush(vec![alert("support", AlertState::Firing)]), &CTX);
    let body: serde_json::Value = serde_json::from_str(&p.to_body()).unwrap();
    let fp = Fingerprint::of_alert(
        "support-accuracy",
        &Labels::from([("agent_name".to_owned(), "support".to_owned())]),
    )
    .to_string();
    let link = "http://vigil.example:8080/monitors/support-accuracy?series=support";
    let labels = json!({
        "agent_name": "support", "alertname": "support-accuracy",
        "monitor": "support-accuracy", "severity": "critical"
    });
    let annotations = json!({
        "dashboard": link,
        "description": "value 0.81 over 120 observations, cusum statistic 5.25 (limits – … 5); baseline mean 0.9, sd 0.05; window 2023-11-14T22:13:20+00:00 – 2023-11-14T22:14:20+00:00",
        "runbook_url": "https://runbooks/acc",
        "summary": "support-accuracy drifted on series support"
    });
    let detail = json!({
        "fingerprint": fp, "monitor": "support-accuracy", "series": "support",
        "status": "firing", "detector": "cusum",
        "window": {"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:14:20Z"},
        "figures": {"value": 0.81, "statistic": 5.25, "upper": 5.0, "lower": null,
                    "baseline_mean": 0.9, "baseline_sd": 0.05, "n": 120},
        "dashboard_url": link
    });
    let mut vigil = detail.clone();
    vigil["notification_id"] = json!("msg_0123456789abcdef0123456789abcdef");
    vigil["rollback"] = json!(true);
    vigil["alerts"] = json!([detail]);
    let expected = json!({
        "version": "4",
        "groupKey": "{receiver=\"rollback-support\"}:{alertname=\"support-accuracy\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "rollback-support",
        "groupLabels": {"alertname": "support-accuracy"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://vigil.example:8080",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": annotations,
            "startsAt": "2023-11-14T22:14:20Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": link,
            "fingerprint": fp
        }],
        "vigil": vigil
    });
    assert_eq!(body, expected);
    let back: WebhookPayload = serde_json::from_value(body).unwrap();
    assert_eq!(back, p, "the body decodes back (email renders from it)");
}

#[test]
fn common_labels_status_and_truncation() {
    let alerts = vec![
        alert("billing", AlertState::Firing),
        alert("support", AlertState::Firing),
        alert("sales", AlertState::Resolved),
    ];
    let ctx = PayloadContext {
        max_alerts: 2,
        ..CTX
    };
    let p = build(&flush(alerts), &ctx);
    assert_eq!(p.status, Status::Firing);
    assert_eq!(p.alerts.len(), 2);
    assert_eq!(p.truncated_alerts, 1);
    assert_eq!(p.vigil.alerts.len(), 2);
    assert!(!p.common_labels.contains_key("agent_name"));
    assert_eq!(p.common_labels["severity"], "critical");
    assert!(!p.common_annotations.contains_key("summary"));
    assert_eq!(p.vigil.primary.series, "billing");

    let resolved = build(&flush(vec![alert("sales", AlertState::Resolved)]), &CTX);
    assert_eq!(resolved.status, Status::Resolved);
    assert_eq!(resolved.alerts[0].ends_at, t(600));
    assert!(resolved.alerts[0].annotations["summary"].contains("back within limits"));
}

#[test]
fn numbers_and_links_for_humans() {
    assert_eq!(num(0.8), "0.8");
    assert_eq!(num(5.0), "5");
    assert_eq!(num(-0.00001), "0");
    assert_eq!(num(1.23456), "1.2346");
    assert_eq!(
        dashboard_url("http://h:1/", "a b", "x&y=z"),
        "http://h:1/monitors/a%20b?series=x%26y%3Dz"
    );
}

#[test]
fn a_sql_rules_summary_says_it_fires_and_a_rules_own_summary_wins() {
    let mut rule = alert("support", AlertState::Firing);
    if let Some(f) = rule.figures.as_mut() {
        f.detector = SQL_RULE_DETECTOR.into();
    }
    let p = build(&flush(vec![rule.clone()]), &CTX);
    assert_eq!(
        p.alerts[0].annotations["summary"],
        "support-accuracy fires on series support"
    );
    rule.state = AlertState::Resolved;
    rule.resolved_at = Some(t(600));
    let p = build(&flush(vec![rule.clone()]), &CTX);
    assert_eq!(
        p.alerts[0].annotations["summary"],
        "support-accuracy no longer fires on series support"
    );
    // As in Prometheus alerting rules, a `summary` annotation of the rule's own is kept.
    rule.annotations
        .insert("summary".into(), "Refunds above budget".into());
    let p = build(&flush(vec![rule]), &CTX);
    assert_eq!(p.alerts[0].annotations["summary"], "Refunds above budget");
}
