//! Evaluation results → `scores` rows: from span events, OpenInference span attributes,
//! OTLP log records, and the JSON scores API.

use std::sync::Arc;

use arrow::array::{ArrayRef, MapBuilder, TimestampNanosecondBuilder};
use arrow::record_batch::RecordBatch;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use schemas::tables::{Table, score_sources};
use serde::Deserialize;

use super::builders::{self, DateBuilder, Floats, Strings};
use super::group::Kind;
use super::value;
use super::{Mapped, Normalized, Normalizer, Rows, hex_id};

/// Name of the event (span event or log record) that carries an evaluation result, per
/// the OTel GenAI semantic conventions.
pub const EVALUATION_EVENT: &str = "gen_ai.evaluation.result";

const EVALUATION_NAME: &str = "gen_ai.evaluation.name";
const SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
const SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
const EXPLANATION: &str = "gen_ai.evaluation.explanation";
const RESPONSE_ID: &str = "gen_ai.response.id";
const AGENT_NAME: &str = "gen_ai.agent.name";

/// Parses the part after `evaluations.` of an OpenInference evaluation attribute
/// (`N.evaluation.{name,score,label,explanation}`) into `(N, part)` with part 0–3 in
/// that order.
pub(super) fn evaluation_from_attributes(rest: &str) -> Option<(u32, usize)> {
    let (index, field) = rest.split_once('.')?;
    let part = match field.strip_prefix("evaluation.")? {
        "name" => 0,
        "score" => 1,
        "label" => 2,
        "explanation" => 3,
        _ => return None,
    };
    Some((index.parse().ok()?, part))
}

/// One `scores` row before it is built.
#[derive(Clone, Debug, Default)]
pub(super) struct ScoreRow {
    pub time: i64,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub name: String,
    pub value: Option<f64>,
    pub label: Option<String>,
    pub explanation: Option<String>,
    pub source: &'static str,
    pub service_name: Option<String>,
    pub agent_name: Option<String>,
    pub response_id: Option<String>,
    pub attributes: Vec<(String, Option<String>)>,
}

impl ScoreRow {
    /// Reads the `gen_ai.evaluation.*` attributes; the rest go to the map.
    ///
    /// # Errors
    /// When `gen_ai.evaluation.name` is missing, or neither a value nor a label is given.
    pub fn fill_from_evaluation_attributes(
        &mut self,
        attributes: &[KeyValue],
    ) -> Result<(), String> {
        for kv in attributes {
            let Some(v) = kv.value.as_ref() else { continue };
            let text = || value::to_text(v).map(|t| t.into_owned());
            match kv.key.as_str() {
                EVALUATION_NAME => self.name = text().unwrap_or_default(),
                SCORE_VALUE => match value::to_f64(v) {
                    Some(x) => self.value = Some(x),
                    None => return Err(format!("{SCORE_VALUE} is not a number")),
                },
                SCORE_LABEL => self.label = text(),
                EXPLANATION => self.explanation = text(),
                RESPONSE_ID => self.response_id = text(),
                AGENT_NAME if self.agent_name.is_none() => self.agent_name = text(),
                // The older way of naming the event itself, not an attribute of the score.
                "event.name" => {}
                _ => self.attributes.push((kv.key.clone(), text())),
            }
        }
        if self.name.is_empty() {
            return Err(format!("{EVALUATION_NAME} is missing"));
        }
        if self.value.is_none() && self.label.is_none() {
            return Err(format!("neither {SCORE_VALUE} nor {SCORE_LABEL} is set"));
        }
        Ok(())
    }
}

/// Builders of the `scores` columns.
pub(super) struct ScoreRows {
    n: usize,
    time: TimestampNanosecondBuilder,
    trace_id: Strings,
    span_id: Strings,
    name: Strings,
    value: Floats,
    label: Strings,
    explanation: Strings,
    source: Strings,
    service_name: Strings,
    agent_name: Strings,
    response_id: Strings,
    attributes: MapBuilder<Strings, Strings>,
    date: DateBuilder,
}

impl ScoreRows {
    pub fn with_capacity(n: usize) -> Self {
        let s = || Strings::with_capacity(n, n * 16);
        Self {
            n: 0,
            time: builders::timestamp_builder(n),
            trace_id: s(),
            span_id: s(),
            name: s(),
            value: Floats::with_capacity(n),
            label: s(),
            explanation: s(),
            source: s(),
            service_name: s(),
            agent_name: s(),
            response_id: s(),
            attributes: builders::map_builder(n),
            date: DateBuilder::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn append(&mut self, row: ScoreRow) {
        self.n += 1;
        self.time.append_value(row.time);
        self.trace_id.append_option(row.trace_id);
        self.span_id.append_option(row.span_id);
        self.name.append_value(row.name);
        self.value.append_option(row.value);
        self.label.append_option(row.label);
        self.explanation.append_option(row.explanation);
        self.source.append_value(row.source);
        self.service_name.append_option(row.service_name);
        self.agent_name.append_option(row.agent_name);
        self.response_id.append_option(row.response_id);
        builders::append_map(
            &mut self.attributes,
            row.attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref())),
        );
        self.date.append(row.time);
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.label.finish()),
            Arc::new(self.explanation.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.agent_name.finish()),
            Arc::new(self.response_id.finish()),
            Arc::new(self.attributes.finish()),
            self.date.finish(),
        ];
        builders::batch(Table::Scores, columns)
    }
}

