//! `/traces/{trace_id}`: one trace as a waterfall (spans in tree order, bars by start and
//! duration, errors marked), with the attributes and scores of the span picked
//! (`?span=ID#detail`: a plain link, so it works without JavaScript). `?at=NS` (a time in
//! the trace, as the monitor page's links give it) limits the
//! read to the days around it; without it every day of `spans` is read.

use std::collections::{BTreeMap, HashMap};

use analytics::QueryEngine;
use maud::{Markup, html};
use schemas::tables::partition_date;

use super::overview::number;
use super::rows::Rows;
use super::{Error, literal};
use crate::chart;
use crate::layout::encode;

/// Nanoseconds in a day.
const DAY_NS: i64 = 86_400_000_000_000;

/// One span of the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRow {
    /// Its id.
    pub span_id: String,
    /// Its parent's, if any.
    pub parent: Option<String>,
    /// Depth in the tree (roots 0; orphans are roots).
    pub depth: usize,
    /// Span name.
    pub name: String,
    /// Start, ns.
    pub start_ns: i64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// `status_code` is `ERROR`.
    pub error: bool,
    /// Service.
    pub service: Option<String>,
    /// Agent.
    pub agent: Option<String>,
    /// Typed columns worth showing (`operation`, `request_model`, tokens, cost, …), then
    /// the attribute and resource maps, as (name, value).
    pub fields: Vec<(String, String)>,
}

/// A score of the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The span it is about, if any.
    pub span_id: Option<String>,
    /// Score name.
    pub name: String,
    /// Value.
    pub value: Option<f64>,
    /// Label.
    pub label: Option<String>,
    /// Who scored (`span_event`, `api`, …).
    pub source: Option<String>,
}

/// The trace page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePage {
    /// The trace id.
    pub trace_id: String,
    /// Spans in tree order (parents before children, siblings by start).
    pub spans: Vec<SpanRow>,
    /// Scores of the trace.
    pub scores: Vec<ScoreRow>,
    /// The span picked (`?span=`), else the root.
    pub selected: Option<String>,
    /// `?at=`, kept in the span links.
    pub at_ns: Option<i64>,
}

/// Reads the trace's spans and scores.
///
/// # Errors
/// [`Error::BadParameter`] for a trace id that is not 32 hex digits; [`Error::NotFound`]
/// when no span has it; [`Error::Query`] when a table cannot be read.
pub async fn load(
    engine: &QueryEngine,
    trace_id: &str,
    at_ns: Option<i64>,
    span: Option<&str>,
) -> Result<TracePage, Error> {
    if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadParameter {
            parameter: "trace_id",
            message: format!("{trace_id:?} is not a trace id (32 hex digits)"),
        });
    }
    let trace_id = trace_id.to_ascii_lowercase();
    let days = at_ns.map_or_else(String::new, |t| {
        format!(
            " AND date >= {} AND date <= {}",
            literal(&partition_date(t.saturating_sub(DAY_NS))),
            literal(&partition_date(t.saturating_add(DAY_NS)))
        )
    });
    let result = engine
        .query(&format!(
            "SELECT span_id, parent_span_id, name, time, duration_ms, status_code, status_message, \
                    service_name, agent_name, kind, operation, provider, request_model, response_model, \
                    tool_name, input_tokens, output_tokens, cost_usd, confidence, escalated, error_type, \
                    attributes, resource_attributes \
             FROM spans WHERE trace_id = {}{days} ORDER BY time",
            literal(&trace_id)
        ))
        .await?;
    let rows = Rows::new(&result.batches);
    if rows.len() == 0 {
        return Err(Error::NotFound(format!("no span of trace {trace_id}")));
    }
    let spans = spans(&rows)?;
    let scores = engine
        .query(&format!(
            "SELECT span_id, name, value, label, source FROM scores WHERE trace_id = {} ORDER BY time",
            literal(&trace_id)
        ))
        .await?;
    let s = Rows::new(&scores.batches);
    let (sid, name, value, label, source) = (
        s.str("span_id")?,
        s.str("name")?,
        s.f64("value")?,
        s.str("label")?,
        s.str("source")?,
    );
    let scores = (0..s.len())
        .map(|i| ScoreRow {
            span_id: sid[i].clone(),
            name: name[i].clone().unwrap_or_default(),
            value: value[i],
            label: label[i].clone(),
            source: source[i].clone(),
        })
        .collect();
    let selected = span
        .map(str::to_owned)
        .or_else(|| spans.first().map(|s| s.span_id.clone()));
    Ok(TracePage {
        trace_id,
        spans,
        scores,
        selected,
        at_ns,
    })
}

