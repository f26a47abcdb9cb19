use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::*;

const T: i64 = 1_767_571_200; // 2026-01-05T00:00:00Z, unix s

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn double(value: Option<&Value>) -> f64 {
    match value {
        Some(Value::DoubleValue(v)) => *v,
        other => panic!("not a double: {other:?}"),
    }
}

/// Per agent: (name, transactions, mean accuracy, mean confidence, escalation rate,
/// mean input tokens per transaction).
fn summary(fleet: &mut Fleet, from: i64, to: i64) -> Vec<(String, f64, f64, f64, f64, f64)> {
    let (request, _) = fleet.traces(from, to);
    request
        .resource_spans
        .iter()
        .map(|rs| {
            let spans = &rs.scope_spans[0].spans;
            let roots: Vec<&Span> = spans
                .iter()
                .filter(|s| s.parent_span_id.is_empty())
                .collect();
            let n = roots.len() as f64;
            let name = match attr(roots[0], "gen_ai.agent.name") {
                Some(Value::StringValue(s)) => s.clone(),
                other => panic!("{other:?}"),
            };
            let accuracy = roots
                .iter()
                .map(|r| {
                    double(
                        r.events[0]
                            .attributes
                            .get(1)
                            .and_then(|a| a.value.as_ref()?.value.as_ref()),
                    )
                })
                .sum::<f64>()
                / n;
            let confidence = roots
                .iter()
                .map(|r| double(attr(r, "agent.confidence")))
                .sum::<f64>()
                / n;
            let escalated = spans
                .iter()
                .filter(|s| s.name == "execute_tool transfer_to_human")
                .count() as f64
                / n;
            let input = spans
                .iter()
                .filter_map(|s| match attr(s, "gen_ai.usage.input_tokens") {
                    Some(Value::IntValue(v)) => Some(*v as f64),
                    _ => None,
                })
                .sum::<f64>()
                / n;
            (name, n, accuracy, confidence, escalated, input)
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_traces() {
    let a = Fleet::new(7, T * NS_PER_S).traces(T, T + 3).0;
    let b = Fleet::new(7, T * NS_PER_S).traces(T, T + 3).0;
    let c = Fleet::new(8, T * NS_PER_S).traces(T, T + 3).0;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn each_agent_sends_its_rate_and_every_trace_has_one_root() {
    let (request, transactions) = Fleet::new(1, i64::MAX).traces(T, T + 10);
    let expected: u32 = PROFILES.iter().map(|p| p.rate * 10).sum();
    assert_eq!(transactions, expected as usize);
    for (rs, profile) in request.resource_spans.iter().zip(PROFILES) {
        let spans = &rs.scope_spans[0].spans;
        let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
        assert_eq!(roots, profile.rate as usize * 10, "{}", profile.name);
        for span in spans {
            assert!(span.start_time_unix_nano >= (T * NS_PER_S) as u64);
            assert!(span.end_time_unix_nano > span.start_time_unix_nano);
        }
    }
}

#[test]
fn only_the_drifting_agent_drifts_and_only_after_its_deploy() {
    // The deploy at T + 60 s; compare a minute before with a minute after the ramps.
    let drift_at = T + 60;
    let mut fleet = Fleet::new(42, drift_at * NS_PER_S);
    let before = summary(&mut fleet, T, T + 60);
    let after = summary(&mut fleet, drift_at + 120, drift_at + 180);
    for (b, a) in before.iter().zip(&after) {
        let (name, n, accuracy, confidence, escalated, input) = b;
        assert!(*n >= 60.0, "{name}");
        if name == DRIFTING {
            assert!(
                a.2 < accuracy - 0.12,
                "{name} accuracy {accuracy} -> {}",
                a.2
            );
            assert!(
                a.3 < confidence - 0.15,
                "{name} confidence {confidence} -> {}",
                a.3
            );
            assert!(
                a.4 > escalated + 0.1,
                "{name} escalations {escalated} -> {}",
                a.4
            );
            assert!(a.5 > input * 1.5, "{name} input tokens {input} -> {}", a.5);
        } else {
            assert!(
                (a.2 - accuracy).abs() < 0.05,
                "{name} accuracy {accuracy} -> {}",
                a.2
            );
            assert!(
                (a.3 - confidence).abs() < 0.05,
                "{name} confidence {confidence} -> {}",
                a.3
            );
            assert!(
                (a.5 / input - 1.0).abs() < 0.15,
                "{name} input {input} -> {}",
                a.5
            );
        }
    }
    let (request, _) = fleet.traces(drift_at + 1, drift_at + 2);
    let billing = PROFILES.iter().position(|p| p.name == DRIFTING).unwrap();
    let root = &request.resource_spans[billing].scope_spans[0].spans[0];
    assert!(
        matches!(attr(root, "gen_ai.agent.version"), Some(Value::StringValue(v)) if v == "v42")
    );
}

#[test]
fn five_minutes_of_history_fit_one_request_well_within_the_body_limit() {
    let (request, _) = Fleet::new(42, i64::MAX).traces(T, T + 300);
    let bytes = request.encoded_len();
    // The receivers accept 16 MiB; the back-dated history is sent as one request.
    assert!(bytes < 8 << 20, "{bytes} bytes");
}
