//! The synthetic agent fleet: five agents whose transactions are OTLP traces shaped as
//! the OpenTelemetry GenAI conventions describe them, one of which drifts after a bad
//! deploy.
//!
//! A transaction is a root `invoke_agent <agent>` span (SERVER) carrying
//! `gen_ai.agent.name`/`.version`, `gen_ai.conversation.id`, the prompt's name and
//! version and `agent.confidence`, with an `accuracy` evaluation as a
//! `gen_ai.evaluation.result` span event at its end; below it a `chat <model>` span, an
//! `execute_tool` span, sometimes a retried `chat`, a final `chat`, and for an escalation
//! an `execute_tool transfer_to_human` span (Vigil's default escalation rule). Chat spans
//! carry the provider, models and token counts, so Vigil prices them from its own price
//! table. Latency is log-normal, scores and confidence normal and clipped to [0, 1].
//!
//! [`Fleet::traces`] is pure: time is an argument and every draw comes from one seeded
//! generator per agent, so the same seed and the same seconds give the same traces.
//! The drift: from `drift_at`, the drifting agent runs its next version, and over
//! [`QUALITY_RAMP_S`] its accuracy and confidence fall, escalations and latency rise;
//! its prompts grow over [`COST_RAMP_S`], so cost per transaction creeps up.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NS_PER_S: i64 = 1_000_000_000;
const NS_PER_MS: f64 = 1_000_000.0;
/// Seconds over which the drifting agent's quality, escalations and latency reach their
/// drifted level.
pub const QUALITY_RAMP_S: f64 = 30.0;
/// Seconds over which the drifting agent's prompts (and so its cost) reach their
/// drifted size.
pub const COST_RAMP_S: f64 = 120.0;

/// One agent of the fleet and its in-control behaviour.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// `gen_ai.agent.name`, the series of every demo monitor.
    pub name: &'static str,
    /// `service.name` of its process.
    pub service: &'static str,
    /// `gen_ai.agent.version` it runs at start.
    pub version: &'static str,
    /// The version a deploy brings, for the agent that drifts.
    pub next_version: &'static str,
    /// `gen_ai.provider.name`.
    pub provider: &'static str,
    /// `gen_ai.request.model` (a model of Vigil's price table).
    pub model: &'static str,
    /// The tool it calls on most transactions.
    pub tool: &'static str,
    /// Transactions per second.
    pub rate: u32,
    /// Mean `accuracy` evaluation, in [0, 1].
    pub accuracy: f64,
    /// Mean `agent.confidence`, in [0, 1].
    pub confidence: f64,
    /// Probability that a transaction hands off to a human.
    pub escalation: f64,
    /// Median transaction duration, ms.
    pub median_ms: f64,
    /// Log-normal shape of the duration (σ of its logarithm).
    pub latency_sigma: f64,
    /// Mean input tokens of one chat call.
    pub input_tokens: f64,
    /// Mean output tokens of one chat call.
    pub output_tokens: f64,
}

/// The agent that drifts.
pub const DRIFTING: &str = "billing";

/// The fleet: support triage, billing (drifts), refunds, travel booking, code review.
pub const PROFILES: [Profile; 5] = [
    Profile {
        name: "support-triage",
        service: "support-svc",
        version: "v17",
        next_version: "v18",
        provider: "anthropic",
        model: "claude-haiku-4-5",
        tool: "search_knowledge_base",
        rate: 4,
        accuracy: 0.91,
        confidence: 0.86,
        escalation: 0.05,
        median_ms: 900.0,
        latency_sigma: 0.25,
        input_tokens: 1_400.0,
        output_tokens: 220.0,
    },
    Profile {
        name: DRIFTING,
        service: "billing-svc",
        version: "v41",
        next_version: "v42",
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        tool: "lookup_invoice",
        rate: 3,
        accuracy: 0.90,
        confidence: 0.84,
        escalation: 0.04,
        median_ms: 1_300.0,
        latency_sigma: 0.25,
        input_tokens: 1_800.0,
        output_tokens: 320.0,
    },
    Profile {
        name: "refunds",
        service: "billing-svc",
        version: "v9",
        next_version: "v10",
        provider: "openai",
        model: "gpt-4.1-mini",
        tool: "issue_refund",
        rate: 2,
        accuracy: 0.88,
        confidence: 0.82,
        escalation: 0.06,
        median_ms: 1_100.0,
        latency_sigma: 0.25,
        input_tokens: 1_200.0,
        output_tokens: 180.0,
    },
    Profile {
        name: "travel-booking",
        service: "travel-svc",
        version: "v3",
        next_version: "v4",
        provider: "openai",
        model: "gpt-5-mini",
        tool: "search_flights",
        rate: 3,
        accuracy: 0.87,
        confidence: 0.80,
        escalation: 0.05,
        median_ms: 2_000.0,
        latency_sigma: 0.25,
        input_tokens: 2_400.0,
        output_tokens: 400.0,
    },
    Profile {
        name: "code-review",
        service: "devtools-svc",
        version: "v5",
        next_version: "v6",
        provider: "openai",
        model: "gpt-4.1",
        tool: "read_diff",
        rate: 2,
        accuracy: 0.89,
        confidence: 0.83,
        escalation: 0.03,
        median_ms: 2_600.0,
        latency_sigma: 0.25,
        input_tokens: 3_000.0,
        output_tokens: 600.0,
    },
];

