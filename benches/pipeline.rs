//! Criterion benches of the ingest stages: OTLP decode + mapping to Arrow, WAL append with
//! fdatasync (group commit of one), and a flush of hot batches into a Delta table.
//!
//! ```text
//! cargo bench --bench pipeline
//! ```

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use collector::normalize::{NormalizeConfig, Normalizer};
use collector::store::Store;
use collector::wal::{Wal, WalConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use schemas::prices::PriceTable;
use schemas::tables::Table;

#[path = "support/agent_traces.rs"]
mod agent_traces;

const NOW: u64 = 1_795_000_000_000_000_000;

fn decode_and_map(c: &mut Criterion) {
    let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let body = agent_traces::request(1, 100, NOW).encode_to_vec();
    let spans = 400;
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(spans));
    group.bench_function("prost_decode_400_spans", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(body.as_slice())).unwrap())
    });
    let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    group.bench_function("map_to_arrow_400_spans", |b| {
        b.iter(|| normalizer.traces(black_box(&request)))
    });
    group.bench_function("decode_and_map_400_spans", |b| {
        b.iter(|| {
            normalizer
                .traces(&ExportTraceServiceRequest::decode(black_box(body.as_slice())).unwrap())
        })
    });
    group.finish();
}

/// The fixed cost of one small request, the size agents send (issue 12): decode + map of
/// 1 and 10 traces (4 and 40 spans), and the WAL payload encoding (Arrow IPC) of its batch.
fn per_request(c: &mut Criterion) {
    let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let mut group = c.benchmark_group("per_request");
    for traces in [1usize, 10] {
        let request = agent_traces::request(1, traces, NOW);
        let body = request.encode_to_vec();
        let spans = normalizer.traces(&request).spans.unwrap();
        group.throughput(Throughput::Elements(spans.num_rows() as u64));
        group.bench_function(format!("decode_and_map_{}_spans", spans.num_rows()), |b| {
            b.iter(|| {
                normalizer
                    .traces(&ExportTraceServiceRequest::decode(black_box(body.as_slice())).unwrap())
            })
        });
        let batches = vec![(Table::Spans, spans)];
        group.bench_function(
            format!("wal_encode_{}_spans", batches[0].1.num_rows()),
            |b| b.iter(|| collector::wal::encode_payload(black_box(&batches)).unwrap()),
        );
    }
    group.finish();
}

fn wal_append(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wal: Wal = Wal::open(
        &dir.path().join("wal"),
        WalConfig::default(),
        1,
        Vec::new(),
        Box::new(|_, _| {}),
    )
    .unwrap();
    let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let mut group = c.benchmark_group("wal");
    for traces in [25usize, 250] {
        let batch = normalizer
            .traces(&agent_traces::request(1, traces, NOW))
            .spans
            .unwrap();
        group.throughput(Throughput::Elements(batch.num_rows() as u64));
        group.bench_function(
            format!("append_fdatasync_{}_spans", batch.num_rows()),
            |b| {
                b.to_async(&runtime)
                    .iter(|| wal.append(vec![(Table::Spans, batch.clone())]))
            },
        );
    }
    group.finish();
    wal.close();
}

/// A flush of 100,000 spans, as hot batches of two sizes: 400 spans (100 traces per
/// request), and 20 spans, what a group commit of five 1-trace requests leaves.
fn flush(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let mut group = c.benchmark_group("flush");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for traces in [100u64, 5] {
        let batches: Vec<_> = (0..25_000 / traces)
            .map(|i| {
                normalizer
                    .traces(&agent_traces::request(i * traces, traces as usize, NOW))
                    .spans
                    .unwrap()
            })
            .collect();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let size = batches[0].num_rows();
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(
            format!("delta_append_{rows}_spans_in_{size}_row_batches"),
            |b| {
                // Not `to_async`: its setup would run inside the runtime, where opening
                // the store (which blocks on it) panics.
                b.iter_batched(
                    || {
                        // Opening creates the (empty) tables: outside the measurement.
                        let dir = tempfile::tempdir().unwrap();
                        let config = collector::CollectorConfig::new(dir.path());
                        let store = runtime.block_on(Store::open(&config)).unwrap();
                        (dir, store)
                    },
                    |(dir, mut store)| {
                        let appended = store.append(Table::Spans, &batches, 1);
                        runtime.block_on(appended).unwrap();
                        dir
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, per_request, decode_and_map, wal_append, flush);
criterion_main!(benches);
