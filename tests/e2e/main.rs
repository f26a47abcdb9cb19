//! End-to-end tests: the real `vigil` binary on port 0, driven by real clients (the
//! `opentelemetry-otlp` Rust exporters, the OpenTelemetry Python SDK, raw HTTP with
//! hand-made bad bodies), checked through SQL.

mod admission;
mod alerts;
mod audit;
mod auth;
mod bad_input;
mod cardinality;
mod cost;
mod crash;
mod daemon;
mod demo;
mod detect;
mod engines;
mod full_disk;
mod grafana;
mod grpc_status;
mod metrics;
mod monitors;
mod otlp;
mod pages;
mod pg;
mod python;
mod retention;
mod rust_sdk;
mod s3;
mod scale_out;
mod sql;
mod tables;
mod tidy;
mod tls;