/// Columns shown in the detail panel, in order, when set.
const DETAIL_COLUMNS: [&str; 14] = [
    "kind",
    "status_message",
    "operation",
    "provider",
    "request_model",
    "response_model",
    "tool_name",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "confidence",
    "escalated",
    "error_type",
    "service_name",
];

fn spans(rows: &Rows<'_>) -> Result<Vec<SpanRow>, Error> {
    let (id, parent, name, time) = (
        rows.str("span_id")?,
        rows.str("parent_span_id")?,
        rows.str("name")?,
        rows.i64("time")?,
    );
    let (duration, status, agent) = (
        rows.f64("duration_ms")?,
        rows.str("status_code")?,
        rows.str("agent_name")?,
    );
    let columns: Vec<(&str, Vec<Option<String>>)> = DETAIL_COLUMNS
        .iter()
        .map(|c| rows.str(c).map(|v| (*c, v)))
        .collect::<Result<_, _>>()?;
    let (attributes, resource) = (rows.map("attributes")?, rows.map("resource_attributes")?);
    let flat: Vec<SpanRow> = (0..rows.len())
        .map(|i| {
            let mut fields: Vec<(String, String)> = columns
                .iter()
                .filter_map(|(c, v)| v[i].as_deref().map(|v| ((*c).to_owned(), tidy_float(v))))
                .collect();
            fields.extend(attributes[i].iter().cloned());
            fields.extend(
                resource[i]
                    .iter()
                    .map(|(k, v)| (format!("resource.{k}"), v.clone())),
            );
            SpanRow {
                span_id: id[i].clone().unwrap_or_default(),
                parent: parent[i].clone().filter(|p| !p.is_empty()),
                depth: 0,
                name: name[i].clone().unwrap_or_default(),
                start_ns: time[i].unwrap_or_default(),
                duration_ms: duration[i].unwrap_or_default(),
                error: status[i].as_deref() == Some("ERROR"),
                service: columns
                    .iter()
                    .find(|(c, _)| *c == "service_name")
                    .and_then(|(_, v)| v[i].clone()),
                agent: agent[i].clone(),
                fields,
            }
        })
        .collect();
    Ok(tree_order(flat))
}

/// A float column's text without binary noise (`0.5700000000000001` → `0.57`): 12
/// decimals, trailing zeros dropped. Other text is kept as it is.
fn tidy_float(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(v) if text.contains('.') && v.is_finite() => {
            let s = format!("{v:.12}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        _ => text.to_owned(),
    }
}

/// Parents before children, siblings by start time; a span whose parent is missing (not
/// yet arrived, or cut off) is a root.
pub fn tree_order(spans: Vec<SpanRow>) -> Vec<SpanRow> {
    let ids: HashMap<String, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.clone(), i))
        .collect();
    let mut children: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        let parent = s
            .parent
            .as_ref()
            .and_then(|p| ids.get(p))
            .copied()
            .filter(|p| *p != i);
        children.entry(parent).or_default().push(i);
    }
    for list in children.values_mut() {
        list.sort_by_key(|i| (spans[*i].start_ns, spans[*i].span_id.clone()));
    }
    let mut order = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .map(|r| r.iter().rev().map(|i| (*i, 0)).collect())
        .unwrap_or_default();
    let mut seen = vec![false; spans.len()];
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push((i, depth));
        if let Some(kids) = children.get(&Some(i)) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    // Spans caught in a parent cycle (malformed input) are still shown, as roots.
    order.extend((0..spans.len()).filter(|i| !seen[*i]).map(|i| (i, 0)));
    let mut slots: Vec<Option<SpanRow>> = spans.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(i, depth)| {
            let mut s = slots[i].take()?;
            s.depth = depth;
            Some(s)
        })
        .collect()
}

