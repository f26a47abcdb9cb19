//! End-to-end load generator: realistic agent traces over OTLP/HTTP (protobuf) or OTLP/gRPC
//! at full speed against a running Vigil, reporting acknowledged (durable) spans/s and
//! request latency percentiles.
//!
//! ```text
//! cargo bench --bench loadgen -- --http 127.0.0.1:4318 [--connections 8] [--seconds 20] [--traces 25]
//! cargo bench --bench loadgen -- --grpc 127.0.0.1:4317 ...
//! cargo bench --bench loadgen -- --http 127.0.0.1:4318 --live ...
//! cargo bench --bench loadgen -- --http 127.0.0.1:4318 --metrics [--points 100] ...
//! cargo bench --bench loadgen -- --http 127.0.0.1:4318 --json ...
//! ```
//! Each trace is a root `invoke_agent` span with two `chat` and one `execute_tool` child,
//! GenAI attributes (model, provider, tokens), a confidence, an accuracy score (an
//! evaluation event on the root), and an escalation on one trace in twenty — about 440 bytes of protobuf per span, as in DESIGN.md. Bodies are
//! encoded before the clock starts (unique ids per body) so that the generator spends its
//! CPU on sending, not on building; gRPC bodies are framed (the 5-byte message prefix)
//! before the clock starts too.
//!
//! Each connection is a connection-level client ([`Client`]): one HTTP/1.1 keep-alive
//! connection of hyper's client for OTLP/HTTP, one HTTP/2 connection of the `h2` crate
//! for OTLP/gRPC (unary calls: `HEADERS`, one `DATA` frame, the `grpc-status` trailer),
//! with no pool or request queue in front of it (a connection the daemon closes is opened
//! again), as `wrk` and `h2load` drive a server. With reqwest's pooled client the generator
//! took 30 µs of CPU per 4-span request on the two cores it shares with the daemon; this
//! one takes 15 (BENCHMARKS.md, issue 12, fifth pass). Over gRPC, tonic's client on
//! hyper's HTTP/2 took 43–51 µs per 4-span call and this one takes 23 (sixth pass): the
//! gRPC framing written here is the 5-byte prefix and the `grpc-status` trailer, nothing
//! of tonic's codec or status mapping is needed to count answers.
//!
//! Replayed bodies repeat their trace ids and timestamps, which is fine for ingest but not
//! for anything that reads the data back by time or by trace (monitors, transactions).
//! `--live` stamps every request as it is sent: its timestamps move to the current time and
//! its trace ids get a per-request salt, by patching the fixed-width fields of the encoded
//! body in place (their offsets are found once, before the clock starts).
//!
//! `--json` sends the same traces as OTLP/JSON (`application/json`, the OTLP JSON
//! mapping: hex ids, string-encoded 64-bit integers), OTLP/HTTP only.
//!
//! `--write-body FILE` writes the first body, as it would be sent (gRPC-framed with
//! `--grpc`), to FILE and exits: `benches/h2load.sh` sends it with `h2load`, a client of
//! another implementation (nghttp2), to compare the protocols with a client that is not
//! ours.
//!
//! `--metrics` sends OTLP metric requests to `/v1/metrics` instead (OTLP/HTTP protobuf
//! only): `--points` GenAI data points per request (histograms, a sum and a gauge, see
//! `support/agent_metrics.rs`), and reports acknowledged points.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::Request;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rustls_pki_types::pem::PemObject;

#[path = "support/agent_traces.rs"]
mod agent_traces;
use agent_traces::request;
#[path = "support/agent_metrics.rs"]
mod agent_metrics;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Http,
    Grpc,
}

