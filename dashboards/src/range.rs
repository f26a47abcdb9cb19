//! The `from`/`to` time range every page takes, spelled as Grafana users expect:
//! `now`, `now-6h`, `now-7d` (a [humantime](https://docs.rs/humantime) duration after
//! `now-`), an RFC 3339 time, or a date (`YYYY-MM-DD`: its midnight UTC as `from`, the next
//! midnight as `to`, as `vigil report cost` reads dates).

use std::fmt;

use analytics::report::{Bound, parse_bound};
use chrono::{DateTime, Utc};

use crate::pages::Error;

/// A half-open range `[from, to)` of UTC times, with the text the user gave (kept for
/// links, so a relative range stays relative across refreshes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start, ns since the Unix epoch.
    pub from_ns: i64,
    /// Exclusive end, ns since the Unix epoch.
    pub to_ns: i64,
    /// `from` as given (or the default).
    pub from_text: String,
    /// `to` as given (or the default).
    pub to_text: String,
}

impl TimeRange {
    /// Reads `from` and `to` (either may be absent: `default_from` and `now`).
    ///
    /// # Errors
    /// [`Error::BadParameter`] naming `from` or `to` and what is wrong with it, or the
    /// range when `from` is not before `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        default_from: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let from_text = from
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(default_from);
        let to_text = to.filter(|s| !s.trim().is_empty()).unwrap_or("now");
        let from_ns = bound(from_text, Bound::From, now)?;
        let to_ns = bound(to_text, Bound::To, now)?;
        if from_ns >= to_ns {
            return Err(Error::BadParameter {
                parameter: "from",
                message: format!("{from_text:?} is not before to = {to_text:?}"),
            });
        }
        Ok(TimeRange {
            from_ns,
            to_ns,
            from_text: from_text.trim().to_owned(),
            to_text: to_text.trim().to_owned(),
        })
    }

    /// The range's length in ns.
    pub fn span_ns(&self) -> i64 {
        self.to_ns - self.from_ns
    }

    /// `from=…&to=…`, percent-encoded, for links that keep the range.
    pub fn query(&self) -> String {
        format!(
            "from={}&to={}",
            crate::layout::encode(&self.from_text),
            crate::layout::encode(&self.to_text)
        )
    }
}

impl fmt::Display for TimeRange {
    /// `2026-12-06 12:00 – 18:00 UTC` style, for headings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = schemas::window::time_of_ns(self.from_ns);
        let to = schemas::window::time_of_ns(self.to_ns);
        write!(
            f,
            "{} – {} UTC",
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M")
        )
    }
}

fn bound(text: &str, which: Bound, now: DateTime<Utc>) -> Result<i64, Error> {
    let text = text.trim();
    let parameter = match which {
        Bound::From => "from",
        Bound::To => "to",
    };
    let now_ns = schemas::window::ns_of_time(now);
    if text == "now" {
        return Ok(now_ns);
    }
    if let Some(ago) = text.strip_prefix("now-") {
        let duration = humantime::parse_duration(ago).map_err(|e| Error::BadParameter {
            parameter,
            message: format!("{text:?}: {e} (use e.g. now-6h, now-7d)"),
        })?;
        let ns = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        return Ok(now_ns.saturating_sub(ns));
    }
    parse_bound(text, which).map_err(|e| Error::BadParameter {
        parameter,
        message: format!("{e} (or now, now-6h)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-06T18:00:00Z".parse().unwrap()
    }

    #[test]
    fn relative_ranges_count_back_from_now() {
        let r = TimeRange::parse(Some("now-6h"), None, "now-1h", now()).unwrap();
        assert_eq!(r.span_ns(), 6 * 3_600_000_000_000);
        assert_eq!(r.to_ns, schemas::window::ns_of_time(now()));
        let d = TimeRange::parse(None, None, "now-7d", now()).unwrap();
        assert_eq!(d.span_ns(), 7 * 86_400_000_000_000);
        assert_eq!(d.query(), "from=now-7d&to=now");
    }

    #[test]
    fn dates_and_rfc3339_read_as_the_cost_report_reads_them() {
        let r = TimeRange::parse(Some("2026-12-01"), Some("2026-12-01"), "now-1h", now()).unwrap();
        assert_eq!(r.span_ns(), 86_400_000_000_000);
        let t = TimeRange::parse(
            Some("2026-12-06T10:00:00Z"),
            Some("2026-12-06T10:30:00Z"),
            "now-1h",
            now(),
        )
        .unwrap();
        assert_eq!(t.span_ns(), 1_800_000_000_000);
        assert_eq!(t.to_string(), "2026-12-06 10:00 – 2026-12-06 10:30 UTC");
    }

    #[test]
    fn bad_bounds_name_the_parameter() {
        let e = TimeRange::parse(Some("yesterday"), None, "now-1h", now()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadParameter {
                    parameter: "from",
                    ..
                }
            ),
            "{e}"
        );
        let e = TimeRange::parse(Some("now-3q"), None, "now-1h", now()).unwrap_err();
        assert!(e.to_string().contains("now-3q"), "{e}");
        let e = TimeRange::parse(Some("now"), Some("now-1h"), "now-1h", now()).unwrap_err();
        assert!(e.to_string().contains("not before"), "{e}");
    }
}