/// The trace page's markup.
pub fn render(data: &TracePage) -> Markup {
    let start = data
        .spans
        .iter()
        .map(|s| s.start_ns)
        .min()
        .unwrap_or_default();
    let end = data
        .spans
        .iter()
        .map(|s| s.start_ns + (s.duration_ms * 1e6) as i64)
        .max()
        .unwrap_or(start);
    let errors = data.spans.iter().filter(|s| s.error).count();
    let rows: Vec<chart::WaterfallRow> = data
        .spans
        .iter()
        .map(|s| chart::WaterfallRow {
            span_id: s.span_id.clone(),
            label: s.name.clone(),
            depth: s.depth,
            offset_ms: (s.start_ns - start) as f64 / 1e6,
            duration_ms: s.duration_ms,
            error: s.error,
            href: format!(
                "/traces/{}?span={}{}#detail",
                data.trace_id,
                encode(&s.span_id),
                data.at_ns.map_or_else(String::new, |t| format!("&at={t}"))
            ),
            selected: data.selected.as_deref() == Some(s.span_id.as_str()),
        })
        .collect();
    let selected = data
        .selected
        .as_ref()
        .and_then(|id| data.spans.iter().find(|s| &s.span_id == id));
    html! {
        p.about {
            code { (data.trace_id) } " · " (data.spans.len()) " spans · "
            (format!("{:.1}", (end - start) as f64 / 1e6)) " ms · started "
            (schemas::window::time_of_ns(start).format("%Y-%m-%d %H:%M:%S%.3f")) " UTC"
            @if errors > 0 { " · " strong.s-alarm { (errors) " with errors" } }
        }
        section.chart #waterfall {
            (chart::waterfall(&rows))
        }
        section #detail {
            @if let Some(s) = selected {
                h2 { (s.name) }
                p {
                    "span " code { (s.span_id) }
                    @if let Some(p) = &s.parent { " · parent " code { (p) } }
                    " · " (format!("{:.3}", s.duration_ms)) " ms"
                    @if let Some(a) = &s.agent { " · agent " (a) }
                    @if s.error { " · " strong.s-alarm { "error" } }
                }
                @let scores: Vec<&ScoreRow> = data.scores.iter().filter(|x| x.span_id.as_deref() == Some(s.span_id.as_str())).collect();
                @if !scores.is_empty() {
                    h3 { "Scores" }
                    table { tbody { @for x in scores {
                        tr { td { (x.name) } td.num { (number(x.value)) } td { (x.label.as_deref().unwrap_or("")) } td { (x.source.as_deref().unwrap_or("")) } }
                    } } }
                }
                h3 { "Attributes" }
                table.attributes { tbody { @for (k, v) in &s.fields {
                    tr { th { (k) } td { (v) } }
                } } }
            }
            @let trace_scores: Vec<&ScoreRow> = data.scores.iter().filter(|x| x.span_id.is_none()).collect();
            @if !trace_scores.is_empty() {
                h3 { "Scores of the trace" }
                table { tbody { @for x in trace_scores {
                    tr { td { (x.name) } td.num { (number(x.value)) } td { (x.label.as_deref().unwrap_or("")) } td { (x.source.as_deref().unwrap_or("")) } }
                } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: i64) -> SpanRow {
        SpanRow {
            span_id: id.into(),
            parent: parent.map(Into::into),
            depth: 9,
            name: id.into(),
            start_ns: start,
            duration_ms: 1.0,
            error: false,
            service: None,
            agent: None,
            fields: vec![],
        }
    }

    #[test]
    fn spans_come_in_tree_order_with_depths_and_orphans_as_roots() {
        let spans = vec![
            span("c2", Some("root"), 30),
            span("root", None, 0),
            span("g", Some("c1"), 20),
            span("c1", Some("root"), 10),
            span("orphan", Some("missing"), 5),
        ];
        let order: Vec<(String, usize)> = tree_order(spans)
            .into_iter()
            .map(|s| (s.span_id, s.depth))
            .collect();
        let expect = [("root", 0), ("c1", 1), ("g", 2), ("c2", 1), ("orphan", 0)];
        let expect: Vec<(String, usize)> =
            expect.iter().map(|(s, d)| ((*s).to_owned(), *d)).collect();
        assert_eq!(order, expect);
    }

    #[test]
    fn floats_lose_their_binary_noise_only() {
        assert_eq!(tidy_float("0.5700000000000001"), "0.57");
        assert_eq!(tidy_float("0.0034125"), "0.0034125");
        assert_eq!(tidy_float("1200"), "1200");
        assert_eq!(tidy_float("gpt-4o"), "gpt-4o");
    }

    #[test]
    fn a_parent_cycle_still_shows_every_span() {
        let spans = vec![span("a", Some("b"), 0), span("b", Some("a"), 1)];
        assert_eq!(tree_order(spans).len(), 2);
    }
}
