//! `ExportTraceServiceRequest` → `spans` rows (and the scores carried by spans).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::ArrayRef;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use schemas::mapping::{SpanField, operation_from_openinference};
use schemas::prices::TokenUsage;
use schemas::tables::Table;

use super::builders::{self, Bools, DateBuilder, Floats, Ints, Strings};
use super::group::Kind;
use super::scores::{ScoreRow, evaluation_from_attributes};
use super::value;
use super::{Mapped, Normalized, Normalizer, Rows, hex_id};
use schemas::tables::score_sources;

/// Room for every [`SpanField`]; checked by a test.
pub(super) const FIELD_SLOTS: usize = 32;

/// The attribute that won a typed field: its mapping priority and value.
#[derive(Clone, Copy)]
struct Slot<'a> {
    priority: u8,
    key: &'a str,
    value: &'a AnyValue,
}

/// One valid span on its way to a row.
pub(super) struct SpanRow<'a> {
    span: &'a Span,
    pub resource: usize,
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    slots: [Option<Slot<'a>>; FIELD_SLOTS],
    confidence: Option<(usize, f64)>,
    escalated: bool,
    attributes: Vec<(&'a str, Option<Cow<'a, str>>)>,
    evaluations: BTreeMap<u32, [Option<&'a AnyValue>; 4]>,
    agent_name: Option<Cow<'a, str>>,
    agent_version: Option<Cow<'a, str>>,
}

/// The typed part of a resource.
pub(super) struct ResourceRow<'a> {
    service_name: Option<Cow<'a, str>>,
    service_version: Option<Cow<'a, str>>,
    attributes: Vec<(&'a str, Option<Cow<'a, str>>)>,
}

impl<'a> SpanRow<'a> {
    fn slot(&self, field: SpanField) -> Option<&Slot<'a>> {
        self.slots[field as usize].as_ref()
    }

    fn text(&self, field: SpanField) -> Option<Cow<'a, str>> {
        self.slot(field).and_then(|s| value::to_text(s.value))
    }
}

impl Normalizer {
    /// Maps an OTLP trace export onto `spans` (and `scores` from evaluation span events and
    /// OpenInference `evaluations.N.evaluation.*` attributes).
    ///
    /// A span is rejected, with a message naming the problem, when its trace id is not 16
    /// bytes, its span id not 8 bytes (or either is all zero), its parent span id neither
    /// empty nor 8 bytes, its start time is 0, or it ends before it starts.
    pub fn traces(&self, request: &ExportTraceServiceRequest) -> Normalized {
        self.map_traces(request).into_normalized(self)
    }

