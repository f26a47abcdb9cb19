//! The OTLP receivers (SPEC §3): gRPC (`grpc`) and HTTP (`http`) front ends over one
//! receiver-independent intake path (`intake`: decode, normalise, durable append;
//! `json`: OTLP/JSON bodies, with enum value names and metric data errors).
//!
//! ```text
//! gRPC Trace/Logs/MetricsService ──────┐
//!                                       ├─▶ intake: decode ─▶ Collector::ingest (WAL, fsync) ─▶ OK
//! POST /v1/traces, /v1/logs, /v1/metrics ┘
//! ```

pub mod grpc;
pub mod http;
pub mod intake;
pub mod json;
