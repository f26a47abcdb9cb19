//! `/cost`: cost per day by agent, model or provider, cost per transaction per group, and
//! the total, from the same [`CostReport`] as `vigil report cost` (exact
//! `DECIMAL(38, 12)` sums, shown as exact decimal text), so the page and the report agree
//! to the last digit. Unpriced spans (tokens but no price) make a cost unknown, shown as
//! such and never as $0. `/cost.csv` (served by the root) is the same report as CSV.

use analytics::QueryEngine;
use analytics::report::{CostReport, GroupKey};
use maud::{Markup, html};

use super::Error;
use super::rows::Rows;
use crate::chart;
use crate::layout::with_query;
use crate::range::TimeRange;

/// What the costs are split by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// `agent_name`.
    Agent,
    /// The model that answered.
    Model,
    /// `gen_ai.provider.name`.
    Provider,
}

impl By {
    /// Reads `?by=` (`agent` when absent).
    ///
    /// # Errors
    /// [`Error::BadParameter`] for anything but `agent`, `model`, `provider`.
    pub fn parse(text: Option<&str>) -> Result<Self, Error> {
        match text.unwrap_or("agent") {
            "agent" => Ok(By::Agent),
            "model" => Ok(By::Model),
            "provider" => Ok(By::Provider),
            other => Err(Error::BadParameter {
                parameter: "by",
                message: format!("{other:?}: use agent, model or provider"),
            }),
        }
    }

    /// The word, as `?by=` and `group_by` spell it.
    pub fn name(self) -> &'static str {
        match self {
            By::Agent => "agent",
            By::Model => "model",
            By::Provider => "provider",
        }
    }

    fn key(self) -> GroupKey {
        match self {
            By::Agent => GroupKey::Agent,
            By::Model => GroupKey::Model,
            By::Provider => GroupKey::Provider,
        }
    }
}

/// One row of a cost table.
#[derive(Clone, Debug, PartialEq)]
pub struct CostRow {
    /// The day (`YYYY-MM-DD`), for per-day rows.
    pub day: Option<String>,
    /// The group value (`None`: spans without one).
    pub group: Option<String>,
    /// Transactions.
    pub transactions: i64,
    /// Spans.
    pub spans: i64,
    /// Exact cost as decimal text (`None`: no priced span).
    pub cost_usd: Option<String>,
    /// Exact cost per transaction as decimal text.
    pub cost_per_transaction: Option<String>,
    /// Spans with tokens but no price: the cost is a lower bound when > 0.
    pub unpriced_spans: i64,
}

/// The cost page's data.
#[derive(Clone, Debug, PartialEq)]
pub struct CostPage {
    /// The split.
    pub by: By,
    /// Per day and group, by day then group.
    pub daily: Vec<CostRow>,
    /// Per group over the whole range.
    pub groups: Vec<CostRow>,
    /// The whole range (one row, no day or group).
    pub total: CostRow,
}

/// Runs the three reports (day × group, group, total) over `range`.
///
/// # Errors
/// [`Error::Query`] when `spans` cannot be read.
pub async fn load(engine: &QueryEngine, by: By, range: &TimeRange) -> Result<CostPage, Error> {
    let report = |group_by: Vec<GroupKey>| CostReport {
        from: range.from_ns,
        to: range.to_ns,
        group_by,
    };
    let daily = rows(engine, &report(vec![GroupKey::Day, by.key()]), true, true).await?;
    let groups = rows(engine, &report(vec![by.key()]), false, true).await?;
    let total = rows(engine, &report(vec![]), false, false)
        .await?
        .pop()
        .ok_or_else(|| Error::Shape("an ungrouped report has one row".into()))?;
    Ok(CostPage {
        by,
        daily,
        groups,
        total,
    })
}

async fn rows(
    engine: &QueryEngine,
    report: &CostReport,
    day: bool,
    group: bool,
) -> Result<Vec<CostRow>, Error> {
    let result = report.run(engine).await?;
    let rows = Rows::new(&result.batches);
    let group_column = report.group_by.last().map(GroupKey::column_name);
    let days = if day { Some(rows.str("day")?) } else { None };
    let groups = match (&group_column, group) {
        (Some(c), true) => Some(rows.str(c)?),
        _ => None,
    };
    let (transactions, spans, unpriced) = (
        rows.i64("transactions")?,
        rows.i64("spans")?,
        rows.i64("unpriced_spans")?,
    );
    let (cost, per) = (
        rows.decimal("cost_usd")?,
        rows.decimal("cost_per_transaction")?,
    );
    Ok((0..rows.len())
        .map(|i| CostRow {
            day: days.as_ref().and_then(|d| d[i].clone()),
            group: groups.as_ref().and_then(|g| g[i].clone()),
            transactions: transactions[i].unwrap_or_default(),
            spans: spans[i].unwrap_or_default(),
            cost_usd: cost[i].clone(),
            cost_per_transaction: per[i].clone(),
            unpriced_spans: unpriced[i].unwrap_or_default(),
        })
        .collect())
}

