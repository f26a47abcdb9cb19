//! Log filtering and subscriber setup.
//!
//! `RUST_LOG=info` is what people type first when something is wrong, and
//! taken literally it floods the log: the storage library (deltalake) emits
//! several long INFO spans per commit (snapshot builder, scan metadata), so
//! every flush buries Vigil's own lines. Following Vector's `VECTOR_LOG`
//! convention, a level given as a bare word therefore applies to Vigil's own
//! crates only, while libraries stay at `warn`; library chatter needs an
//! explicit directive such as `RUST_LOG=info,deltalake=info`.
//!
//! The level comes from `--log-level` (or `VIGIL_LOG_LEVEL`) if given, else from
//! `RUST_LOG`, else from the config file's `log_level`; without any, own crates log at
//! `info` and libraries at `warn`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

use crate::config::LogFormat;

/// Tracing targets (crate names, with underscores) of Vigil's own crates:
/// a bare level word applies to these.
pub const OWN_CRATES: &[&str] = &[
    "vigil",
    "vigil_collector",
    "vigil_analytics",
    "vigil_alerts",
    "vigil_schemas",
    "vigil_dashboards",
];

/// Level that libraries get when the user names no level for them.
const LIBRARY_DEFAULT: LevelFilter = LevelFilter::WARN;

/// Level that own crates get when the user gives nothing.
const OWN_DEFAULT: LevelFilter = LevelFilter::INFO;

/// Turns what the user gave (the `--log-level` value, else `RUST_LOG`, else
/// `None`) into `EnvFilter` directives.
///
/// - `None` or empty: `warn` for everything, `info` for each of [`OWN_CRATES`].
/// - A bare level word (`trace`, `debug`, `info`, `warn`, `error`, `off`; any
///   case): that level for each own crate; libraries get the less verbose of
///   `warn` and the given level, so `error` and `off` quieten them too.
/// - Anything else is `EnvFilter` directive syntax, passed through unchanged,
///   except that a bare level among comma-separated directives is treated as
///   above (`info,deltalake=info`: own crates and deltalake at `info`, other
///   libraries at `warn`). If several bare levels are given, the last wins.
///   Explicit directives come last, so they win for their target; an own-crate
///   directive whose target is covered by an explicit `target=level`
///   directive (e.g. `vigil=debug`, which also matches `vigil_collector`) is
///   left out, so the explicit one applies as it would in plain `RUST_LOG`.
///
/// The result is not validated here; invalid directives are reported by
/// [`init`].
pub fn directives(spec: Option<&str>) -> String {
    let parts: Vec<&str> = spec
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        return own_level_directives(OWN_DEFAULT, &[]);
    }

    let mut own_level = None;
    let mut explicit = Vec::new();
    for part in parts {
        match bare_level(part) {
            Some(level) => own_level = Some(level),
            None => explicit.push(part),
        }
    }

    let explicit_targets: Vec<&str> = explicit.iter().filter_map(|d| plain_target(d)).collect();
    let mut out = match own_level {
        Some(level) => own_level_directives(level, &explicit_targets),
        None => String::new(),
    };
    for directive in explicit {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(directive);
    }
    out
}

/// Builds the filter from [`directives`] of `level` (the `--log-level` value), else
/// `RUST_LOG`, else `file_level` (the config file's `log_level`), and installs the global
/// subscriber: text or JSON lines on stderr.
///
/// Returns an error naming the source and the offending directive if the
/// spec does not parse (e.g. `RUST_LOG: invalid directive "x=bogus": ...`),
/// if `RUST_LOG` is not UTF-8, or if a global subscriber is already set.
pub fn init(
    format: LogFormat,
    level: Option<&str>,
    file_level: Option<&str>,
) -> Result<(), String> {
    let (source, spec) = match level {
        Some(level) => ("--log-level", Some(level.to_owned())),
        None => match std::env::var("RUST_LOG") {
            Ok(spec) => ("RUST_LOG", Some(spec)),
            Err(std::env::VarError::NotPresent) => ("log_level", file_level.map(str::to_owned)),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err("RUST_LOG: not valid UTF-8".to_owned());
            }
        },
    };
    let filter = env_filter(spec.as_deref(), source)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| format!("cannot install the log subscriber: {e}"))
}

/// Validates `spec` directive by directive (so an error can name the bad
/// one) and builds the `EnvFilter` for it. `source` names where the spec came
/// from, for the error message.
fn env_filter(spec: Option<&str>, source: &str) -> Result<EnvFilter, String> {
    for part in spec.unwrap_or_default().split(',').map(str::trim) {
        if part.is_empty() || bare_level(part).is_some() {
            continue;
        }
        if let Err(e) = part.parse::<Directive>() {
            return Err(format!("{source}: invalid directive \"{part}\": {e}"));
        }
    }
    let directives = directives(spec);
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| format!("{source}: invalid log filter \"{directives}\": {e}"))
}

