//! `[retention]`: how long each table keeps its rows, and the job that drops whole `date`
//! partitions once they are past it.
//!
//! A partition holds one UTC day of a table's rows, by their `time`
//! ([`schemas::tables::partition_date`]). It is expired when the whole day is older than
//! `now - limit`, that is when the day's end (the next midnight, UTC) is at or before
//! `now - limit` ([`expired`]); so a row is kept at least `limit` and at most `limit` plus
//! one day. [`RetentionConfig`] is the section as written, [`Retention`] the validated
//! limits, [`plan`] the pure rule over a table's partitions, and
//! [`Collector::enforce_retention`] the job, which the flush loop runs every
//! `[retention] interval`, the first time [`FIRST_RUN_DELAY`] (or the interval, if
//! shorter) after start.
//!
//! What the job can never reach: the job holds the store lock that every flush and
//! compaction holds, and only removes files of committed Delta versions. Rows still in the
//! hot buffer or in the un-flushed part of the WAL are in no Delta file yet, so no delete
//! can touch them; a late or back-dated export for an expired day lands in its partition
//! at its flush and is dropped by the next run. The delete's commit records no WAL
//! sequence, and Delta keeps each application's latest `txn` across commits, so the
//! table's sequence stays that of its last append: a replay after a crash skips every
//! record the table had committed, deleted rows included, and nothing comes back.
//! The removed files are deleted from disk by [`Store::vacuum`] once older than `[storage]
//! vacuum_retention`, so a query still reading the previous version finishes.
//!
//! Not here: compaction ([`crate::store`]), the schedule's loop (`Collector::run_flusher`),
//! `vigil check-config`'s printing (the root), which calls [`plan_offline`].

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use schemas::config::ConfigError;
use schemas::paths::TablesLocation;
use schemas::tables::Table;
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::store::{Partition, partitions_of};
use crate::{Collector, Store};

const DAY: Duration = Duration::from_secs(86_400);

/// The longest wait for the first run after a start. Not at once: a start is busy
/// replaying the WAL and catching up, as it is for compaction; but soon, so a daemon
/// restarted more often than `interval` still enforces its limits.
pub const FIRST_RUN_DELAY: Duration = Duration::from_secs(600);

/// How long a table keeps its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing is ever deleted (`"forever"`).
    Forever,
    /// A day is deleted once its end is this long ago (`"30d"`, humantime syntax).
    For(Duration),
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Keep, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "forever" {
            return Ok(Keep::Forever);
        }
        humantime_serde::re::humantime::parse_duration(&text)
            .map(Keep::For)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{text:?} is neither a duration (\"30d\", \"12w\", \"400d\") nor \"forever\" ({e})"
                ))
            })
    }
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keep::Forever => f.write_str("forever"),
            Keep::For(limit) => write!(
                f,
                "{}",
                humantime_serde::re::humantime::format_duration(*limit)
            ),
        }
    }
}

/// `[retention]` as written; every key optional. Defaults: `spans`, `scores` and `metrics`
/// 30 days, `drift` 400 days (a year of monitor history and its seasonality), `alerts` and
/// `audit` forever, a run every hour.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `spans`.
    pub spans: Keep,
    /// `scores`.
    pub scores: Keep,
    /// `metrics`.
    pub metrics: Keep,
    /// `drift` (the monitors' window rows; a series' state resumes from its latest row).
    pub drift: Keep,
    /// `alerts` (the alert history).
    pub alerts: Keep,
    /// `audit`: only `"forever"` is accepted (see [`RetentionConfig::policy`]).
    pub audit: Keep,
    /// How often the job looks for expired partitions.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let defaults = Retention::default();
        Self {
            spans: defaults.keep(Table::Spans),
            scores: defaults.keep(Table::Scores),
            metrics: defaults.keep(Table::Metrics),
            drift: defaults.keep(Table::Drift),
            alerts: defaults.keep(Table::Alerts),
            audit: defaults.keep(Table::Audit),
            interval: defaults.interval,
        }
    }
}

impl RetentionConfig {
    /// The validated limits.
    ///
    /// # Errors
    /// Naming the key (`retention.spans`): a limit under one day (partitions are whole
    /// days, and `"30m"` for `"30d"` would empty a table), a limit on `audit` (the audit
    /// log is one hash chain from `seq` 1: deleting its first days would make `vigil audit
    /// verify` report deleted rows, and an emptied table would restart the chain), or a
    /// zero `interval`.
    pub fn policy(&self) -> std::result::Result<Retention, ConfigError> {
        let mut limits = [Keep::Forever; Table::ALL.len()];
        for (table, keep) in [
            (Table::Spans, self.spans),
            (Table::Scores, self.scores),
            (Table::Metrics, self.metrics),
            (Table::Drift, self.drift),
            (Table::Alerts, self.alerts),
            (Table::Audit, self.audit),
        ] {
            let key = format!("retention.{}", table.name());
            match keep {
                Keep::For(_) if table == Table::Audit => {
                    return Err(ConfigError::new(
                        &key,
                        "only \"forever\" is accepted: the audit log is one hash chain from seq 1, and deleting its oldest days would make `vigil audit verify` report them as deleted rows",
                    ));
                }
                Keep::For(limit) if limit < DAY => {
                    return Err(ConfigError::new(
                        &key,
                        format!(
                            "{} is under one day: tables are kept in whole days (write \"forever\" to keep everything)",
                            humantime_serde::re::humantime::format_duration(limit)
                        ),
                    ));
                }
                _ => limits[table.index()] = keep,
            }
        }
        if self.interval.is_zero() {
            return Err(ConfigError::new(
                "retention.interval",
                "must be greater than 0s",
            ));
        }
        Ok(Retention {
            limits,
            interval: self.interval,
        })
    }
}

