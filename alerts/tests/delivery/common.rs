//! Shared setup: times, evaluations, receivers from TOML, a dispatcher on a temp dir.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use schemas::window::WindowPhase;
use serde::Deserialize;
use vigil_alerts::receiver::{
    AlertingConfig, Receiver, ReceiverConfig, SmtpConfig, validate_receivers,
};
use vigil_alerts::testing::ManualClock;
use vigil_alerts::{
    AlertRule, Dispatcher, DispatcherOptions, Evaluation, Notifier, Outcome, WindowFigures,
};

/// The webhook secret every test receiver signs with.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Seconds after a fixed epoch (2023-11-14T22:13:20Z).
pub fn t(sec: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap()
}

/// An evaluation of monitor `acc`, series `agent_name = series`, window ending at `sec`.
pub fn eval(series: &str, sec: i64, outcome: Outcome) -> Evaluation {
    Evaluation {
        monitor: "acc".into(),
        series: series.into(),
        labels: BTreeMap::from([("agent_name".to_owned(), series.to_owned())]),
        at: t(sec),
        figures: (outcome != Outcome::NoData).then(|| WindowFigures {
            detector: "cusum".into(),
            value: Some(0.81),
            statistic: Some(5.3),
            upper: Some(5.0),
            lower: Some(-5.0),
            baseline_mean: Some(0.9),
            baseline_sd: Some(0.05),
            window_start: t(sec - 60),
            window_end: t(sec),
            n: 42,
            phase: WindowPhase::Monitoring,
            alarm: outcome == Outcome::Alarm,
        }),
        outcome,
        annotations: BTreeMap::new(),
    }
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    alerting: AlertingConfig,
    #[serde(default)]
    receiver: Vec<ReceiverConfig>,
    smtp: Option<SmtpConfig>,
}

/// `[alerting]` + receivers parsed and validated from TOML; `HOOK_SECRET` is [`SECRET`].
pub fn config(toml_text: &str) -> (AlertingConfig, Vec<Receiver>) {
    let doc: Doc = toml::from_str(toml_text).unwrap();
    let env = |var: &str| (var == "HOOK_SECRET").then(|| SECRET.to_owned());
    let receivers =
        validate_receivers(&doc.alerting, &doc.receiver, doc.smtp.as_ref(), &env).unwrap();
    (doc.alerting, receivers)
}

/// A webhook receiver block.
pub fn webhook(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[receiver]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"HOOK_SECRET\"\n{extra}\n"
    )
}

/// Fast timers: flush at once, then every minute; repeat after an hour.
pub const ALERTING: &str = "[alerting]\ngroup_wait = \"0s\"\ngroup_interval = \"1m\"\nrepeat_interval = \"1h\"\nretry_initial = \"10s\"\n";

/// A rule for monitor `acc` notifying `receivers`.
pub fn rule(receivers: &[&str]) -> AlertRule {
    AlertRule {
        receivers: receivers.iter().map(|r| (*r).to_owned()).collect(),
        severity: "critical".into(),
        verify_windows: 2,
        ..AlertRule::new("acc")
    }
}

/// A data directory, a clock, and what to open a dispatcher with.
pub struct Setup {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub clock: ManualClock,
    pub alerting: AlertingConfig,
    pub receivers: Vec<Receiver>,
    pub rules: Vec<AlertRule>,
}

impl Setup {
    pub fn new(toml_text: &str, rules: Vec<AlertRule>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (alerting, receivers) = config(toml_text);
        Self {
            path: dir.path().join("alerts.redb"),
            _dir: dir,
            clock: ManualClock::new(t(0)),
            alerting,
            receivers,
            rules,
        }
    }

    /// The manual clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        use vigil_alerts::Clock;
        self.clock.now()
    }

    /// Opens (or reopens) the dispatcher with these notifiers.
    pub fn open(
        &self,
        notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    ) -> Result<Dispatcher, vigil_alerts::Error> {
        Dispatcher::open(DispatcherOptions {
            path: self.path.clone(),
            alerting: self.alerting.clone(),
            external_url: "http://vigil.test".into(),
            rules: self.rules.clone(),
            receivers: self.receivers.clone(),
            notifiers,
            clock: Arc::new(self.clock.clone()),
            jitter_seed: Some(7),
        })
    }

    /// Opens with the real notifiers of the receivers.
    pub fn open_real(&self) -> Dispatcher {
        self.open(vigil_alerts::build_notifiers(&self.receivers).unwrap())
            .unwrap()
    }
}

/// Notifiers map with one entry.
pub fn one(name: &str, n: Arc<dyn Notifier>) -> BTreeMap<String, Arc<dyn Notifier>> {
    BTreeMap::from([(name.to_owned(), n)])
}

/// A generous bound for waits on readiness signals (never a sleep).
pub const PATIENCE: Duration = Duration::from_secs(20);