struct Agent {
    profile: Profile,
    rng: StdRng,
}

/// The fleet's generator: deterministic for a seed and a sequence of calls.
pub struct Fleet {
    agents: Vec<Agent>,
    drift_at_ns: i64,
}

/// What one agent's drift looks like at an instant: 0 before the deploy, ramping to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drift {
    /// Quality, escalations and latency.
    quality: f64,
    /// Prompt size (cost).
    cost: f64,
    /// Whether the new version runs.
    deployed: bool,
}

impl Fleet {
    /// A fleet seeded with `seed` whose [`DRIFTING`] agent deploys its next version at
    /// `drift_at_ns` (unix ns).
    pub fn new(seed: u64, drift_at_ns: i64) -> Self {
        let agents = PROFILES
            .iter()
            .enumerate()
            .map(|(i, profile)| Agent {
                profile: *profile,
                rng: StdRng::seed_from_u64(seed ^ ((i as u64 + 1) << 32)),
            })
            .collect();
        Self {
            agents,
            drift_at_ns,
        }
    }

    /// The versions of the drifting agent: (before the deploy, after it).
    pub fn drifting_versions() -> (&'static str, &'static str) {
        let p = PROFILES.iter().find(|p| p.name == DRIFTING);
        p.map_or(("", ""), |p| (p.version, p.next_version))
    }

    fn drift(&self, profile: &Profile, t_ns: i64) -> Drift {
        if profile.name != DRIFTING || t_ns < self.drift_at_ns {
            return Drift {
                quality: 0.0,
                cost: 0.0,
                deployed: false,
            };
        }
        let since = (t_ns - self.drift_at_ns) as f64 / NS_PER_S as f64;
        Drift {
            quality: (since / QUALITY_RAMP_S).min(1.0),
            cost: (since / COST_RAMP_S).min(1.0),
            deployed: true,
        }
    }