/// Validated `[retention]`: a [`Keep`] per table and the job's interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    limits: [Keep; Table::ALL.len()],
    /// How often the job runs (the first run: [`Retention::first_run`]).
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        let mut limits = [Keep::Forever; Table::ALL.len()];
        for (table, days) in [
            (Table::Spans, 30),
            (Table::Scores, 30),
            (Table::Metrics, 30),
            (Table::Drift, 400),
        ] {
            limits[table.index()] = Keep::For(DAY * days);
        }
        Self {
            limits,
            interval: Duration::from_secs(3600),
        }
    }
}

impl Retention {
    /// Nothing is ever deleted (a read-only or test collector).
    pub fn forever() -> Self {
        Self {
            limits: [Keep::Forever; Table::ALL.len()],
            ..Self::default()
        }
    }

    /// When the first run is due for a collector started at `started`: after
    /// [`FIRST_RUN_DELAY`] or the interval, whichever is shorter.
    pub fn first_run(&self, started: Instant) -> Instant {
        started + self.interval.min(FIRST_RUN_DELAY)
    }

    /// How long `table` keeps its rows.
    pub fn keep(&self, table: Table) -> Keep {
        self.limits[table.index()]
    }

    /// The tables with a limit, with it.
    fn limited(&self) -> impl Iterator<Item = (Table, Duration)> + '_ {
        Table::ALL.into_iter().filter_map(|t| match self.keep(t) {
            Keep::For(limit) => Some((t, limit)),
            Keep::Forever => None,
        })
    }
}

/// When the `date` partition `day` expires under `limit`: the end of the day (the next
/// midnight, UTC) plus `limit`. `None` when that is past the calendar's end (never).
pub fn expires_at(day: NaiveDate, limit: Duration) -> Option<DateTime<Utc>> {
    let end = day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
    end.checked_add_signed(chrono::Duration::from_std(limit).ok()?)
}

/// Whether the `date` partition `day` is expired at `now` under `limit`: its whole day is
/// at least `limit` older than `now` (a day that ends exactly at `now - limit` is expired;
/// one nanosecond later it is not).
pub fn expired(day: NaiveDate, limit: Duration, now: DateTime<Utc>) -> bool {
    expires_at(day, limit).is_some_and(|at| at <= now)
}

/// What retention does to one table at a given time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePlan {
    /// The table.
    pub table: Table,
    /// Its limit.
    pub keep: Keep,
    /// The partitions expired now, oldest first: what a run would delete.
    pub expired: Vec<Partition>,
    /// The oldest partition kept, and when it expires (`None`: never).
    pub next: Option<(Partition, Option<DateTime<Utc>>)>,
}

/// The pure rule: splits `partitions` (oldest first) of `table` into the expired ones and
/// the next to expire. A partition whose value is not a `YYYY-MM-DD` date is never
/// expired (kept, and logged by the job).
pub fn plan(table: Table, keep: Keep, partitions: Vec<Partition>, now: DateTime<Utc>) -> TablePlan {
    let day = |p: &Partition| NaiveDate::parse_from_str(&p.date, "%Y-%m-%d").ok();
    let mut expired_now = Vec::new();
    let mut next = None;
    for partition in partitions {
        let at = match (keep, day(&partition)) {
            (Keep::For(limit), Some(day)) => expires_at(day, limit),
            _ => None,
        };
        if at.is_some_and(|at| at <= now) {
            expired_now.push(partition);
        } else if next.is_none() {
            next = Some((partition, at));
        }
    }
    TablePlan {
        table,
        keep,
        expired: expired_now,
        next,
    }
}

/// What one run removed from one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The table.
    pub table: Table,
    /// The partitions removed (their files, bytes and rows as the log recorded them).
    pub partitions: Vec<Partition>,
    /// The Delta version that removed them.
    pub version: i64,
    /// Data files deleted from disk by the vacuum that followed (files removed less than
    /// `[storage] vacuum_retention` ago stay until a later vacuum).
    pub files_vacuumed: usize,
}