    /// [`Normalizer::traces`] up to the columns: every span checked (the rejections
    /// counted in [`Mapped::outcome`]), agents inherited, scores read, the rows still
    /// borrowed from `request`, ready to be appended to a group's builders.
    pub fn map_traces<'a>(&self, request: &'a ExportTraceServiceRequest) -> Mapped<'a> {
        let mut out = Normalized::default();
        let mut resources = Vec::with_capacity(request.resource_spans.len());
        let mut rows: Vec<SpanRow<'_>> = Vec::new();
        for resource_spans in &request.resource_spans {
            let resource = resource_row(
                resource_spans
                    .resource
                    .as_ref()
                    .map_or(&[][..], |r| &r.attributes),
            );
            let resource_index = resources.len();
            resources.push(resource);
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    match self.span_row(span, resource_index) {
                        Ok(row) => rows.push(row),
                        Err(problem) => out.reject(|| format!("span {:?}: {problem}", span.name)),
                    }
                }
            }
        }
        inherit_agents(&mut rows, &resources);

        let mut scores = Vec::new();
        for row in &rows {
            self.collect_scores(row, &resources[row.resource], &mut scores, &mut out);
        }
        Mapped {
            rows: Rows(Kind::Traces(TraceRows {
                resources,
                spans: rows,
                scores,
            })),
            outcome: out,
        }
    }

    fn span_row<'a>(&self, span: &'a Span, resource: usize) -> Result<SpanRow<'a>, String> {
        let trace_id = hex_id::<16>(&span.trace_id).ok_or_else(|| {
            format!(
                "trace_id has {} bytes, expected 16 non-zero",
                span.trace_id.len()
            )
        })?;
        let span_id = hex_id::<8>(&span.span_id).ok_or_else(|| {
            format!(
                "span_id has {} bytes, expected 8 non-zero",
                span.span_id.len()
            )
        })?;
        let parent_span_id = match span.parent_span_id.len() {
            0 => None,
            8 => hex_id::<8>(&span.parent_span_id),
            n => return Err(format!("parent_span_id has {n} bytes, expected 0 or 8")),
        };
        if span.start_time_unix_nano == 0 {
            return Err("start_time_unix_nano is 0".into());
        }
        if span.end_time_unix_nano < span.start_time_unix_nano {
            return Err(format!(
                "end_time_unix_nano {} is before start_time_unix_nano {}",
                span.end_time_unix_nano, span.start_time_unix_nano
            ));
        }
        if span.start_time_unix_nano > i64::MAX as u64 || span.end_time_unix_nano > i64::MAX as u64
        {
            return Err("time is beyond the year 2262".into());
        }
        let mut row = SpanRow {
            span,
            resource,
            trace_id,
            span_id,
            parent_span_id,
            slots: [None; FIELD_SLOTS],
            confidence: None,
            escalated: false,
            attributes: Vec::with_capacity(span.attributes.len()),
            evaluations: BTreeMap::new(),
            agent_name: None,
            agent_version: None,
        };
        for kv in &span.attributes {
            self.take_attribute(&mut row, kv);
        }
        row.agent_name = row.text(SpanField::AgentName);
        row.agent_version = row.text(SpanField::AgentVersion);
        Ok(row)
    }

    /// Routes one attribute to its typed home, or to the map.
    fn take_attribute<'a>(&self, row: &mut SpanRow<'a>, kv: &'a KeyValue) {
        let Some(value) = kv.value.as_ref() else {
            row.attributes.push((&kv.key, None));
            return;
        };
        for rule in &self.config.escalation_attributes {
            if rule.key == kv.key
                && value::to_text(value).is_some_and(|t| t.eq_ignore_ascii_case(&rule.value))
            {
                row.escalated = true;
            }
        }
        if let Some(&rank) = self.confidence_rank.get(kv.key.as_str())
            && let Some(c) = value::to_f64(value).filter(|c| (0.0..=1.0).contains(c))
        {
            match row.confidence {
                Some((best, _)) if best <= rank => {
                    row.attributes.push((&kv.key, value::to_text(value)))
                }
                _ => row.confidence = Some((rank, c)),
            }
            return;
        }
        if let Some(rest) = kv.key.strip_prefix("evaluations.")
            && let Some((index, part)) = evaluation_from_attributes(rest)
        {
            row.evaluations.entry(index).or_default()[part] = Some(value);
            return;
        }
        // `token_type` is a `metrics` column; spans have none, so it stays in the map.
        let Some(entry) = self
            .mapping
            .lookup(&kv.key)
            .filter(|e| e.field != SpanField::TokenType)
        else {
            row.attributes.push((&kv.key, value::to_text(value)));
            return;
        };
        let slot = &mut row.slots[entry.field as usize];
        let new = Slot {
            priority: entry.priority,
            key: &kv.key,
            value,
        };
        match slot {
            Some(old) if old.priority <= entry.priority => {
                row.attributes.push((&kv.key, value::to_text(value)))
            }
            Some(old) => {
                let loser = std::mem::replace(old, new);
                row.attributes
                    .push((loser.key, value::to_text(loser.value)));
            }
            None => *slot = Some(new),
        }
    }

    fn collect_scores<'a>(
        &self,
        row: &SpanRow<'a>,
        resource: &ResourceRow<'a>,
        scores: &mut Vec<ScoreRow>,
        out: &mut Normalized,
    ) {
        let base = ScoreRow {
            time: row.span.end_time_unix_nano as i64,
            trace_id: Some(row.trace_id.clone()),
            span_id: Some(row.span_id.clone()),
            service_name: resource.service_name.as_deref().map(str::to_owned),
            agent_name: row.agent_name.as_deref().map(str::to_owned),
            ..ScoreRow::default()
        };
        for event in &row.span.events {
            if event.name != super::scores::EVALUATION_EVENT {
                continue;
            }
            let mut score = ScoreRow {
                time: if event.time_unix_nano == 0 {
                    base.time
                } else {
                    event.time_unix_nano as i64
                },
                source: score_sources::SPAN_EVENT,
                ..base.clone()
            };
            match score.fill_from_evaluation_attributes(&event.attributes) {
                Ok(()) => scores.push(score),
                Err(problem) => {
                    if out.errors.len() < Normalized::MAX_ERRORS {
                        out.errors.push(format!(
                            "evaluation event on span {}: {problem}",
                            row.span_id
                        ));
                    }
                }
            }
        }
        for (index, [name, score_value, label, explanation]) in &row.evaluations {
            let Some(name) = name.and_then(value::to_text) else {
                if out.errors.len() < Normalized::MAX_ERRORS {
                    out.errors.push(format!(
                        "evaluations.{index} on span {} has no evaluation.name",
                        row.span_id
                    ));
                }
                continue;
            };
            scores.push(ScoreRow {
                name: name.into_owned(),
                value: score_value.and_then(value::to_f64),
                label: label.and_then(value::to_text).map(Cow::into_owned),
                explanation: explanation.and_then(value::to_text).map(Cow::into_owned),
                source: score_sources::SPAN_ATTRIBUTE,
                ..base.clone()
            });
        }
    }
}

