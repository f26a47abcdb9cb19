//! Agent-shaped OTLP trace requests shared by the load generator and the criterion benches.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}

/// SplitMix64 (Steele, Lea, Flood 2014): a fast, well-mixed 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fleet: five named agents, or `VIGIL_BENCH_AGENTS=N` agents `agent-00`… (the
/// monitor benchmark uses 50 series per monitor).
static AGENTS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| {
        match std::env::var("VIGIL_BENCH_AGENTS")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n > 0 => (0..n).map(|i| format!("agent-{i:02}")).collect(),
            _ => ["support", "billing", "triage", "returns", "search"]
                .map(String::from)
                .to_vec(),
        }
    });

/// One agent trace of four spans; the root carries an evaluation event (accuracy).
fn agent_trace(seed: u64, now: u64) -> Vec<Span> {
    // Ids as random as real ones (SplitMix64 of the seed): sequential ids would compress
    // far better than production data and flatter the stored bytes per span.
    let trace_id: Vec<u8> = [
        splitmix64(seed).to_be_bytes(),
        splitmix64(!seed).to_be_bytes(),
    ]
    .concat();
    let sid = |n: u64| {
        (splitmix64(seed.wrapping_mul(4).wrapping_add(n)) | 1)
            .to_be_bytes()
            .to_vec()
    };
    // The traits of a trace come from a hash of the seed, not the seed itself, so that
    // every agent sees the whole spread of confidence, latency and escalations.
    let h = splitmix64(seed ^ 0x5eed);
    let agent = AGENTS[(h % AGENTS.len() as u64) as usize].as_str();
    let start = now + seed % 1000;
    let span = |n: u64, parent: Option<u64>, name: String, attributes: Vec<KeyValue>| Span {
        trace_id: trace_id.clone(),
        span_id: sid(n),
        parent_span_id: parent.map(sid).unwrap_or_default(),
        name,
        kind: if parent.is_none() { 2 } else { 3 },
        start_time_unix_nano: start + n * 1_000_000,
        end_time_unix_nano: start + n * 1_000_000 + 200_000_000 + (h >> 8) % 97 * 1_000_000,
        attributes,
        ..Default::default()
    };
    let chat = |n: u64| {
        span(
            n,
            Some(0),
            "chat gpt-4o-mini".into(),
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", "openai"),
                s("gen_ai.request.model", "gpt-4o-mini"),
                s("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                s("gen_ai.response.id", &format!("chatcmpl-{seed:x}-{n}")),
                kv(
                    "gen_ai.usage.input_tokens",
                    Value::IntValue(800 + (seed % 400) as i64),
                ),
                kv(
                    "gen_ai.usage.output_tokens",
                    Value::IntValue(120 + (seed % 80) as i64),
                ),
                s("gen_ai.conversation.id", &format!("conv-{}", seed / 3)),
            ],
        )
    };
    let tool = if (h >> 16).is_multiple_of(20) {
        "transfer_to_human"
    } else {
        "lookup_order"
    };
    let mut root = span(
        0,
        None,
        format!("invoke_agent {agent}"),
        vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", agent),
            s("gen_ai.agent.version", "1.7.2"),
            kv(
                "agent.confidence",
                Value::DoubleValue(0.6 + ((h >> 24) % 40) as f64 / 100.0),
            ),
            s("user.tier", "gold"),
        ],
    );
    // An online evaluator's verdict on the answer (a `score:accuracy` monitor reads it).
    root.events.push(Event {
        time_unix_nano: start + 150_000_000,
        name: "gen_ai.evaluation.result".into(),
        attributes: vec![
            s("gen_ai.evaluation.name", "accuracy"),
            kv(
                "gen_ai.evaluation.score.value",
                Value::DoubleValue(0.7 + ((h >> 32) % 30) as f64 / 100.0),
            ),
        ],
        ..Default::default()
    });
    vec![
        root,
        chat(1),
        span(
            2,
            Some(0),
            format!("execute_tool {tool}"),
            vec![
                s("gen_ai.operation.name", "execute_tool"),
                s("gen_ai.tool.name", tool),
                s("gen_ai.tool.call.id", &format!("call-{seed:x}")),
            ],
        ),
        chat(3),
    ]
}

/// The fleet's resource: one service, its version and environment.
pub fn resource() -> Resource {
    Resource {
        attributes: vec![
            s("service.name", "agent-fleet"),
            s("service.version", "2026.11"),
            s("deployment.environment", "bench"),
        ],
        ..Default::default()
    }
}

/// `traces` agent traces (4 spans each) with seeds from `first_seed`, starting near `now` (unix ns).
pub fn request(first_seed: u64, traces: usize, now: u64) -> ExportTraceServiceRequest {
    let spans = (0..traces as u64)
        .flat_map(|i| agent_trace(first_seed + i, now))
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
