//! `vigil backtest`: replay stored history through one monitor (or a variant of it, with
//! `--set key=value`) and print the windows it would have alarmed on, without alerting
//! and without writing anything. With `--change-at T` (a known change point) it also
//! reports the detection delay and the false alarms before the change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use analytics::monitor::{DriftRow, MonitorConfig, Scheduler, SqlSource};
use analytics::report::{Bound, parse_bound};
use anyhow::Context;
use clap::Args;
use schemas::window::WindowPhase;
use serde_json::json;

use super::Failure;
use super::source::{Source, SourceArgs, open_data_dir};
use super::sql::OutputFormat;

/// Flags of `vigil backtest` (SPEC §2).
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The config file holding the monitor.
    #[arg(long)]
    pub config: PathBuf,
    /// The `[[monitor]]` name.
    #[arg(long)]
    pub monitor: String,
    /// Start (RFC 3339 or a date) [default: the first data].
    #[arg(long)]
    pub from: Option<String>,
    /// End, exclusive (RFC 3339, or a date meaning its end) [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// Override a monitor key for this run, e.g. `--set h=4 --set detector=ewma`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A known change point: report the detection delay and the false alarms before it.
    #[arg(long)]
    pub change_at: Option<String>,
    /// Where to read.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Runs the command; prints to stdout.
pub fn main(args: BacktestArgs) -> ExitCode {
    super::block_on(run(args))
}

/// Runs the command: [`Failure::Usage`] for a bad flag or config; other errors when the
/// data cannot be read.
async fn run(args: BacktestArgs) -> Result<(), Failure> {
    let monitor = monitor(&args)?;
    let bound = |text: &Option<String>, which: Bound, default: i64| {
        text.as_deref()
            .map(|t| parse_bound(t, which).map_err(|e| Failure::Usage(e.to_string())))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let from = bound(&args.from, Bound::From, 0)?;
    let to = bound(
        &args.to,
        Bound::To,
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX),
    )?;
    if from >= to {
        return Err(Failure::Usage("--from must be before --to".into()));
    }
    let change_at = args
        .change_at
        .as_deref()
        .map(|t| {
            parse_bound(t, Bound::From).map_err(|e| Failure::Usage(format!("--change-at: {e}")))
        })
        .transpose()?;
    let source: Box<dyn SqlSource> = match args.source.source() {
        Source::Server(server) => Box::new(server),
        Source::DataDir(mut offline) => {
            // The monitor's config file also says where the tables live.
            offline.config = Some(args.config.clone());
            Box::new(open_data_dir(&offline).await?)
        }
    };
    let window = monitor.window_ns;
    let lateness = monitor.lateness_ns;
    let name = monitor.name.clone();
    let mut scheduler = Scheduler::new(vec![monitor]);
    if args.from.is_some() {
        scheduler.start_at(from);
    }
    let pass = scheduler
        .evaluate(source.as_ref(), to.saturating_add(lateness))
        .await
        .context("evaluating the windows")?;
    for problem in &pass.problems {
        eprintln!("vigil: {problem}");
    }
    let rows: Vec<&DriftRow> = pass.rows.iter().filter(|r| r.start_ns() >= from).collect();
    Ok(print(&name, window, &rows, change_at, args.format)?)
}

