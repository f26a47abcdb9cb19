//! The OTLP receivers (SPEC §3): gRPC (`grpc`) and HTTP (`http`) front ends over one
//! receiver-independent intake path (`intake`: decode, normalise, durable append).
//!
//! ```text
//! gRPC TraceService/LogsService ─┐
//!                                 ├─▶ intake: decode ─▶ Collector::ingest (WAL, fsync) ─▶ OK
//! POST /v1/traces, /v1/logs ─────┘
//! ```

pub mod grpc;
pub mod http;
pub mod intake;