fn resource_row(attributes: &[KeyValue]) -> ResourceRow<'_> {
    let mut row = ResourceRow {
        service_name: None,
        service_version: None,
        attributes: Vec::with_capacity(attributes.len()),
    };
    for kv in attributes {
        let text = kv.value.as_ref().and_then(value::to_text);
        match kv.key.as_str() {
            "service.name" if row.service_name.is_none() => row.service_name = text,
            "service.version" if row.service_version.is_none() => row.service_version = text,
            _ => row.attributes.push((&kv.key, text)),
        }
    }
    row
}

/// SPEC §4: a span without its own agent name takes the nearest ancestor's in the same
/// request, else the service name; the agent version likewise, else the service version.
fn inherit_agents<'a>(rows: &mut [SpanRow<'a>], resources: &[ResourceRow<'a>]) {
    let by_id: HashMap<(&str, &str), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.trace_id.as_str(), r.span_id.as_str()), i))
        .collect();
    let ancestor_value = |start: usize, get: &dyn Fn(&SpanRow<'a>) -> Option<Cow<'a, str>>| {
        let mut current = start;
        // Bounded walk: a malformed request may hold a parent cycle.
        for _ in 0..rows.len().min(256) {
            let parent = rows[current].parent_span_id.as_deref()?;
            current = *by_id.get(&(rows[current].trace_id.as_str(), parent))?;
            if let Some(v) = get(&rows[current]) {
                return Some(v);
            }
        }
        None
    };
    // (agent name, agent version) each span inherits, where it has none of its own.
    let inherited: Vec<(Inherited<'a>, Inherited<'a>)> = (0..rows.len())
        .map(|i| {
            let name = match &rows[i].agent_name {
                Some(_) => None,
                None => ancestor_value(i, &|r| r.text(SpanField::AgentName))
                    .or_else(|| resources[rows[i].resource].service_name.clone()),
            };
            let version = match &rows[i].agent_version {
                Some(_) => None,
                None => ancestor_value(i, &|r| r.text(SpanField::AgentVersion))
                    .or_else(|| resources[rows[i].resource].service_version.clone()),
            };
            (name, version)
        })
        .collect();
    for (row, (name, version)) in rows.iter_mut().zip(inherited) {
        if row.agent_name.is_none() {
            row.agent_name = name;
        }
        if row.agent_version.is_none() {
            row.agent_version = version;
        }
    }
}

/// A value taken from an ancestor or the resource.
type Inherited<'a> = Option<Cow<'a, str>>;

fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "INTERNAL",
        2 => "SERVER",
        3 => "CLIENT",
        4 => "PRODUCER",
        5 => "CONSUMER",
        _ => "UNSPECIFIED",
    }
}

fn status_name(code: i32) -> &'static str {
    match code {
        1 => "OK",
        2 => "ERROR",
        _ => "UNSET",
    }
}

/// A trace export's checked rows, borrowed from the request.
pub(super) struct TraceRows<'a> {
    pub resources: Vec<ResourceRow<'a>>,
    pub spans: Vec<SpanRow<'a>>,
    /// Scores carried by the spans (events, OpenInference attributes).
    pub scores: Vec<ScoreRow>,
}

