//! Server-side downsampling for line charts: a week of 1-minute windows (10,080 points)
//! becomes a few points per pixel column, chosen so that the drawn line looks the same,
//! and every point that must not disappear (an alarm, a Phase I boundary) stays.
//!
//! The method is M4 (Jugel, Jerzak, Hackenbroich, Markl, "M4: A Visualization-Oriented
//! Time Series Data Aggregation", PVLDB 7(10), 2014): per pixel column keep the first,
//! last, minimum and maximum point; [`Aggregation::MinMax`] keeps only the extremes (half
//! the bytes; the line between columns may then join a column's extreme rather than its
//! last point, which at one column per pixel or two is invisible). The result is a list of
//! indices into the input, so every kept point keeps its own time, value and flags.

/// Which points of each column to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregation {
    /// The minimum and the maximum (≤ 2 points per column).
    #[default]
    MinMax,
    /// First, last, minimum and maximum (≤ 4 points per column): M4, pixel-exact.
    M4,
}

/// One point offered to [`downsample`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplePoint {
    /// Its time, ns since the epoch. Points are expected in time order.
    pub t: i64,
    /// Its value; `None` is a gap in the line.
    pub value: Option<f64>,
    /// Keep it whatever the aggregation says (an alarm, a phase boundary).
    pub keep: bool,
}

/// The indices (ascending, no duplicates) of the points to draw when `points` (in time
/// order) are spread over `columns` equal columns of `[t0, t1]` (ns; points outside are
/// counted in the first or last column).
///
/// Returned: per column the points `aggregation` chooses among the points with a value,
/// the first and last gap (`None`) of the column (so a line still breaks where data is
/// missing), and every point with `keep`. So at most `2 × columns` (MinMax) or
/// `4 × columns` (M4), plus 2 per column that holds a gap, plus the kept points. If there
/// are no more points than that budget, all indices are returned unchanged.
pub fn downsample(
    points: &[SamplePoint],
    t0: i64,
    t1: i64,
    columns: usize,
    aggregation: Aggregation,
) -> Vec<usize> {
    let columns = columns.max(1);
    let per_column = match aggregation {
        Aggregation::MinMax => 2,
        Aggregation::M4 => 4,
    };
    if points.len() <= per_column * columns {
        return (0..points.len()).collect();
    }
    let span = (t1 - t0).max(1) as f64;
    let column_of = |t: i64| -> usize {
        let c = ((t - t0) as f64 / span * columns as f64).floor();
        (c.max(0.0) as usize).min(columns - 1)
    };
    let mut kept = Vec::with_capacity(per_column * columns * 2);
    let mut current: Option<Column> = None;
    for (i, p) in points.iter().enumerate() {
        let c = column_of(p.t);
        match &mut current {
            Some(col) if col.index == c => col.add(i, p),
            _ => {
                if let Some(col) = current.take() {
                    col.emit(aggregation, &mut kept);
                }
                let mut col = Column::new(c);
                col.add(i, p);
                current = Some(col);
            }
        }
        if p.keep {
            kept.push(i);
        }
    }
    if let Some(col) = current {
        col.emit(aggregation, &mut kept);
    }
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// The candidates of one column, as (index, value).
struct Column {
    index: usize,
    first: Option<usize>,
    last: Option<usize>,
    min: Option<(usize, f64)>,
    max: Option<(usize, f64)>,
    first_gap: Option<usize>,
    last_gap: Option<usize>,
}

impl Column {
    fn new(index: usize) -> Self {
        Column {
            index,
            first: None,
            last: None,
            min: None,
            max: None,
            first_gap: None,
            last_gap: None,
        }
    }

    fn add(&mut self, i: usize, p: &SamplePoint) {
        match p.value {
            Some(v) if v.is_finite() => {
                self.first.get_or_insert(i);
                self.last = Some(i);
                if self.min.is_none_or(|(_, m)| v < m) {
                    self.min = Some((i, v));
                }
                if self.max.is_none_or(|(_, m)| v > m) {
                    self.max = Some((i, v));
                }
            }
            _ => {
                self.first_gap.get_or_insert(i);
                self.last_gap = Some(i);
            }
        }
    }

    fn emit(self, aggregation: Aggregation, out: &mut Vec<usize>) {
        out.extend(self.min.map(|(i, _)| i));
        out.extend(self.max.map(|(i, _)| i));
        if aggregation == Aggregation::M4 {
            out.extend(self.first);
            out.extend(self.last);
        }
        out.extend(self.first_gap);
        out.extend(self.last_gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000_000;

    /// A week of 1-minute windows: a noisy sine, alarms every 997th window and in a burst,
    /// a gap of 30 windows, and the first 1,440 windows (one day) flagged as Phase I.
    fn week() -> Vec<SamplePoint> {
        (0..10_080i64)
            .map(|i| {
                let noise = ((i * 7919) % 101) as f64 / 1000.0;
                let value = if (5000..5030).contains(&i) {
                    None
                } else {
                    Some(0.9 + 0.05 * (i as f64 / 300.0).sin() + noise)
                };
                let alarm = i % 997 == 0 || (8000..8100).contains(&i);
                SamplePoint {
                    t: i * MINUTE,
                    value,
                    keep: alarm || i == 0 || i == 1439 || i == 1440,
                }
            })
            .collect()
    }

    #[test]
    fn a_week_fits_the_budget_and_keeps_every_alarm_and_extreme() {
        let points = week();
        let (t0, t1) = (0, 10_080 * MINUTE);
        for (aggregation, per_column) in [(Aggregation::MinMax, 2), (Aggregation::M4, 4)] {
            let columns = 450;
            let kept = downsample(&points, t0, t1, columns, aggregation);
            let keeps = points.iter().filter(|p| p.keep).count();
            assert!(
                kept.len() <= per_column * columns + keeps + 2,
                "{aggregation:?}: {} points",
                kept.len()
            );
            assert!(kept.len() < points.len() / 4);
            assert!(kept.windows(2).all(|w| w[0] < w[1]), "ascending, unique");
            for (i, p) in points.iter().enumerate() {
                if p.keep {
                    assert!(kept.binary_search(&i).is_ok(), "kept point {i} dropped");
                }
            }
            // Per column, the minimum and maximum of the input survive.
            let span = (t1 - t0) as f64;
            for c in 0..columns {
                let in_column = |p: &SamplePoint| {
                    ((p.t - t0) as f64 / span * columns as f64).floor() as usize == c
                };
                let values = |it: &mut dyn Iterator<Item = &SamplePoint>| -> (f64, f64) {
                    it.filter(|p| in_column(p))
                        .filter_map(|p| p.value)
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                            (lo.min(v), hi.max(v))
                        })
                };
                let all = values(&mut points.iter());
                let drawn = values(&mut kept.iter().map(|&i| &points[i]));
                assert_eq!(all, drawn, "column {c}");
            }
            // The gap is still a gap.
            assert!(kept.iter().any(|&i| points[i].value.is_none()));
            if aggregation == Aggregation::M4 {
                assert_eq!(kept[0], 0);
                assert_eq!(*kept.last().unwrap(), points.len() - 1);
            }
        }
    }

    #[test]
    fn few_points_are_returned_unchanged() {
        let points: Vec<SamplePoint> = week().into_iter().take(100).collect();
        assert_eq!(
            downsample(&points, 0, 100 * MINUTE, 60, Aggregation::MinMax),
            (0..100).collect::<Vec<_>>()
        );
    }
}
