//! The series cap of a monitor (`max_series`): a `group_by` value comes from ingested
//! data, so spans with random agent names would otherwise make unbounded series, state,
//! `drift` rows and alerts.
//!
//! A monitor tracks at most `max_series` series, admitted in order of first appearance
//! (window by window; within a window by the time of the series' first row, then by
//! name). Every later series is folded into one *overflow series* whose every `group_by`
//! label is [`OVERFLOW`]. Its KPI is measured again over all the folded rows together
//! ([`overflow_filter`] selects them for the monitor's own window query), never merged
//! from per-series figures: a p99 of p99s is not the p99 of the rows. Admitted series
//! keep their slot for as long as they have state; after a restart the `drift` table's
//! latest row of each series restores it, so the assignment survives.
//!
//! This module is the pure core ([`admit`], names and the filter); the scheduler runs it.

use std::collections::{BTreeMap, BTreeSet};

use super::series::WindowMeasure;

/// The value of every `group_by` label of the overflow series. A real group value equal
/// to it is folded into the overflow series too (the name is reserved).
pub const OVERFLOW: &str = "__overflow__";

/// The overflow series' name for `columns` grouping columns: [`OVERFLOW`] per column,
/// joined with `,` as every series name is.
pub fn overflow_series(columns: usize) -> String {
    vec![OVERFLOW; columns.max(1)].join(",")
}

/// The overflow series' labels: every `group_by` column → [`OVERFLOW`].
pub fn overflow_labels(group_by: &[String]) -> BTreeMap<String, Option<String>> {
    group_by
        .iter()
        .map(|c| (c.clone(), Some(OVERFLOW.to_owned())))
        .collect()
}

/// What [`admit`] decided for one pass of one monitor.
#[derive(Debug, Default, PartialEq)]
pub struct Admitted {
    /// The measures of admitted series, in the order given.
    pub measures: Vec<WindowMeasure>,
    /// Series admitted by this pass (they had no state before).
    pub new: BTreeSet<String>,
    /// How many (window, series) measures were folded into the overflow series.
    pub folded: u64,
}

/// Splits a pass's measures (sorted by window, then first appearance) into those of
/// admitted series and the folded ones. `known` says whether a series already has a
/// slot; `slots` is how many it holds (the overflow series not counted), `limit` the
/// cap. A new series takes a free slot the first time it appears; once none is free,
/// every new series is folded, in this window and all later ones.
pub fn admit(
    measures: Vec<WindowMeasure>,
    known: impl Fn(&str) -> bool,
    slots: usize,
    limit: usize,
    overflow: &str,
) -> Admitted {
    let mut out = Admitted::default();
    let mut taken = slots;
    for measure in measures {
        let series = measure.series.as_str();
        let admitted = if series == overflow {
            false
        } else if known(series) || out.new.contains(series) {
            true
        } else if taken < limit {
            taken += 1;
            out.new.insert(series.to_owned());
            true
        } else {
            false
        };
        if admitted {
            out.measures.push(measure);
        } else {
            out.folded += 1;
        }
    }
    out
}

/// The predicate that selects the rows of folded series: those whose series (the SQL
/// expression `series`, as the window query computes it) is not one of `admitted`.
/// `None` when no series is admitted (every row is folded).
pub fn overflow_filter<'a>(
    series: &str,
    admitted: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let list: Vec<String> = admitted
        .into_iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect();
    (!list.is_empty()).then(|| format!("NOT ({series} IN ({}))", list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(start: i64, series: &str) -> WindowMeasure {
        WindowMeasure {
            start_ns: start,
            series: series.into(),
            labels: BTreeMap::from([("agent_name".into(), Some(series.into()))]),
            n: 1,
            d: None,
            value: Some(1.0),
            sample: Vec::new(),
            kpis: BTreeMap::new(),
        }
    }

    fn names(a: &Admitted) -> Vec<(i64, &str)> {
        a.measures
            .iter()
            .map(|m| (m.start_ns, m.series.as_str()))
            .collect()
    }

    #[test]
    fn first_appearance_takes_the_slots_and_the_rest_is_folded() {
        // Window 0: a, b, c in order of first appearance; window 1: c again, then d, e.
        let measures = vec![
            measure(0, "a"),
            measure(0, "b"),
            measure(0, "c"),
            measure(1, "c"),
            measure(1, "d"),
            measure(1, "e"),
        ];
        let out = admit(measures, |_| false, 0, 2, OVERFLOW);
        assert_eq!(names(&out), [(0, "a"), (0, "b")]);
        assert_eq!(out.new, BTreeSet::from(["a".into(), "b".into()]));
        assert_eq!(out.folded, 4, "c twice, d and e once each");
    }

    #[test]
    fn a_known_series_keeps_its_slot_and_a_freed_slot_goes_to_the_next_newcomer() {
        // After a restart `x` has state (restored from drift) and holds 1 of 2 slots.
        let measures = vec![measure(0, "y"), measure(0, "x"), measure(0, "z")];
        let out = admit(measures, |s| s == "x", 1, 2, OVERFLOW);
        assert_eq!(names(&out), [(0, "y"), (0, "x")]);
        assert_eq!(out.folded, 1);
        // A full cap admits nobody new, but every known series still passes.
        let measures = vec![measure(1, "q"), measure(1, "x"), measure(1, "y")];
        let out = admit(measures, |s| s == "x" || s == "y", 2, 2, OVERFLOW);
        assert_eq!(names(&out), [(1, "x"), (1, "y")]);
        assert_eq!(out.folded, 1);
    }

    #[test]
    fn the_reserved_name_is_always_folded() {
        let out = admit(vec![measure(0, OVERFLOW)], |_| true, 0, 10, OVERFLOW);
        assert!(out.measures.is_empty());
        assert_eq!(out.folded, 1);
        assert_eq!(overflow_series(2), "__overflow__,__overflow__");
        assert_eq!(
            overflow_labels(&["agent_name".into()]),
            BTreeMap::from([("agent_name".into(), Some(OVERFLOW.into()))])
        );
    }

    #[test]
    fn the_filter_quotes_and_is_absent_without_admitted_series() {
        assert_eq!(
            overflow_filter("s", ["a", "it's"]).as_deref(),
            Some("NOT (s IN ('a', 'it''s'))")
        );
        assert_eq!(overflow_filter("s", []), None);
    }
}