/// One builder per `spans` column.
pub(super) struct SpanBuilders {
    time: arrow::array::TimestampNanosecondBuilder,
    end_time: arrow::array::TimestampNanosecondBuilder,
    duration_ms: Floats,
    trace_id: Strings,
    span_id: Strings,
    parent_span_id: Strings,
    name: Strings,
    kind: Strings,
    status_code: Strings,
    status_message: Strings,
    service_name: Strings,
    service_version: Strings,
    agent_name: Strings,
    agent_version: Strings,
    operation: Strings,
    provider: Strings,
    request_model: Strings,
    response_model: Strings,
    response_id: Strings,
    conversation_id: Strings,
    prompt_name: Strings,
    prompt_version: Strings,
    tool_name: Strings,
    input_tokens: Ints,
    output_tokens: Ints,
    cache_read_tokens: Ints,
    cache_write_tokens: Ints,
    reasoning_tokens: Ints,
    cost_usd: Floats,
    price_id: Strings,
    confidence: Floats,
    escalated: Bools,
    error_type: Strings,
    attributes: arrow::array::MapBuilder<Strings, Strings>,
    resource_attributes: arrow::array::MapBuilder<Strings, Strings>,
    date: DateBuilder,
}

impl SpanBuilders {
    pub(super) fn with_capacity(n: usize) -> Self {
        let s = || Strings::with_capacity(n, n * 16);
        Self {
            time: builders::timestamp_builder(n),
            end_time: builders::timestamp_builder(n),
            duration_ms: Floats::with_capacity(n),
            trace_id: Strings::with_capacity(n, n * 32),
            span_id: Strings::with_capacity(n, n * 16),
            parent_span_id: Strings::with_capacity(n, n * 16),
            name: s(),
            kind: s(),
            status_code: s(),
            status_message: s(),
            service_name: s(),
            service_version: s(),
            agent_name: s(),
            agent_version: s(),
            operation: s(),
            provider: s(),
            request_model: s(),
            response_model: s(),
            response_id: s(),
            conversation_id: s(),
            prompt_name: s(),
            prompt_version: s(),
            tool_name: s(),
            input_tokens: Ints::with_capacity(n),
            output_tokens: Ints::with_capacity(n),
            cache_read_tokens: Ints::with_capacity(n),
            cache_write_tokens: Ints::with_capacity(n),
            reasoning_tokens: Ints::with_capacity(n),
            cost_usd: Floats::with_capacity(n),
            price_id: s(),
            confidence: Floats::with_capacity(n),
            escalated: Bools::with_capacity(n),
            error_type: s(),
            attributes: builders::map_builder(n),
            resource_attributes: builders::map_builder(n),
            date: DateBuilder::with_capacity(n),
        }
    }