/// A score sent to `POST /api/v1/scores` (SPEC §4), typically human feedback.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiScore {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits, optional.
    pub span_id: Option<String>,
    /// Score name, e.g. `helpfulness`.
    pub name: String,
    /// Numeric value.
    pub value: Option<f64>,
    /// Categorical label.
    pub label: Option<String>,
    /// Free text.
    pub explanation: Option<String>,
    /// Unix nanoseconds; the caller resolves RFC 3339 or a default of now.
    #[serde(skip)]
    pub time_unix_nano: i64,
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

impl Normalizer {
    /// Maps OTLP log records named `gen_ai.evaluation.result` (by `event_name`, or the
    /// older `event.name` attribute) onto `scores`. Other log records are counted in
    /// `ignored`: Vigil has no general log table. A record is rejected when it lacks
    /// `gen_ai.evaluation.name` or both value and label, or carries a malformed id.
    pub fn logs(&self, request: &ExportLogsServiceRequest) -> Normalized {
        self.map_logs(request).into_normalized(self)
    }

    /// [`Normalizer::logs`] up to the columns: the evaluation records checked and read
    /// into score rows, ready to be appended to a group's builders.
    pub fn map_logs(&self, request: &ExportLogsServiceRequest) -> Mapped<'static> {
        let mut out = Normalized::default();
        let mut rows = Vec::new();
        for resource_logs in &request.resource_logs {
            let attributes = resource_logs
                .resource
                .as_ref()
                .map_or(&[][..], |r| &r.attributes);
            let service_name = attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(value::to_text)
                .map(|t| t.into_owned());
            for scope_logs in &resource_logs.scope_logs {
                for record in &scope_logs.log_records {
                    let is_evaluation = record.event_name == EVALUATION_EVENT
                        || record.attributes.iter().any(|kv| {
                            kv.key == "event.name"
                                && kv.value.as_ref().and_then(value::to_text).as_deref()
                                    == Some(EVALUATION_EVENT)
                        });
                    if !is_evaluation {
                        out.ignored += 1;
                        continue;
                    }
                    let trace_id = match record.trace_id.len() {
                        0 => None,
                        _ => match hex_id::<16>(&record.trace_id) {
                            Some(id) => Some(id),
                            None => {
                                out.reject(|| {
                                    format!(
                                        "log record trace_id has {} bytes, expected 16",
                                        record.trace_id.len()
                                    )
                                });
                                continue;
                            }
                        },
                    };
                    let span_id = match record.span_id.len() {
                        0 => None,
                        _ => match hex_id::<8>(&record.span_id) {
                            Some(id) => Some(id),
                            None => {
                                out.reject(|| {
                                    format!(
                                        "log record span_id has {} bytes, expected 8",
                                        record.span_id.len()
                                    )
                                });
                                continue;
                            }
                        },
                    };
                    let time = [record.time_unix_nano, record.observed_time_unix_nano]
                        .into_iter()
                        .find(|t| *t != 0 && *t <= i64::MAX as u64);
                    let Some(time) = time else {
                        out.reject(|| {
                            "log record has neither time_unix_nano nor observed_time_unix_nano"
                                .into()
                        });
                        continue;
                    };
                    let mut row = ScoreRow {
                        time: time as i64,
                        trace_id,
                        span_id,
                        source: score_sources::LOG,
                        service_name: service_name.clone(),
                        ..ScoreRow::default()
                    };
                    match row.fill_from_evaluation_attributes(&record.attributes) {
                        Ok(()) => rows.push(row),
                        Err(problem) => out.reject(|| format!("evaluation log record: {problem}")),
                    }
                }
            }
        }
        Mapped {
            rows: Rows(Kind::Scores(rows)),
            outcome: out,
        }
    }

    /// Maps scores of the JSON API onto `scores` (source `api`).
    ///
    /// # Errors
    /// The whole request is refused, naming the item and the problem, when any item has a
    /// malformed id, an empty name, or neither value nor label: an API caller gets one
    /// clear answer rather than a partial store.
    pub fn api_scores(&self, scores: &[ApiScore]) -> Result<RecordBatch, String> {
        let mut rows = ScoreRows::with_capacity(scores.len());
        for (i, score) in scores.iter().enumerate() {
            if !is_hex_id(&score.trace_id, 32) {
                return Err(format!(
                    "item {i}: trace_id must be 32 lowercase hex digits, not all zero"
                ));
            }
            if let Some(span_id) = &score.span_id
                && !is_hex_id(span_id, 16)
            {
                return Err(format!(
                    "item {i}: span_id must be 16 lowercase hex digits, not all zero"
                ));
            }
            if score.name.is_empty() {
                return Err(format!("item {i}: name is empty"));
            }
            if score.value.is_none() && score.label.is_none() {
                return Err(format!("item {i}: neither value nor label is set"));
            }
            if score.value.is_some_and(|v| !v.is_finite()) {
                return Err(format!("item {i}: value is not a finite number"));
            }
            rows.append(ScoreRow {
                time: score.time_unix_nano,
                trace_id: Some(score.trace_id.clone()),
                span_id: score.span_id.clone(),
                name: score.name.clone(),
                value: score.value,
                label: score.label.clone(),
                explanation: score.explanation.clone(),
                source: score_sources::API,
                ..ScoreRow::default()
            });
        }
        if rows.len() == 0 {
            return Err("no scores in the request".into());
        }
        Ok(rows.finish())
    }
}