/// The monitor named `--monitor` from `--config`, with `--set` overrides applied.
fn monitor(args: &BacktestArgs) -> Result<analytics::monitor::Monitor, Failure> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.config.display())))?;
    let mut doc: toml::Table = toml::from_str(&text)
        .map_err(|e| Failure::Usage(format!("{}: {}", args.config.display(), e.message())))?;
    let monitors = doc
        .remove("monitor")
        .and_then(|m| match m {
            toml::Value::Array(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default();
    let (index, mut table) = monitors
        .into_iter()
        .enumerate()
        .find_map(|(i, m)| match m {
            toml::Value::Table(t)
                if t.get("name").and_then(|n| n.as_str()) == Some(&args.monitor) =>
            {
                Some((i, t))
            }
            _ => None,
        })
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--monitor: no [[monitor]] named {:?} in {}",
                args.monitor,
                args.config.display()
            ))
        })?;
    for assignment in &args.set {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("--set {assignment:?}: expected KEY=VALUE")))?;
        let parsed: toml::Table = toml::from_str(&format!("v = {value}"))
            .or_else(|_| toml::from_str(&format!("v = {:?}", value)))
            .map_err(|e| Failure::Usage(format!("--set {key}: {}", e.message())))?;
        table.insert(key.trim().to_owned(), parsed["v"].clone());
    }
    let config: MonitorConfig =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                Failure::Usage(format!("monitor[{index}]: {}", e.message()))
            })?;
    config
        .validate(index)
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn print(
    monitor: &str,
    window_ns: i64,
    rows: &[&DriftRow],
    change_at: Option<i64>,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let alarms: Vec<&&DriftRow> = rows.iter().filter(|r| r.figures.alarm).collect();
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    for row in &alarms {
        let after = change_at.is_none_or(|c| row.end_ns() > c);
        if after {
            first.entry(row.series.as_str()).or_insert(row.start_ns());
        }
    }
    let false_alarms = change_at.map(|c| alarms.iter().filter(|r| r.end_ns() <= c).count());
    let delays: BTreeMap<&str, f64> = match change_at {
        Some(c) => first
            .iter()
            .map(|(s, start)| (*s, ((start + window_ns).max(c) - c) as f64 / 1e9))
            .collect(),
        None => BTreeMap::new(),
    };
    let time = |ns: i64| {
        chrono::DateTime::from_timestamp_nanos(ns)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.6}"));
    match format {
        OutputFormat::Json => {
            let out = json!({
                "monitor": monitor,
                "windows": rows.len(),
                "baseline_windows": rows.iter().filter(|r| r.figures.phase == WindowPhase::Baseline).count(),
                "alarms": alarms.iter().map(|r| json!({
                    "series": r.series, "window_start": time(r.start_ns()),
                    "window_end": time(r.end_ns()), "value": r.figures.value,
                    "statistic": r.figures.statistic, "upper": r.figures.upper,
                    "lower": r.figures.lower,
                })).collect::<Vec<_>>(),
                "first_alarm": first.iter().map(|(s, t)| (s.to_string(), json!(time(*t)))).collect::<serde_json::Map<_, _>>(),
                "false_alarms_before_change": false_alarms,
                "detection_delay_seconds": delays,
            });
            println!("{out}");
        }
        OutputFormat::Csv | OutputFormat::Table => {
            let sep = if format == OutputFormat::Csv {
                ","
            } else {
                "  "
            };
            println!(
                "{}",
                [
                    "series",
                    "window_start",
                    "window_end",
                    "value",
                    "statistic",
                    "upper",
                    "lower"
                ]
                .join(sep)
            );
            for r in &alarms {
                println!(
                    "{}",
                    [
                        r.series.clone(),
                        time(r.start_ns()),
                        time(r.end_ns()),
                        num(r.figures.value),
                        num(r.figures.statistic),
                        num(r.figures.upper),
                        num(r.figures.lower),
                    ]
                    .join(sep)
                );
            }
            if format == OutputFormat::Table {
                println!(
                    "\n{monitor}: {} window(s) evaluated ({} in Phase I), {} alarm(s)",
                    rows.len(),
                    rows.iter()
                        .filter(|r| r.figures.phase == WindowPhase::Baseline)
                        .count(),
                    alarms.len()
                );
                if let Some(f) = false_alarms {
                    println!("false alarms before the change: {f}");
                    for (series, delay) in &delays {
                        println!(
                            "detection delay of {series:?}: {delay:.0} s ({:.1} windows)",
                            delay * 1e9 / window_ns as f64
                        );
                    }
                    if delays.is_empty() {
                        println!("the change was not detected");
                    }
                }
            }
        }
    }
    Ok(())
}
