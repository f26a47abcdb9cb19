//! Page-render benchmark (issue 11): how long the web pages take, and how heavy they are,
//! with a week of `drift` history behind them.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-rel cargo build --release   # the daemon measured
//! CARGO_TARGET_DIR=/work/target-rel VIGIL_BIN=/work/target-rel/release/vigil \
//!     cargo bench --bench pages -- --data-dir /tmp/vigil-pages \
//!     [--monitors 20] [--series 50] [--days 7] [--requests 50] [--generate-only]
//! ```
//!
//! Three steps, all on this machine:
//! 1. **Generate** `monitors × series × days` of 1-minute windows into the `drift` table
//!    of a data directory, through the daemon's own code: a [`Collector`] opened as
//!    `vigil serve` opens it, each window measured by seeded noise around a per-series
//!    baseline and judged by the real [`SeriesState::observe`] of the configured monitor
//!    (Phase I over the first 30 windows, then CUSUM, EWMA, Shewhart or p-chart), so the
//!    rows, their `details`, `kpis` and `state` are what the daemon writes and resumes
//!    from. Rows are appended an hour of windows of every series at a time (the daemon
//!    writes them in time order too), flushed, compacted as a running daemon would have
//!    compacted them, and the collector is shut down cleanly. The last window ends at the
//!    current minute. A directory generated before is reused: only the windows since its
//!    last run are appended, continuing every series from its saved state.
//! 2. **Start** the real daemon (`VIGIL_BIN`, else `target/release/vigil`; the figures
//!    mean something only for a release build) on that directory with the same monitors,
//!    on port 0, and wait for `/readyz` and for the monitor job's first pass (it first
//!    restores every series from the latest `drift` rows); its log's errors are printed.
//! 3. **Measure** each page `--requests` times after 3 warm-ups, one request at a time
//!    over HTTP from this box: p50, p95 and max latency, the HTML bytes, the assets the
//!    pages link (raw and gzip), the page weight, the daemon's CPU and peak RSS.
//!
//! `spans` stays empty: the worst transactions and `/cost` read an empty table.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use analytics::detect::Detector;
use analytics::monitor::{
    DriftRow, Monitor, MonitorConfig, Phase, SeriesState, WindowMeasure, drift_batch,
    validate_monitors,
};
use collector::normalize::{NormalizeConfig, Normalizer};
use collector::{Collector, StorageConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::paths::{endpoints_file, table_dir};
use schemas::prices::PriceTable;
use schemas::tables::Table;
use serde::{Deserialize, Serialize};

/// The seed of every random draw: the same arguments give the same rows.
const SEED: u64 = 0x5eed_0011;
/// One window, ns.
const MINUTE_NS: i64 = 60_000_000_000;
/// Phase I windows of every monitor.
const BASELINE_WINDOWS: usize = 30;
/// Windows per append: an hour of every series, as one WAL record.
const CHUNK_WINDOWS: i64 = 60;
/// Unmeasured requests before each page's measured ones.
const WARMUPS: usize = 3;
/// Flush once the appended batches hold this much (the daemon's default starts a flush
/// at 128 MiB).
const FLUSH_BYTES: usize = 96 << 20;
/// A generated directory older than this is generated again rather than topped up.
const MAX_TOP_UP_NS: i64 = 6 * 60 * MINUTE_NS;
/// The file in the data directory that says what was generated, and each series' state.
const MARKER: &str = "pages-bench.json";
/// The monitors config, in the data directory; `vigil serve --config` reads it.
const CONFIG: &str = "pages-bench.toml";

/// Signal and detector of monitor `i % 20`: every signal, with four detectors.
const PLAN: &str = "score:accuracy cusum, confidence ewma, latency_p99 ewma, \
    escalation_rate p_chart, confidence cusum, latency_p99 cusum, score:accuracy ewma, \
    confidence shewhart, error_rate p_chart, latency_p95 shewhart, cost_per_transaction ewma, \
    tokens_per_transaction cusum, score:accuracy shewhart, latency_p50 ewma, \
    cost_per_transaction cusum, latency_p95 cusum, tokens_per_transaction ewma, \
    escalation_rate p_chart, score:helpfulness cusum, confidence shewhart";

/// `(signal, detector)` of monitor `i`.
fn plan(i: usize) -> (&'static str, &'static str) {
    let pairs: Vec<&str> = PLAN.split(", ").collect();
    pairs[i % pairs.len()]
        .split_once(' ')
        .expect("signal detector")
}

/// The name of monitor `i`, e.g. `m00-accuracy-cusum`.
fn monitor_name(i: usize) -> String {
    let (signal, detector) = plan(i);
    let slug = signal.trim_start_matches("score:");
    format!("m{i:02}-{slug}-{detector}").replace('_', "-")
}

struct Args {
    data_dir: PathBuf,
    monitors: usize,
    series: usize,
    days: i64,
    requests: usize,
    generate_only: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        data_dir: PathBuf::from("/tmp/vigil-pages-bench"),
        monitors: 20,
        series: 50,
        days: 7,
        requests: 50,
        generate_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--data-dir" => args.data_dir = PathBuf::from(value()),
            "--monitors" => args.monitors = value().parse().expect("--monitors N"),
            "--series" => args.series = value().parse().expect("--series N"),
            "--days" => args.days = value().parse().expect("--days N"),
            "--requests" => args.requests = value().parse().expect("--requests N"),
            "--generate-only" => args.generate_only = true,
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (rows, parquet) = runtime.block_on(generate(&args));
    drop(runtime);
    println!(
        "drift: {rows} rows ({} monitors × {} series × {} days of 1-minute windows), {:.1} MiB of Parquet",
        args.monitors,
        args.series,
        args.days,
        parquet as f64 / f64::from(1 << 20)
    );
    if args.generate_only {
        return;
    }
    let bin = std::env::var_os("VIGIL_BIN")
        .map_or_else(|| PathBuf::from("target/release/vigil"), PathBuf::from);
    println!("daemon: {}", bin.display());
    let daemon = Daemon::start(&bin, &args.data_dir);
    measure(&daemon, &args);
    daemon.stop();
}

// ---- Step 1: the data set.

/// What a generation left in the data directory (`pages-bench.json`).
#[derive(Serialize, Deserialize)]
struct Marker {
    /// `--monitors`, `--series`, `--days`.
    shape: (usize, usize, i64),
    /// End of the last window written, ns.
    end_ns: i64,
    rows: u64,
    /// Each series' state after its last window, `[monitor][series]`.
    states: Vec<Vec<SeriesState>>,
}

/// The monitors config: `PLAN` cycled, every monitor grouped by agent, 1-minute windows,
/// a Phase I of [`BASELINE_WINDOWS`].
fn monitors_toml(count: usize) -> String {
    let mut out =
        String::from("# Written by benches/pages.rs: the page-render benchmark's monitors.\n");
    for i in 0..count {
        let (signal, detector) = plan(i);
        let params = match detector {
            "cusum" => "k = 0.5\nh = 5.0",
            "ewma" => "lambda = 0.2\nL = 3.0",
            "shewhart" => "L = 3.0\nrules = [\"we1\", \"we2\"]",
            _ => "L = 3.0",
        };
        out.push_str(&format!(
            "\n[[monitor]]\nname = \"{}\"\nsignal = \"{signal}\"\ngroup_by = [\"agent_name\"]\n\
             window = \"1m\"\ndetector = \"{detector}\"\n{params}\nbaseline = {{ windows = {BASELINE_WINDOWS} }}\n",
            monitor_name(i)
        ));
    }
    out
}

/// Series `s`: the agent's name, which is also its one label.
fn agent(s: usize) -> String {
    format!("agent-{s:02}")
}

/// Generates the data set, or tops up the one already in `args.data_dir`. Returns the
/// rows `drift` holds and its Parquet bytes.
async fn generate(args: &Args) -> (u64, u64) {
    let started = Instant::now();
    let dir = &args.data_dir;
    let toml_text = monitors_toml(args.monitors);
    #[derive(Deserialize)]
    struct File {
        monitor: Vec<MonitorConfig>,
    }
    let file: File = toml::from_str(&toml_text).expect("the generated monitors config parses");
    let monitors = validate_monitors(&file.monitor).expect("the generated monitors are valid");
    let end_ns = chrono::Utc::now()
        .timestamp_nanos_opt()
        .expect("a 21st-century clock")
        / MINUTE_NS
        * MINUTE_NS;
    let marker: Option<Marker> = fs::read(dir.join(MARKER))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let (first_ns, mut states, mut rows) = match marker {
        Some(m)
            if m.shape == (args.monitors, args.series, args.days)
                && end_ns - m.end_ns <= MAX_TOP_UP_NS =>
        {
            println!(
                "reusing {}: appending the {} windows since its last run",
                dir.display(),
                (end_ns - m.end_ns) / MINUTE_NS
            );
            (m.end_ns, m.states, m.rows)
        }
        stale => {
            if stale.is_some() {
                println!(
                    "{}: other parameters or too old; generating again",
                    dir.display()
                );
                fs::remove_dir_all(dir).expect("removing the old generated directory");
            }
            let empty = fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
            assert!(
                empty,
                "{} holds other data; give a new --data-dir",
                dir.display()
            );
            (end_ns - args.days * 1440 * MINUTE_NS, Vec::new(), 0)
        }
    };
    fs::create_dir_all(dir).expect("creating the data directory");
    fs::write(dir.join(CONFIG), &toml_text).expect("writing the monitors config");
    if states.is_empty() {
        states = monitors
            .iter()
            .map(|m| {
                (0..args.series)
                    .map(|_| SeriesState::new(m).expect("Phase I state"))
                    .collect()
            })
            .collect();
    }
    let mut bases: Vec<Vec<Base>> = monitors
        .iter()
        .enumerate()
        .map(|(m, monitor)| (0..args.series).map(|s| Base::new(monitor, m, s)).collect())
        .collect();

    // The collector exactly as `vigil serve` builds it from an empty config, except that
    // files replaced by compaction are deleted at once: nobody else reads the directory.
    let mut config = StorageConfig::default()
        .collector(dir)
        .expect("the default [storage] is valid");
    config.vacuum_retention = Duration::ZERO;
    let normalizer = Normalizer::new(PriceTable::shipped(), NormalizeConfig::default());
    let collector = Collector::open(config, normalizer)
        .await
        .expect("opening the collector");
    let (mut pending, mut problems, mut alarms, before) = (0usize, 0u64, 0u64, rows);
    let mut start = first_ns;
    while start < end_ns {
        let until = (start + CHUNK_WINDOWS * MINUTE_NS).min(end_ns);
        // One generator per chunk, seeded by its first minute: a top-up draws what a
        // longer first run would have drawn for the same windows.
        let mut rng = StdRng::seed_from_u64(SEED ^ (start / MINUTE_NS) as u64);
        let mut chunk: Vec<DriftRow> = Vec::new();
        for window in (start..until).step_by(MINUTE_NS as usize) {
            let recent = end_ns - window <= 15 * MINUTE_NS;
            for (m, monitor) in monitors.iter().enumerate() {
                for s in 0..args.series {
                    let (state, base) = (&mut states[m][s], &mut bases[m][s]);
                    base.fit(state);
                    let shift = base.shift(&mut rng, recent, s);
                    let measure = base.window(window, s, shift, &mut rng);
                    match state.observe(monitor, &measure) {
                        Ok(Some(row)) => {
                            alarms += u64::from(row.figures.alarm);
                            chunk.push(row);
                        }
                        Ok(None) => {}
                        Err(_) => problems += 1,
                    }
                }
            }
        }
        rows += chunk.len() as u64;
        let batch = drift_batch(&chunk).expect("drift rows as Arrow");
        pending += batch.get_array_memory_size();
        collector
            .append(vec![(Table::Drift, batch)])
            .await
            .expect("appending drift rows");
        if pending >= FLUSH_BYTES {
            collector.flush().await.expect("flushing drift rows");
            pending = 0;
        }
        start = until;
    }
    collector.flush().await.expect("flushing drift rows");
    collector.compact().await.expect("compacting drift");
    let files = collector.file_count(Table::Drift).await;
    collector
        .shutdown()
        .await
        .expect("shutting the collector down");
    let marker = Marker {
        shape: (args.monitors, args.series, args.days),
        end_ns,
        rows,
        states,
    };
    let tmp = dir.join(format!("{MARKER}.tmp"));
    fs::write(&tmp, serde_json::to_vec(&marker).expect("marker JSON")).expect("writing marker");
    fs::rename(&tmp, dir.join(MARKER)).expect("renaming marker");
    let parquet_bytes = parquet_bytes(&table_dir(dir, Table::Drift));
    println!(
        "generated {} drift rows ({alarms} alarm windows, {problems} windows refused) in {:.1} s; \
         drift holds {rows} rows in {files} files, {:.1} MiB",
        rows - before,
        started.elapsed().as_secs_f64(),
        parquet_bytes as f64 / f64::from(1 << 20)
    );
    (rows, parquet_bytes)
}

/// Bytes of the Parquet files under `dir`.
fn parquet_bytes(dir: &Path) -> u64 {
    let entries = fs::read_dir(dir).into_iter().flatten().flatten();
    entries
        .map(|e| match e.path() {
            p if p.is_dir() => parquet_bytes(&p),
            p if p.extension().is_some_and(|x| x == "parquet") => {
                e.metadata().map_or(0, |m| m.len())
            }
            _ => 0,
        })
        .sum()
}

/// What a monitor's signal measures: scores and confidence in [0, 1] (lower is worse); a
/// latency percentile in ms (q = 0.5, 0.95, 0.99), a rate d/n, USD and tokens per
/// transaction (higher is worse).
#[derive(Clone, Copy)]
enum Kind {
    Score,
    Confidence,
    Latency(f64),
    Rate,
    Cost,
    Tokens,
}

/// One series' level: the signal's typical level, moved by up to ±5 % per agent so that
/// the series differ, until Phase I ends; from then on the level the detector estimated
/// (`fitted`), so that the in-control process is the one the detector watches for and
/// false alarms come at the detector's nominal rate, not from an unlucky 30-window
/// estimate (a CUSUM whose Phase I guessed the mean 0.4 σ low alarms for ever).
struct Base {
    kind: Kind,
    /// Mean of the window value (the proportion p for rates) during Phase I.
    mean: f64,
    /// Window-to-window standard deviation of the value (not used for rates).
    sd: f64,
    /// The Phase I estimate (mean, sd) once the series monitors.
    fitted: Option<(f64, f64)>,
    /// Windows left of the current drift episode, and its size in σ.
    episode: (u32, f64),
}

impl Base {
    fn new(monitor: &Monitor, m: usize, s: usize) -> Base {
        let mut rng = StdRng::seed_from_u64(SEED ^ ((m as u64) << 32) ^ s as u64);
        let agent: f64 = 1.0 + rng.random_range(-0.05..0.05);
        let (kind, mean, sd): (Kind, f64, f64) = match monitor.signal.to_string().as_str() {
            "confidence" => (Kind::Confidence, 0.78, 0.018),
            "latency_p50" => (Kind::Latency(0.5), 850.0, 30.0),
            "latency_p95" => (Kind::Latency(0.95), 2100.0, 80.0),
            "latency_p99" => (Kind::Latency(0.99), 3200.0, 140.0),
            "escalation_rate" => (Kind::Rate, 0.05, 0.0),
            "error_rate" => (Kind::Rate, 0.02, 0.0),
            "cost_per_transaction" => (Kind::Cost, 0.0125, 0.0007),
            "tokens_per_transaction" => (Kind::Tokens, 1850.0, 70.0),
            _ => (Kind::Score, 0.86, 0.02),
        };
        let mean = match kind {
            Kind::Score | Kind::Confidence => (mean * agent).min(0.95),
            _ => mean * agent,
        };
        Base {
            kind,
            mean,
            sd,
            fitted: None,
            episode: (0, 0.0),
        }
    }

    /// The shift (σ, towards worse) of the next window of series `s`. In Phase II an
    /// episode of 1–4 windows of 4–6 σ starts once in about 2,000 windows (about five a
    /// week); in the last 15 minutes (`recent`) agent-03 drifts on every signal and
    /// agent-07 on latency, so that alerts are firing when the pages are measured.
    fn shift(&mut self, rng: &mut StdRng, recent: bool, s: usize) -> f64 {
        if recent && (s == 3 || (s == 7 && matches!(self.kind, Kind::Latency(_)))) {
            return 5.0;
        }
        if self.episode.0 == 0 && self.fitted.is_some() && rng.random_bool(1.0 / 2000.0) {
            self.episode = (rng.random_range(1..=4), rng.random_range(4.0..6.0));
        }
        if self.episode.0 == 0 {
            return 0.0;
        }
        self.episode.0 -= 1;
        self.episode.1
    }

    /// Takes the detector's Phase I estimate once the series monitors.
    fn fit(&mut self, state: &SeriesState) {
        if let (None, Phase::Monitoring { detector }) = (self.fitted, &state.phase) {
            let detector = Detector::from_snapshot(detector.clone()).expect("a stored detector");
            let baseline = detector.baseline();
            self.fitted = baseline.mean().map(|m| (m, baseline.sd().unwrap_or(0.0)));
        }
    }

    /// Whether a drift makes the value fall (scores, confidence) rather than rise.
    fn worse_down(&self) -> bool {
        matches!(self.kind, Kind::Score | Kind::Confidence)
    }

    /// One window of series `s`, `shift` standard deviations towards worse.
    fn window(&self, start_ns: i64, s: usize, shift: f64, rng: &mut StdRng) -> WindowMeasure {
        let n: i64 = rng.random_range(30..=60);
        let shift = if self.worse_down() { -shift } else { shift };
        let (mean, sd) = self.fitted.unwrap_or((self.mean, self.sd));
        // The window value for the kinds that take it as it is drawn.
        let drawn = mean + sd * (normal(rng) + shift);
        let mut kpis = BTreeMap::new();
        let mut d = None;
        let value = match self.kind {
            Kind::Score => {
                let v = drawn.clamp(0.0, 1.0);
                kpis.insert(
                    "min".into(),
                    Some((v - rng.random_range(0.25..0.45)).max(0.0)),
                );
                kpis.insert(
                    "max".into(),
                    Some((v + rng.random_range(0.08..0.14)).min(1.0)),
                );
                v
            }
            Kind::Confidence => {
                // Transactions' confidences around the window's value (sd 0.12 each), so
                // that its deciles and ten-bin histogram are those of a real sample.
                let mut xs: Vec<f64> = (0..n).map(|_| drawn + 0.12 * normal(rng)).collect();
                let off = drawn - xs.iter().sum::<f64>() / n as f64;
                for x in &mut xs {
                    *x = (*x + off).clamp(0.0, 1.0);
                }
                xs.sort_by(f64::total_cmp);
                for (name, q) in [("p10", 0.1), ("p50", 0.5), ("p90", 0.9)] {
                    kpis.insert(name.into(), Some(percentile(&xs, q)));
                }
                let mut bins = [0u32; 10];
                for x in &xs {
                    bins[((x * 10.0) as usize).min(9)] += 1;
                }
                for (b, count) in bins.iter().enumerate() {
                    kpis.insert(format!("bin{b}"), Some(f64::from(*count)));
                }
                xs.iter().sum::<f64>() / n as f64
            }
            Kind::Latency(q) => {
                // The three percentiles move together, each with a little noise of its
                // own; the monitored one is the drawn value.
                let mut ps = [850.0, 2100.0, 3200.0].map(|p: f64| p * (1.0 + 0.03 * normal(rng)));
                ps.sort_by(f64::total_cmp);
                let at = [0.5, 0.95, 0.99].iter().position(|x| *x == q).unwrap_or(2);
                let scale = drawn.max(1.0) / ps[at];
                for (name, p) in ["p50", "p95", "p99"].into_iter().zip(ps) {
                    kpis.insert(name.into(), Some(p * scale));
                }
                ps[at] * scale
            }
            Kind::Rate => {
                let sd = (mean * (1.0 - mean) / n as f64).sqrt();
                let p = (mean + shift * sd).clamp(0.0, 1.0);
                let bad = (0..n).filter(|_| rng.random_bool(p)).count() as i64;
                kpis.insert("nonconforming".into(), Some(bad as f64));
                d = Some(bad);
                bad as f64 / n as f64
            }
            Kind::Cost => {
                kpis.insert("total_usd".into(), Some(drawn * n as f64));
                kpis.insert("transactions".into(), Some(n as f64));
                drawn
            }
            Kind::Tokens => {
                kpis.insert("total_tokens".into(), Some((drawn * n as f64).round()));
                drawn
            }
        };
        WindowMeasure {
            start_ns,
            series: agent(s),
            labels: BTreeMap::from([("agent_name".to_owned(), Some(agent(s)))]),
            n,
            d,
            value: Some(value),
            sample: Vec::new(),
            kpis,
        }
    }
}

/// The `q` quantile of a sorted sample, interpolated as `percentile_cont` does.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

// ---- Step 2: the daemon.

struct Daemon {
    child: Child,
    http: String,
    started: Instant,
}

impl Daemon {
    /// Starts `vigil serve` on `dir` with the generated monitors, every listener on port 0,
    /// and waits until `endpoints.json` names the addresses and `/readyz` answers 200.
    fn start(bin: &Path, dir: &Path) -> Daemon {
        let endpoints = endpoints_file(dir);
        let _ = fs::remove_file(&endpoints);
        let log = dir.with_extension("log");
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(dir.join(CONFIG))
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--otlp-grpc-addr",
                "127.0.0.1:0",
                "--otlp-http-addr",
                "127.0.0.1:0",
            ])
            .args(["--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("daemon log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e} (set VIGIL_BIN)", bin.display()));
        let started = Instant::now();
        let http = loop {
            if let Some(status) = child.try_wait().expect("daemon status") {
                panic!("the daemon exited with {status}; see {}", log.display());
            }
            let found = fs::read(&endpoints)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["http"].as_str().map(str::to_owned));
            if let Some(addr) = found {
                break format!("http://{addr}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "no endpoints.json"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let daemon = Daemon {
            child,
            http,
            started,
        };
        daemon.wait_for("/readyz", |status, _| status == 200);
        daemon
    }

    /// Polls `path` every 100 ms until `done(status, body)`.
    fn wait_for(&self, path: &str, done: impl Fn(u16, &str) -> bool) {
        let client = reqwest::blocking::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}{path}", self.http)).send() {
                let status = r.status().as_u16();
                if done(status, &r.text().unwrap_or_default()) {
                    return;
                }
            }
            assert!(
                self.started.elapsed() < Duration::from_secs(900),
                "waiting for {path}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fields of `/proc/PID/stat` after the command name: `[11]` utime, `[12]` stime.
    /// Returns user + system CPU so far in s (at the usual 100 ticks per second), and
    /// `VmHWM` (peak RSS) in MiB.
    fn usage(&self) -> (f64, f64) {
        let proc = |name: &str| {
            fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
        };
        let stat = proc("stat");
        let fields: Vec<f64> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        let cpu = (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0;
        let hwm_kib: f64 = proc("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        (cpu, hwm_kib / 1024.0)
    }

    /// SIGTERM, then waits for the clean stop.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

// ---- Step 3: the measurement.

fn gzip_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory").len()
}

/// Sum of a Prometheus metric's samples named exactly `name`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Measures every page and prints the figures as Markdown.
fn measure(daemon: &Daemon, args: &Args) {
    let ready = daemon.started.elapsed().as_secs_f64();
    // The monitor job restores every series from the latest `drift` rows before its first
    // pass; measuring before that would race the pages against the restore.
    daemon.wait_for("/metrics", |status, body| {
        status == 200 && metric(body, "vigil_monitor_pass_seconds_count") > 0.0
    });
    let (_, hwm) = daemon.usage();
    let log = fs::read_to_string(args.data_dir.with_extension("log")).unwrap_or_default();
    for line in log.lines().filter(|l| l.contains("ERROR")) {
        println!("daemon log: {line}");
    }
    println!(
        "ready after {ready:.1} s; first monitor pass (series restored) after {:.1} s; \
         peak RSS then {hwm:.0} MiB",
        daemon.started.elapsed().as_secs_f64()
    );
    // No gzip: the bytes counted are the bytes the server sent.
    let client = reqwest::blocking::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client");
    // Without tokens every page request is signed in anonymously; keep the session cookie
    // as a browser would, rather than make a session per request.
    let first = client
        .get(format!("{}/", daemon.http))
        .send()
        .expect("GET /");
    let cookie = first
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let overview = first.text().unwrap_or_default();
    let get = |path: &str, gzip: bool| {
        let mut request = client
            .get(format!("{}{path}", daemon.http))
            .header(reqwest::header::COOKIE, &cookie);
        if gzip {
            request = request.header(reqwest::header::ACCEPT_ENCODING, "gzip");
        }
        let sent = Instant::now();
        let response = request.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let encoding = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned());
        let body = response
            .bytes()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (status, sent.elapsed(), body, encoding)
    };
    // The assets the overview links (the stylesheet and htmx), asked for with gzip to see
    // whether the server compresses.
    let mut assets: Vec<&str> = overview
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .collect();
    assets.sort_unstable();
    assets.dedup();
    let (mut asset_raw, mut asset_gzip) = (0, 0);
    for path in assets {
        let (status, _, body, encoding) = get(path, true);
        asset_raw += body.len();
        asset_gzip += gzip_len(&body);
        println!(
            "asset `{path}` ({status}): {} bytes raw, {} gzip; the server sent Content-Encoding: {encoding}",
            body.len(),
            gzip_len(&body)
        );
    }
    let m0 = monitor_name(0);
    let confidence = (0..args.monitors)
        .find(|i| plan(*i).0 == "confidence")
        .map_or_else(|| m0.clone(), monitor_name);
    let chart = format!("/monitors/{m0}?series=agent-00");
    let distribution = format!("/monitors/{confidence}/distribution?series=agent-00");
    let pages = [
        ("overview (1 h)", "/".to_owned()),
        ("monitor (6 h)", chart.clone()),
        ("monitor (7 d)", format!("{chart}&from=now-7d")),
        ("distribution (6 h)", distribution),
        ("cost (7 d)", "/cost".to_owned()),
        ("alerts", "/alerts".to_owned()),
    ];
    println!(
        "\n{} requests per page after {WARMUPS} warm-ups, one at a time; assets {asset_raw} bytes \
         ({asset_gzip} gzip)\n",
        args.requests
    );
    println!(
        "| page | path | status | p50 ms | p95 ms | max ms | HTML bytes (gzip) | page weight bytes, HTML + assets (gzip) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (cpu_before, _) = daemon.usage();
    for (name, path) in pages {
        for _ in 0..WARMUPS {
            get(&path, false);
        }
        let mut latencies = Vec::with_capacity(args.requests);
        let mut last = (0, Default::default());
        for _ in 0..args.requests {
            let (status, took, body, _) = get(&path, false);
            latencies.push(took);
            last = (status, body);
        }
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        let q = |q: f64| at(q).as_secs_f64() * 1e3;
        let (status, body) = last;
        let (html, html_gzip) = (body.len(), gzip_len(&body));
        println!(
            "| {name} | `{path}` | {status} | {:.1} | {:.1} | {:.1} | {html} ({html_gzip}) | {} ({}) |",
            q(0.5),
            q(0.95),
            q(1.0),
            html + asset_raw,
            html_gzip + asset_gzip
        );
    }
    let (cpu_after, hwm) = daemon.usage();
    println!(
        "\ndaemon CPU over the measured requests: {:.1} s; peak RSS (VmHWM) after the run: {hwm:.0} MiB",
        cpu_after - cpu_before
    );
}