impl Collector {
    /// Drops every partition expired at `now` from every table with a limit, one commit
    /// of remove actions per table, then vacuums that table; publishes each new version
    /// to the snapshots and counts what went in the `vigil_retention_*` metrics. Tables
    /// with nothing expired are not touched.
    ///
    /// When this returns `Ok`, no committed partition expired at `now` is in the current
    /// version of any table. Rows in the hot buffer or the WAL are never touched (see the
    /// module docs).
    ///
    /// # Errors
    /// When reading a table's log, a delete commit or a vacuum fails; tables handled before
    /// stay handled, the failing one is unchanged or has only its vacuum left to do.
    pub async fn enforce_retention(&self, now: DateTime<Utc>) -> Result<Vec<Dropped>> {
        let mut store = self.store.lock().await;
        let mut dropped = Vec::new();
        for (table, limit) in self.config.retention.limited() {
            let name = table.name();
            let plan = plan(table, Keep::For(limit), store.partitions(table)?, now);
            if let Some((oldest, _)) = &plan.next {
                warn_unless_date(table, oldest);
            }
            if let Some(day) = plan.next.as_ref().and_then(|(p, _)| day_start(&p.date)) {
                metrics::gauge!("vigil_retention_oldest_partition_timestamp_seconds", "table" => name)
                    .set(day as f64);
            }
            let partitions =
                metrics::counter!("vigil_retention_partitions_deleted_total", "table" => name);
            let bytes = metrics::counter!("vigil_retention_bytes_deleted_total", "table" => name);
            let rows = metrics::counter!("vigil_retention_rows_deleted_total", "table" => name);
            if plan.expired.is_empty() {
                // Present at zero, so that a rate over them is defined from the first run.
                for counter in [&partitions, &bytes, &rows] {
                    counter.increment(0);
                }
                continue;
            }
            let dates: Vec<String> = plan.expired.iter().map(|p| p.date.clone()).collect();
            let Some(version) = store.drop_partitions(table, &dates).await? else {
                continue;
            };
            self.hot.set_version(table, version);
            partitions.increment(plan.expired.len() as u64);
            bytes.increment(plan.expired.iter().map(|p| p.bytes).sum());
            rows.increment(plan.expired.iter().filter_map(|p| p.rows).sum());
            let files_vacuumed =
                vacuum(&mut store, table, self.config.vacuum_retention, version).await?;
            if let Some(vacuumed) = store.version(table).filter(|v| *v != version) {
                self.hot.set_version(table, vacuumed);
            }
            tracing::info!(
                table = name,
                limit = %Keep::For(limit),
                first = dates.first().map(String::as_str),
                last = dates.last().map(String::as_str),
                partitions = dates.len(),
                bytes = plan.expired.iter().map(|p| p.bytes).sum::<u64>(),
                version,
                files_vacuumed,
                "retention dropped expired days"
            );
            dropped.push(Dropped {
                table,
                partitions: plan.expired,
                version,
                files_vacuumed,
            });
        }
        metrics::gauge!("vigil_retention_last_run_timestamp_seconds").set(now.timestamp() as f64);
        Ok(dropped)
    }

    /// Runs [`Collector::enforce_retention`] if `due` has come and some table has a limit;
    /// returns when the next run is due. A failure is logged and counted
    /// (`vigil_retention_failures_total`) and retried at the next interval.
    pub(crate) async fn retention_tick(&self, due: Instant) -> Instant {
        let retention = &self.config.retention;
        if Instant::now() < due || retention.limited().next().is_none() {
            return due;
        }
        if let Err(e) = self.enforce_retention(Utc::now()).await {
            metrics::counter!("vigil_retention_failures_total").increment(1);
            tracing::error!(error = %e, "retention failed; retrying at the next interval");
        }
        Instant::now() + retention.interval
    }
}

/// Vacuums `table` after the retention commit `version`; the commit stands whatever the
/// vacuum does, so its failure is reported with the version.
async fn vacuum(
    store: &mut Store,
    table: Table,
    retention: Duration,
    version: i64,
) -> Result<usize> {
    store.vacuum(table, retention).await.map_err(|e| {
        Error::Failed(format!(
            "{}: version {version} dropped expired days, then the vacuum failed ({e}); the next compaction vacuums again",
            table.name()
        ))
    })
}

/// The unix time (s) of the start of the day `date` (`YYYY-MM-DD`), UTC.
fn day_start(date: &str) -> Option<i64> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// Logs a partition whose value is not a date (never written by Vigil): retention keeps it.
fn warn_unless_date(table: Table, partition: &Partition) {
    if day_start(&partition.date).is_none() {
        tracing::warn!(
            table = table.name(),
            date = partition.date,
            "a date partition that is not YYYY-MM-DD; retention keeps it"
        );
    }
}

/// What a retention run at `now` would do to the tables at `location`, read from the
/// Delta logs without changing anything (for `vigil check-config`). A table not created
/// yet has no partitions. Rows only in the WAL are not counted: they are not yet in any
/// partition.
///
/// # Errors
/// When a table exists but its log cannot be read, or the store cannot be reached.
pub async fn plan_offline(
    location: &TablesLocation,
    retention: &Retention,
    now: DateTime<Utc>,
) -> Result<Vec<TablePlan>> {
    let mut plans = Vec::new();
    for table in Table::ALL {
        let partitions = match crate::store::load(location, table).await? {
            Some(delta) => partitions_of(&delta, table)?,
            None => Vec::new(),
        };
        plans.push(plan(table, retention.keep(table), partitions, now));
    }
    Ok(plans)
}

#[cfg(test)]
mod tests;