    pub(super) fn append<'a>(
        &mut self,
        normalizer: &Normalizer,
        row: &SpanRow<'a>,
        resource: &ResourceRow<'a>,
    ) {
        let span = row.span;
        let start = span.start_time_unix_nano as i64;
        let end = span.end_time_unix_nano as i64;
        self.time.append_value(start);
        self.end_time.append_value(end);
        self.duration_ms.append_value((end - start) as f64 / 1e6);
        self.trace_id.append_value(&row.trace_id);
        self.span_id.append_value(&row.span_id);
        self.parent_span_id
            .append_option(row.parent_span_id.as_deref());
        self.name.append_value(&span.name);
        self.kind.append_value(kind_name(span.kind));
        let status = span.status.as_ref();
        self.status_code
            .append_value(status_name(status.map_or(0, |s| s.code)));
        self.status_message
            .append_option(status.map(|s| s.message.as_str()).filter(|m| !m.is_empty()));
        self.service_name
            .append_option(resource.service_name.as_deref());
        self.service_version
            .append_option(resource.service_version.as_deref());
        self.agent_name.append_option(row.agent_name.as_deref());
        self.agent_version
            .append_option(row.agent_version.as_deref());

        // Fields whose raw attribute could not be read as its column's type go back to the
        // map, so nothing sent is lost.
        let mut leftovers: Vec<(&str, Option<Cow<'_, str>>)> = Vec::new();
        let text = |field| row.text(field);
        let operation = text(SpanField::Operation).map(Cow::into_owned).or_else(|| {
            text(SpanField::OpenInferenceSpanKind).map(|k| operation_from_openinference(&k))
        });
        if operation.is_some()
            && row.slot(SpanField::Operation).is_some()
            && let Some(kind) = row.slot(SpanField::OpenInferenceSpanKind)
        {
            leftovers.push((kind.key, value::to_text(kind.value)));
        }
        self.operation.append_option(operation.as_deref());
        let provider = text(SpanField::Provider);
        self.provider.append_option(provider.as_deref());
        let request_model = text(SpanField::RequestModel).or_else(|| text(SpanField::ModelName));
        let response_model = text(SpanField::ResponseModel).or_else(|| text(SpanField::ModelName));
        if row.slot(SpanField::RequestModel).is_some()
            && row.slot(SpanField::ResponseModel).is_some()
            && let Some(m) = row.slot(SpanField::ModelName)
        {
            leftovers.push((m.key, value::to_text(m.value)));
        }
        self.request_model.append_option(request_model.as_deref());
        self.response_model.append_option(response_model.as_deref());
        self.response_id
            .append_option(text(SpanField::ResponseId).as_deref());
        self.conversation_id
            .append_option(text(SpanField::ConversationId).as_deref());
        self.prompt_name
            .append_option(text(SpanField::PromptName).as_deref());
        self.prompt_version
            .append_option(text(SpanField::PromptVersion).as_deref());
        let tool_name = text(SpanField::ToolName);
        self.tool_name.append_option(tool_name.as_deref());

        let mut int = |field: SpanField| -> Option<i64> {
            let slot = row.slot(field)?;
            let parsed = value::to_i64(slot.value).filter(|v| *v >= 0);
            if parsed.is_none() {
                leftovers.push((slot.key, value::to_text(slot.value)));
            }
            parsed
        };
        let usage = TokenUsage {
            input: int(SpanField::InputTokens),
            output: int(SpanField::OutputTokens),
            cache_read: int(SpanField::CacheReadTokens),
            cache_write: int(SpanField::CacheWriteTokens),
            reasoning: int(SpanField::ReasoningTokens),
        };
        self.input_tokens.append_option(usage.input);
        self.output_tokens.append_option(usage.output);
        self.cache_read_tokens.append_option(usage.cache_read);
        self.cache_write_tokens.append_option(usage.cache_write);
        self.reasoning_tokens.append_option(usage.reasoning);

        let client_cost = row.slot(SpanField::CostUsd).and_then(|slot| {
            let cost = value::to_f64(slot.value).filter(|c| *c >= 0.0);
            if cost.is_none() {
                leftovers.push((slot.key, value::to_text(slot.value)));
            }
            cost
        });
        let (cost, price_id) = match client_cost {
            Some(cost) => (Some(cost), None),
            None if usage.input.is_some() || usage.output.is_some() => {
                let model = response_model.as_deref().or(request_model.as_deref());
                model
                    .and_then(|m| normalizer.prices.lookup(provider.as_deref(), m, start))
                    .and_then(|price| Some((Some(price.cost(&usage)?), Some(price.id.as_str()))))
                    .unwrap_or((None, None))
            }
            None => (None, None),
        };
        self.cost_usd.append_option(cost);
        self.price_id.append_option(price_id);
        self.confidence
            .append_option(row.confidence.map(|(_, c)| c));
        let escalated_by_tool = operation.as_deref() == Some("execute_tool")
            && tool_name.as_deref().is_some_and(|t| {
                normalizer
                    .config
                    .escalation_tool_prefixes
                    .iter()
                    .any(|p| t.starts_with(p.as_str()))
            });
        self.escalated
            .append_value(row.escalated || escalated_by_tool);
        self.error_type
            .append_option(text(SpanField::ErrorType).as_deref());

        builders::append_map(
            &mut self.attributes,
            row.attributes
                .iter()
                .chain(leftovers.iter())
                .map(|(k, v)| (*k, v.as_deref())),
        );
        builders::append_map(
            &mut self.resource_attributes,
            resource.attributes.iter().map(|(k, v)| (*k, v.as_deref())),
        );
        self.date.append(start);
    }

    pub(super) fn finish(mut self) -> arrow::record_batch::RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.service_version.finish()),
            Arc::new(self.agent_name.finish()),
            Arc::new(self.agent_version.finish()),
            Arc::new(self.operation.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.request_model.finish()),
            Arc::new(self.response_model.finish()),
            Arc::new(self.response_id.finish()),
            Arc::new(self.conversation_id.finish()),
            Arc::new(self.prompt_name.finish()),
            Arc::new(self.prompt_version.finish()),
            Arc::new(self.tool_name.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.cache_read_tokens.finish()),
            Arc::new(self.cache_write_tokens.finish()),
            Arc::new(self.reasoning_tokens.finish()),
            Arc::new(self.cost_usd.finish()),
            Arc::new(self.price_id.finish()),
            Arc::new(self.confidence.finish()),
            Arc::new(self.escalated.finish()),
            Arc::new(self.error_type.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.resource_attributes.finish()),
            self.date.finish(),
        ];
        builders::batch(Table::Spans, columns)
    }
}