    /// Every transaction whose root span starts in the whole seconds
    /// `[from_s, to_s)` (unix seconds), each agent's `rate` per second at random offsets,
    /// as one export request (a resource per agent). Returns it with the number of
    /// transactions.
    pub fn traces(&mut self, from_s: i64, to_s: i64) -> (ExportTraceServiceRequest, usize) {
        let mut resource_spans = Vec::with_capacity(self.agents.len());
        let mut transactions = 0;
        for index in 0..self.agents.len() {
            let mut spans = Vec::new();
            for second in from_s..to_s {
                for _ in 0..self.agents[index].profile.rate {
                    let offset = self.agents[index].rng.random_range(0..NS_PER_S);
                    let start = second * NS_PER_S + offset;
                    let drift = self.drift(&self.agents[index].profile, start);
                    spans.extend(self.agents[index].transaction(start, drift));
                    transactions += 1;
                }
            }
            let profile = &self.agents[index].profile;
            resource_spans.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", profile.service),
                        kv("deployment.environment.name", "demo"),
                        kv("telemetry.sdk.name", "vigil-demo"),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        (ExportTraceServiceRequest { resource_spans }, transactions)
    }
}

impl Agent {
    /// One transaction starting at `start` (unix ns): its spans, root first.
    fn transaction(&mut self, start: i64, drift: Drift) -> Vec<Span> {
        let p = self.profile;
        let rng = &mut self.rng;
        let trace_id: [u8; 16] = rng.random();
        let mut span_id = || -> Vec<u8> { rng.random::<[u8; 8]>().to_vec() };
        let root_id = span_id();
        let chat_id = span_id();
        let tool_id = span_id();
        let retry_id = span_id();
        let final_id = span_id();
        let handoff_id = span_id();
        let q = drift.quality;
        let accuracy = clip(normal(rng, p.accuracy - 0.20 * q, 0.07));
        let confidence = clip(normal(rng, p.confidence - 0.25 * q, 0.06));
        let escalated = rng.random::<f64>() < p.escalation + 0.22 * q;
        let retried = rng.random::<f64>() < 0.05 + 0.5 * q;
        let tool_failed = rng.random::<f64>() < 0.01 + 0.04 * q;
        let median = p.median_ms * (1.0 + 0.6 * q);
        let sigma = p.latency_sigma + 0.25 * q;
        let duration_ms = (median * (sigma * normal(rng, 0.0, 1.0)).exp()).max(50.0);
        let prompt_growth = 1.0 + 0.8 * drift.cost;
        let tokens = |rng: &mut StdRng| {
            let input = normal(rng, p.input_tokens * prompt_growth, p.input_tokens * 0.12);
            let output = normal(rng, p.output_tokens, p.output_tokens * 0.2);
            (input.max(50.0) as i64, output.max(10.0) as i64)
        };
        let first_tokens = tokens(rng);
        let retry_tokens = tokens(rng);
        let final_tokens = tokens(rng);
        let version = if drift.deployed {
            p.next_version
        } else {
            p.version
        };
        let conversation = format!("conv-{:016x}", rng.random::<u64>());

        let d = duration_ms * NS_PER_MS;
        // Where each step sits in the transaction, as fractions of its duration.
        let at = |fraction: f64| start + (d * fraction) as i64;
        let end = start + d as i64;
        let trace = trace_id.to_vec();
        let child = |id: &Vec<u8>, name: String, kind: i32, from: i64, to: i64| Span {
            trace_id: trace.clone(),
            span_id: id.clone(),
            parent_span_id: root_id.clone(),
            name,
            kind,
            start_time_unix_nano: from as u64,
            end_time_unix_nano: to as u64,
            ..Default::default()
        };
        let chat = |id: &Vec<u8>, from: i64, to: i64, (input, output): (i64, i64)| {
            let mut span = child(id, format!("chat {}", p.model), CLIENT, from, to);
            span.attributes = vec![
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.provider.name", p.provider),
                kv("gen_ai.request.model", p.model),
                kv("gen_ai.response.model", p.model),
                kv_int("gen_ai.usage.input_tokens", input),
                kv_int("gen_ai.usage.output_tokens", output),
            ];
            span
        };

        let mut root = Span {
            trace_id: trace.clone(),
            span_id: root_id.clone(),
            name: format!("invoke_agent {}", p.name),
            kind: SERVER,
            start_time_unix_nano: start as u64,
            end_time_unix_nano: end as u64,
            attributes: vec![
                kv("gen_ai.operation.name", "invoke_agent"),
                kv("gen_ai.agent.name", p.name),
                kv("gen_ai.agent.version", version),
                kv("gen_ai.conversation.id", &conversation),
                kv("gen_ai.prompt.name", p.name),
                kv("gen_ai.prompt.version", version),
                kv_double("agent.confidence", confidence),
            ],
            events: vec![span::Event {
                time_unix_nano: end as u64,
                name: "gen_ai.evaluation.result".into(),
                attributes: vec![
                    kv("gen_ai.evaluation.name", "accuracy"),
                    kv_double("gen_ai.evaluation.score.value", accuracy),
                    kv(
                        "gen_ai.evaluation.score.label",
                        if accuracy >= 0.7 { "pass" } else { "fail" },
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut spans = vec![chat(&chat_id, at(0.02), at(0.40), first_tokens)];
        let mut tool = child(
            &tool_id,
            format!("execute_tool {}", p.tool),
            INTERNAL,
            at(0.41),
            at(0.55),
        );
        tool.attributes = vec![
            kv("gen_ai.operation.name", "execute_tool"),
            kv("gen_ai.tool.name", p.tool),
        ];
        if tool_failed {
            tool.status = Some(Status {
                code: 2,
                message: format!("{} timed out", p.tool),
            });
            tool.attributes.push(kv("error.type", "timeout"));
        }
        spans.push(tool);
        if retried {
            spans.push(chat(&retry_id, at(0.56), at(0.72), retry_tokens));
        }
        spans.push(chat(&final_id, at(0.73), at(0.95), final_tokens));
        if escalated {
            let mut handoff = child(
                &handoff_id,
                "execute_tool transfer_to_human".into(),
                INTERNAL,
                at(0.96),
                at(0.99),
            );
            handoff.attributes = vec![
                kv("gen_ai.operation.name", "execute_tool"),
                kv("gen_ai.tool.name", "transfer_to_human"),
            ];
            spans.push(handoff);
        }
        if tool_failed {
            root.status = Some(Status {
                code: 2,
                message: "a tool failed".into(),
            });
        }
        spans.insert(0, root);
        spans
    }
}

const INTERNAL: i32 = 1;
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// A draw from N(mean, sd²) by the Box–Muller transform.
fn normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln stays finite
    let u2: f64 = rng.random();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn clip(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

fn kv(key: &str, value: &str) -> KeyValue {
    attribute(key, Value::StringValue(value.into()))
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    attribute(key, Value::IntValue(value))
}

fn kv_double(key: &str, value: f64) -> KeyValue {
    attribute(key, Value::DoubleValue(value))
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