/// The level named by `word` if it is a bare level word (any case).
fn bare_level(word: &str) -> Option<LevelFilter> {
    match word.to_ascii_lowercase().as_str() {
        "trace" => Some(LevelFilter::TRACE),
        "debug" => Some(LevelFilter::DEBUG),
        "info" => Some(LevelFilter::INFO),
        "warn" => Some(LevelFilter::WARN),
        "error" => Some(LevelFilter::ERROR),
        "off" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// The target of a directive that filters by target alone (`target=level` or
/// a bare `target`), or `None` for directives with span or field filters.
fn plain_target(directive: &str) -> Option<&str> {
    if directive.contains('[') {
        return None;
    }
    let target = directive
        .split_once('=')
        .map_or(directive, |(t, _)| t)
        .trim();
    (!target.is_empty()).then_some(target)
}

/// `<library level>,<own crate>=<level>,...` for own crates at `level`,
/// leaving out own crates matched by one of `explicit_targets` (an
/// `EnvFilter` target matches by prefix).
fn own_level_directives(level: LevelFilter, explicit_targets: &[&str]) -> String {
    // `LevelFilter` orders less verbose first: `OFF < ERROR < WARN < ...`.
    let mut out = LIBRARY_DEFAULT.min(level).to_string();
    for krate in OWN_CRATES {
        if explicit_targets.iter().any(|t| krate.starts_with(t)) {
            continue;
        }
        out.push_str(&format!(",{krate}={level}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// Own crates at `level`, libraries at `library`.
    fn expected(library: &str, level: &str) -> String {
        let mut s = library.to_owned();
        for krate in OWN_CRATES {
            s.push_str(&format!(",{krate}={level}"));
        }
        s
    }

    #[test]
    fn default_is_own_info_libraries_warn() {
        assert_eq!(directives(None), expected("warn", "info"));
        assert_eq!(directives(Some("")), expected("warn", "info"));
        assert_eq!(directives(Some(" , ")), expected("warn", "info"));
    }

    #[test]
    fn bare_word_applies_to_own_crates_only() {
        assert_eq!(directives(Some("info")), expected("warn", "info"));
        assert_eq!(directives(Some("DEBUG")), expected("warn", "debug"));
        assert_eq!(directives(Some(" trace ")), expected("warn", "trace"));
        assert_eq!(directives(Some("warn")), expected("warn", "warn"));
    }

    #[test]
    fn error_and_off_lower_libraries_too() {
        assert_eq!(directives(Some("error")), expected("error", "error"));
        assert_eq!(directives(Some("Off")), expected("off", "off"));
    }

    #[test]
    fn bare_level_with_library_directive() {
        assert_eq!(
            directives(Some("info,deltalake=info")),
            format!("{},deltalake=info", expected("warn", "info"))
        );
    }

    #[test]
    fn target_directive_passes_through() {
        assert_eq!(
            directives(Some("vigil_collector=debug")),
            "vigil_collector=debug"
        );
        assert_eq!(
            directives(Some("vigil_collector::ingest[flush]=trace")),
            "vigil_collector::ingest[flush]=trace"
        );
    }

    #[test]
    fn explicit_own_directive_replaces_generated_one() {
        let d = directives(Some("info,vigil_collector=debug"));
        assert!(!d.contains("vigil_collector=info"), "{d}");
        assert!(d.ends_with(",vigil_collector=debug"), "{d}");
        assert!(d.contains("vigil_alerts=info"), "{d}");
        // `vigil` matches every `vigil_*` target, as in plain `RUST_LOG`.
        assert_eq!(directives(Some("info,vigil=debug")), "warn,vigil=debug");
    }

    #[test]
    fn invalid_directive_is_named() {
        let err = env_filter(Some("info,x=bogus"), "RUST_LOG").unwrap_err();
        assert!(
            err.starts_with("RUST_LOG: invalid directive \"x=bogus\": "),
            "{err}"
        );
        // Fails before installing anything, so this leaves no global state.
        let err = init(LogFormat::Text, Some("x=bogus"), None).unwrap_err();
        assert!(
            err.starts_with("--log-level: invalid directive \"x=bogus\": "),
            "{err}"
        );
    }

    #[test]
    fn valid_specs_build() {
        for spec in [
            None,
            Some("info"),
            Some("off"),
            Some("info,deltalake=info"),
            Some("vigil_collector=debug"),
            Some("info,vigil=debug"),
        ] {
            assert!(env_filter(spec, "test").is_ok(), "{spec:?}");
        }
    }

    /// A writer appending to a shared buffer.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What events from a library and an own crate produce under `spec`.
    fn output(spec: &str) -> String {
        let buf = Shared::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(env_filter(Some(spec), "test").unwrap())
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "deltalake_core", "library info");
            tracing::warn!(target: "deltalake_core", "library warning");
            tracing::info!(target: "vigil_collector", "own info");
            tracing::debug!(target: "vigil_collector", "own debug");
        });
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn info_filters_library_info_but_not_own_info() {
        let out = output("info");
        assert!(out.contains("own info"), "{out}");
        assert!(out.contains("library warning"), "{out}");
        assert!(!out.contains("library info"), "{out}");
        assert!(!out.contains("own debug"), "{out}");
    }

    #[test]
    fn explicit_library_directive_lets_library_info_through() {
        let out = output("info,deltalake=info");
        assert!(out.contains("own info"), "{out}");
        assert!(out.contains("library info"), "{out}");
        assert!(!out.contains("own debug"), "{out}");
    }

    #[test]
    fn error_silences_library_warnings() {
        let out = output("error");
        assert!(out.is_empty(), "{out}");
    }
}