struct Args {
    target: Target,
    addr: String,
    connections: usize,
    seconds: u64,
    traces: usize,
    bodies: usize,
    live: bool,
    /// `--metrics`: metric data points to `/v1/metrics` instead of traces.
    metrics: bool,
    /// `--json`: OTLP/JSON bodies instead of protobuf.
    json: bool,
    /// `--points`: data points per metrics request.
    points: usize,
    /// `--token`: sent as `Authorization: Bearer <token>`.
    token: Option<String>,
    /// `--ca-file`: speak TLS, trusting this PEM CA (the address should then name the
    /// certificate's host, e.g. `localhost:4318`).
    ca_pem: Option<Vec<u8>>,
    /// `--write-body FILE`: write the first request body, exactly as it would be sent
    /// (framed for gRPC), to FILE and exit, for another client such as `h2load`.
    write_body: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        target: Target::Http,
        addr: "127.0.0.1:4318".into(),
        connections: 8,
        seconds: 20,
        traces: 25,
        bodies: 512,
        live: false,
        metrics: false,
        json: false,
        points: 100,
        token: None,
        ca_pem: None,
        write_body: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--http" => (args.target, args.addr) = (Target::Http, value()),
            "--grpc" => (args.target, args.addr) = (Target::Grpc, value()),
            "--connections" => args.connections = value().parse().expect("--connections N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds N"),
            "--traces" => args.traces = value().parse().expect("--traces N (per request)"),
            "--bodies" => args.bodies = value().parse().expect("--bodies N"),
            "--live" => args.live = true,
            "--metrics" => args.metrics = true,
            "--json" => args.json = true,
            "--points" => args.points = value().parse().expect("--points N (per request)"),
            "--token" => args.token = Some(value()),
            "--ca-file" => args.ca_pem = Some(std::fs::read(value()).expect("--ca-file PEM")),
            "--write-body" => args.write_body = Some(value()),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    assert!(
        !args.metrics || (args.target == Target::Http && !args.live),
        "--metrics is OTLP/HTTP only, without --live"
    );
    assert!(
        !args.json || (args.target == Target::Http && !args.live && !args.metrics),
        "--json is OTLP/HTTP traces only, without --live"
    );
    let now = unix_nanos();
    let run_seed = now / 1_000_000;
    let requests: Vec<ExportTraceServiceRequest> = if args.metrics {
        Vec::new()
    } else {
        (0..args.bodies)
            .map(|b| {
                request(
                    run_seed * 1_000_000 + (b * args.traces) as u64,
                    args.traces,
                    now,
                )
            })
            .collect()
    };
    let bodies: Arc<Vec<Bytes>> = Arc::new(if args.metrics {
        (0..args.bodies)
            .map(|b| agent_metrics::request((b * args.points) as u64, args.points, now))
            .map(|r| r.encode_to_vec().into())
            .collect()
    } else if args.json {
        requests
            .iter()
            .map(|r| serde_json::to_vec(r).expect("OTLP JSON").into())
            .collect()
    } else if args.target == Target::Grpc {
        requests
            .iter()
            .map(|r| grpc_frame(&r.encode_to_vec()))
            .collect()
    } else {
        requests.iter().map(|r| r.encode_to_vec().into()).collect()
    });
    if let Some(path) = &args.write_body {
        std::fs::write(path, &bodies[0]).unwrap_or_else(|e| panic!("--write-body {path}: {e}"));
        return;
    }
    // What one acknowledged request adds: spans, or metric data points.
    let (unit, path) = if args.metrics {
        ("points", "/v1/metrics")
    } else {
        ("spans", "/v1/traces")
    };
    let spans_per_request = if args.metrics {
        args.points as u64
    } else {
        (args.traces * 4) as u64
    };
    // gRPC's 5-byte message prefix is not counted.
    let prefix = if args.target == Target::Grpc { 5 } else { 0 };
    let bytes_per_span = bodies.iter().map(|b| b.len() - prefix).sum::<usize>() as f64
        / (args.bodies as f64 * spans_per_request as f64);
    let stamps: Arc<Vec<Stamps>> = Arc::new(if args.live {
        requests
            .iter()
            .zip(bodies.iter())
            .map(|(r, b)| Stamps::find(r, b))
            .collect()
    } else {
        Vec::new()
    });
    let sent_requests = Arc::new(AtomicU64::new(0));
    println!(
        "load: {} over {} connections for {} s, {} {unit}/request, {:.0} B/{} of {}{}",
        match (args.target, args.json) {
            (Target::Http, false) => "OTLP/HTTP protobuf",
            (Target::Http, true) => "OTLP/HTTP JSON",
            (Target::Grpc, _) => "OTLP/gRPC",
        },
        args.connections,
        args.seconds,
        spans_per_request,
        bytes_per_span,
        unit.trim_end_matches('s'),
        if args.json { "JSON" } else { "protobuf" },
        if args.live {
            ", live times and trace ids"
        } else {
            ""
        }
    );

    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let (bodies, stamps) = (bodies.clone(), stamps.clone());
        let sent_requests = sent_requests.clone();
        let live = args.live;
        let (accepted, refused, failed) = (accepted.clone(), refused.clone(), failed.clone());
        let addr = args.addr.clone();
        let target = args.target;
        let content_type = if args.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let (token, ca_pem) = (args.token.clone(), args.ca_pem.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut client = Client::connect(target, &addr, ca_pem.as_deref())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let authorization = token
                .map(|t| axum::http::HeaderValue::from_str(&format!("Bearer {t}")).expect("token"));
            let mut i = c;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let b = i % bodies.len();
                let body = if live {
                    // Live stamps: how far the templates' times move, and this request's salt.
                    let n = sent_requests.fetch_add(1, Ordering::Relaxed);
                    let mut body = bodies[b].to_vec();
                    stamps[b].stamp(
                        &mut body,
                        unix_nanos().wrapping_sub(now),
                        (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    );
                    Bytes::from(body)
                } else {
                    bodies[b].clone()
                };
                let ok = client
                    .export(path, content_type, authorization.as_ref(), body)
                    .await;
                match ok {
                    Some(true) => {
                        latencies.push(sent.elapsed());
                        accepted.fetch_add(spans_per_request, Ordering::Relaxed);
                    }
                    Some(false) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if client.is_closed() {
                            // The daemon closed the connection: open another, as a pooled
                            // client would, or wait a little if it cannot be reached.
                            match Client::connect(target, &addr, ca_pem.as_deref()).await {
                                Ok(reconnected) => client = reconnected,
                                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                            }
                        }
                    }
                }
                i += args_connections_stride(c);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let spans = accepted.load(Ordering::Relaxed);
    println!("accepted {unit}:{:w$}{spans}", "", w = 12 - unit.len());
    println!(
        "accepted {unit}/s:{:w$}{:.0}",
        "",
        spans as f64 / elapsed,
        w = 10 - unit.len()
    );
    println!(
        "requests/s:           {:.0}",
        latencies.len() as f64 / elapsed
    );
    println!("refused (429/503):    {}", refused.load(Ordering::Relaxed));
    println!("failed:               {}", failed.load(Ordering::Relaxed));
    println!(
        "latency p50/p95/p99/max: {:.2} / {:.2} / {:.2} / {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.95).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

/// Where `--live` rewrites one encoded body: the 16-byte trace id and the fixed64 start and
/// end time of every span (OTLP `Span` fields 1, 7 and 8) and the time of every event
/// (`Span.Event` field 1).
struct Stamps {
    trace_ids: Vec<usize>,
    times: Vec<usize>,
}

impl Stamps {
    /// Finds the fields in one pass over `body`, the encoding of `request` (behind its
    /// 5-byte gRPC prefix over gRPC, so the offsets are the sent body's): a field is a
    /// tag byte followed by a value the request holds. Panics unless every span's fields
    /// are found exactly once.
    fn find(request: &ExportTraceServiceRequest, body: &[u8]) -> Stamps {
        let spans: Vec<_> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let ids: HashSet<&[u8]> = spans.iter().map(|s| s.trace_id.as_slice()).collect();
        let times: HashSet<u64> = spans
            .iter()
            .flat_map(|s| [s.start_time_unix_nano, s.end_time_unix_nano])
            .chain(
                spans
                    .iter()
                    .flat_map(|s| &s.events)
                    .map(|e| e.time_unix_nano),
            )
            .collect();
        let events: usize = spans.iter().map(|s| s.events.len()).sum();
        let mut stamps = Stamps {
            trace_ids: Vec::new(),
            times: Vec::new(),
        };
        for i in 0..body.len().saturating_sub(17) {
            match body[i] {
                0x0a if body[i + 1] == 16 && ids.contains(&body[i + 2..i + 18]) => {
                    stamps.trace_ids.push(i + 2);
                }
                0x09 | 0x39 | 0x41 => {
                    let value = u64::from_le_bytes(body[i + 1..i + 9].try_into().unwrap());
                    if times.contains(&value) {
                        stamps.times.push(i + 1);
                    }
                }
                _ => {}
            }
        }
        assert_eq!(
            stamps.trace_ids.len(),
            spans.len(),
            "trace ids found in the body"
        );
        assert_eq!(
            stamps.times.len(),
            2 * spans.len() + events,
            "span and event times found in the body"
        );
        stamps
    }

    /// Moves the times by `shift` ns and salts the trace ids (the same salt for every span
    /// of a request keeps its traces whole and distinct).
    fn stamp(&self, body: &mut [u8], shift: u64, salt: u64) {
        for &o in &self.times {
            let t = u64::from_le_bytes(body[o..o + 8].try_into().unwrap());
            body[o..o + 8].copy_from_slice(&t.wrapping_add(shift).to_le_bytes());
        }
        for &o in &self.trace_ids {
            for (b, s) in body[o..o + 8].iter_mut().zip(salt.to_be_bytes()) {
                *b ^= s;
            }
        }
    }
}

/// The gRPC method the generator calls.
const EXPORT_TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// One connection of the generator, at the connection level (one HTTP/1.1 or HTTP/2
/// connection, no pool and no request queue in front of it), as `wrk` or `h2load` drive a
/// server: on two cores shared with the daemon, every microsecond the generator spends is
/// taken from the daemon.
enum Client {
    /// OTLP/HTTP: `POST` over one HTTP/1.1 keep-alive connection (hyper's client).
    Http {
        sender: http1::SendRequest<Full<Bytes>>,
        authority: String,
    },
    /// OTLP/gRPC: unary calls over one HTTP/2 connection of the `h2` crate (the HTTP/2
    /// implementation under hyper and tonic), each a `HEADERS` frame and one `DATA` frame
    /// with the message already framed ([`grpc_frame`]); the answer's `grpc-status` is
    /// read from its trailers (or its headers, for a trailers-only answer).
    Grpc {
        sender: h2::client::SendRequest<Bytes>,
        /// The method's URI with the daemon's scheme and authority (`:scheme`,
        /// `:authority` and `:path` of every call).
        uri: axum::http::Uri,
        /// The task driving the connection: finished once the connection is gone.
        connection: tokio::task::JoinHandle<()>,
    },
}

/// A byte stream to the daemon: TCP, or TLS over it.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

impl Client {
    /// Connects to `addr` (`host:port`), over TLS trusting `ca_pem` when given (the host
    /// is then the name checked against the certificate).
    ///
    /// # Errors
    /// When the connection, TLS or the HTTP handshake fails: what failed, with `addr`.
    async fn connect(target: Target, addr: &str, ca_pem: Option<&[u8]>) -> Result<Client, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let alpn: &[u8] = match target {
            Target::Http => b"http/1.1",
            Target::Grpc => b"h2",
        };
        let stream: Box<dyn Stream> = match ca_pem {
            None => Box::new(tcp),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                    roots.add(cert.expect("CA PEM")).expect("CA certificate");
                }
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("TLS versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                config.alpn_protocols = vec![alpn.to_vec()];
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
                let name = rustls_pki_types::ServerName::try_from(host).expect("TLS name");
                let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS to {addr}: {e}"))?;
                Box::new(tls)
            }
        };
        let scheme = if ca_pem.is_some() { "https" } else { "http" };
        match target {
            Target::Http => {
                let (sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("HTTP/1.1 to {addr}: {e}"))?;
                tokio::spawn(connection);
                Ok(Client::Http {
                    sender,
                    authority: addr.to_owned(),
                })
            }
            Target::Grpc => {
                let (sender, connection) = h2::client::handshake(stream)
                    .await
                    .map_err(|e| format!("HTTP/2 to {addr}: {e}"))?;
                let connection = tokio::spawn(async move {
                    let _ = connection.await;
                });
                let uri = format!("{scheme}://{addr}{EXPORT_TRACES}")
                    .parse()
                    .expect("gRPC URI");
                Ok(Client::Grpc {
                    sender,
                    uri,
                    connection,
                })
            }
        }
    }

    /// Whether the connection is gone (closed by the daemon, or failed).
    fn is_closed(&self) -> bool {
        match self {
            Client::Http { sender, .. } => sender.is_closed(),
            Client::Grpc { connection, .. } => connection.is_finished(),
        }
    }

    /// Sends one export: `Some(true)` when acknowledged, `Some(false)` when refused
    /// for overload (HTTP 429/503, gRPC `UNAVAILABLE`), `None` when it failed otherwise.
    async fn export(
        &mut self,
        path: &str,
        content_type: &'static str,
        authorization: Option<&axum::http::HeaderValue>,
        body: Bytes,
    ) -> Option<bool> {
        match self {
            Client::Http { sender, authority } => {
                let mut request = Request::post(path)
                    .header(axum::http::header::HOST, authority.as_str())
                    .header(axum::http::header::CONTENT_TYPE, content_type);
                if let Some(value) = authorization {
                    request = request.header(axum::http::header::AUTHORIZATION, value);
                }
                let request = request.body(Full::new(body)).expect("request");
                if sender.ready().await.is_err() {
                    return None;
                }
                let response = sender.send_request(request).await.ok()?;
                let status = response.status();
                response.into_body().collect().await.ok()?;
                match status.as_u16() {
                    200..=299 => Some(true),
                    429 | 503 => Some(false),
                    _ => None,
                }
            }
            Client::Grpc { sender, uri, .. } => {
                let mut request = Request::post(uri.clone())
                    .header(axum::http::header::CONTENT_TYPE, "application/grpc")
                    .header(axum::http::header::TE, "trailers");
                if let Some(value) = authorization {
                    request = request.header(axum::http::header::AUTHORIZATION, value);
                }
                let request = request.body(()).expect("request");
                std::future::poll_fn(|cx| sender.poll_ready(cx))
                    .await
                    .ok()?;
                let (response, mut stream) = sender.send_request(request, false).ok()?;
                stream.send_data(body, true).ok()?;
                let response = response.await.ok()?;
                if response.status() != axum::http::StatusCode::OK {
                    return None;
                }
                let (head, mut body) = response.into_parts();
                while let Some(data) = body.data().await {
                    let data = data.ok()?;
                    let _ = body.flow_control().release_capacity(data.len());
                }
                let status = match grpc_status(&head.headers) {
                    Some(code) => code,
                    None => grpc_status(&body.trailers().await.ok()??)?,
                };
                // 0 OK, 14 UNAVAILABLE (gRPC's status codes).
                match status {
                    0 => Some(true),
                    14 => Some(false),
                    _ => None,
                }
            }
        }
    }
}

/// The `grpc-status` of an answer's trailers (or of its headers, for a trailers-only
/// answer), `None` when absent or not a number.
fn grpc_status(headers: &axum::http::HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// `message` as the body of a unary gRPC call: the length-prefixed message of the gRPC
/// over HTTP/2 protocol (a compressed flag of 0, the length as a big-endian u32, the
/// message), made before the clock starts as tonic's client would make it per call.
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.into()
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Each connection walks the bodies with its own stride so that concurrent requests carry
/// different traces.
fn args_connections_stride(connection: usize) -> usize {
    connection * 2 + 1
}