/// A cost cell: `$0.0123`, `$0.0123 + unknown` (some spans unpriced), or `unknown`.
fn usd(cost: Option<&str>, unpriced: i64) -> Markup {
    html! {
        @match (cost, unpriced) {
            (Some(c), 0) => span.usd data-usd=(c) { "$" (c) },
            (Some(c), n) => span.usd data-usd=(c) title=(format!("{n} spans have tokens but no price")) { "$" (c) " + unknown" },
            (None, 0) => span.usd data-usd="0" { "$0" },
            (None, n) => span.unknown title=(format!("{n} spans have tokens but no price")) { "unknown" },
        }
    }
}

/// The cost page's markup.
pub fn render(data: &CostPage, range: &TimeRange) -> Markup {
    let csv = with_query(
        "/cost.csv",
        &format!("{}&group_by=day,{}", range.query(), data.by.name()),
    );
    let bars: Vec<chart::DayBar> = daily_bars(&data.daily);
    html! {
        nav.split {
            "By "
            @for by in [By::Agent, By::Model, By::Provider] {
                @if by == data.by { strong { (by.name()) } } @else {
                    a href=(with_query("/cost", &format!("by={}&{}", by.name(), range.query()))) { (by.name()) }
                }
                " "
            }
            " · " a href=(csv) download { "CSV" }
        }
        p.total #total data-transactions=(data.total.transactions) data-unpriced=(data.total.unpriced_spans) {
            "Total " strong { (usd(data.total.cost_usd.as_deref(), data.total.unpriced_spans)) }
            " over " (data.total.transactions) " transactions (" (data.total.spans) " spans); "
            "per transaction " (usd(data.total.cost_per_transaction.as_deref(), data.total.unpriced_spans))
            @if data.total.unpriced_spans > 0 {
                ". " strong.unknown { (data.total.unpriced_spans) " spans are unpriced" }
                ": their model has no row in the price table, so their cost is unknown, not $0."
            }
        }
        section.chart #per-day {
            h2 { "Cost per day by " (data.by.name()) }
            (chart::day_bars(&bars))
        }
        section #groups {
            h2 { "By " (data.by.name()) }
            (table(&data.groups, false, data.by))
        }
        section #daily {
            h2 { "Per day" }
            (table(&data.daily, true, data.by))
        }
    }
}

fn table(rows: &[CostRow], day: bool, by: By) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { "No span in this range." }
        } @else {
            table.cost {
                thead { tr {
                    @if day { th { "Day" } }
                    th { (by.name()) } th.num { "Transactions" } th.num { "Spans" }
                    th.num { "Cost (USD)" } th.num { "Per transaction" } th.num { "Unpriced spans" }
                } }
                tbody { @for r in rows {
                    tr {
                        @if day { td { (r.day.as_deref().unwrap_or("–")) } }
                        td { (r.group.as_deref().unwrap_or("(none)")) }
                        td.num { (r.transactions) } td.num { (r.spans) }
                        td.num { (usd(r.cost_usd.as_deref(), r.unpriced_spans)) }
                        td.num { (usd(r.cost_per_transaction.as_deref(), r.unpriced_spans)) }
                        td.num { (r.unpriced_spans) }
                    }
                } }
            }
        }
    }
}

fn daily_bars(daily: &[CostRow]) -> Vec<chart::DayBar> {
    let mut out: Vec<chart::DayBar> = Vec::new();
    for r in daily {
        let day = r.day.clone().unwrap_or_default();
        if out.last().is_none_or(|b| b.day != day) {
            out.push(chart::DayBar {
                day: day.clone(),
                segments: Vec::new(),
                unknown: 0,
            });
        }
        if let Some(bar) = out.last_mut() {
            let cost = r.cost_usd.as_deref().and_then(|c| c.parse::<f64>().ok());
            if let Some(c) = cost {
                bar.segments
                    .push((r.group.clone().unwrap_or_else(|| "(none)".into()), c));
            }
            bar.unknown += u64::try_from(r.unpriced_spans).unwrap_or(0);
        }
    }
    out
}
