//! Which span-attribute keys feed which typed `spans` column, per convention dialect.
//!
//! Agents describe the same fact under different names: the current OpenTelemetry GenAI
//! conventions (`gen_ai.usage.input_tokens`), their renamed predecessors
//! (`gen_ai.usage.prompt_tokens`), OpenInference (`llm.token_count.prompt`) and vendor names
//! from before either existed. This module says, for every such key, which [`SpanField`] it
//! feeds and how it ranks against the other keys of that field. The mapping is data, kept in
//! `schemas/data/attributes.toml` (with its sources) and parsed once into
//! [`AttributeMapping::shipped`].
//!
//! Key types: [`AttributeMapping`] (the lookup table), [`MappingEntry`] (one key),
//! [`SpanField`] and [`Dialect`]. Deliberately not here: reading attribute values, picking the
//! winning key of a span, ancestor inheritance and escalation rules — that is the collector's
//! span mapper, which calls [`AttributeMapping::lookup`] once per attribute and keeps, per
//! field, the entry with the lowest [`MappingEntry::priority`]; every attribute that no entry
//! claims goes to the `attributes` map column.
//!
//! ```
//! use vigil_schemas::mapping::{AttributeMapping, Dialect, SpanField};
//!
//! let entry = AttributeMapping::shipped().lookup("llm.token_count.prompt").unwrap();
//! assert_eq!(entry.field, SpanField::InputTokens);
//! assert_eq!(entry.dialect, Dialect::OpenInference);
//! ```

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The shipped mapping, embedded at build time.
const SHIPPED_TOML: &str = include_str!("../data/attributes.toml");

static SHIPPED: LazyLock<AttributeMapping> = LazyLock::new(|| {
    AttributeMapping::parse(SHIPPED_TOML)
        .unwrap_or_else(|e| panic!("schemas/data/attributes.toml is invalid: {e}"))
});

/// A typed `spans` column (or normaliser input) that span attributes feed; the GenAI
/// columns of `metrics` are fed by the same keys (SPEC §4).
///
/// Most variants are columns of SPEC §4 under the same name. Two are normaliser inputs that
/// have no column of their own: [`SpanField::OpenInferenceSpanKind`] becomes `operation`
/// through [`operation_from_openinference`], and [`SpanField::ModelName`] fills
/// `request_model` and `response_model` when they are absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanField {
    /// `agent_name`.
    AgentName,
    /// `agent_version`.
    AgentVersion,
    /// `operation` (e.g. `chat`, `execute_tool`).
    Operation,
    /// OpenInference `openinference.span.kind`; becomes `operation` when that is absent.
    OpenInferenceSpanKind,
    /// `provider`.
    Provider,
    /// `request_model`.
    RequestModel,
    /// `response_model`.
    ResponseModel,
    /// OpenInference `llm.model_name`: fills request and response model when absent.
    ModelName,
    /// `conversation_id`.
    ConversationId,
    /// `prompt_name`.
    PromptName,
    /// `prompt_version`.
    PromptVersion,
    /// `input_tokens` (count, includes cached tokens).
    InputTokens,
    /// `output_tokens` (count, includes reasoning tokens).
    OutputTokens,
    /// `cache_read_tokens` (count, a subset of input tokens).
    CacheReadTokens,
    /// `cache_write_tokens` (count, a subset of input tokens).
    CacheWriteTokens,
    /// `reasoning_tokens` (count, a subset of output tokens).
    ReasoningTokens,
    /// `cost_usd` as sent by the client (USD).
    CostUsd,
    /// `error_type`.
    ErrorType,
    /// `gen_ai.response.id`: joins evaluation scores to their span (SPEC §4, `scores`).
    ResponseId,
    /// The tool an `execute_tool` span ran; feeds the escalation rules.
    ToolName,
    /// `gen_ai.token.type` (`input`, `output`): a column of `metrics` only (the token
    /// usage histogram's split); on a span it stays in the attribute map.
    TokenType,
}

/// The naming convention a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// Current OTel GenAI semantic conventions (v1.37–v1.41, and the names the
    /// `semantic-conventions-genai` repository defined after v1.41), plus `error.type`.
    OtelGenai,
    /// GenAI names the conventions renamed or deprecated (e.g. `gen_ai.system`).
    OtelGenaiDeprecated,
    /// OpenInference semantic conventions.
    OpenInference,
    /// Vendor or pre-standard names such as `agent.version` or OpenLLMetry's
    /// `gen_ai.usage.cache_read_input_tokens`.
    Legacy,
}

/// One attribute key and what it feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingEntry {
    /// The attribute key, exactly as it appears on the span.
    pub key: String,
    /// The field the key's value goes to.
    pub field: SpanField,
    /// The convention the key comes from.
    pub dialect: Dialect,
    /// Rank among the keys of the same field: 0 is best. When a span carries several keys
    /// of one field, the value of the key with the lowest priority wins (SPEC §4 order).
    pub priority: u8,
}

/// The attribute mapping: every known key, each mapped to exactly one [`SpanField`].
#[derive(Clone, Debug)]
pub struct AttributeMapping {
    /// All entries, in file order (fields in order, keys by priority within a field).
    entries: Vec<MappingEntry>,
    /// Key → index into `entries`.
    by_key: HashMap<String, usize>,
}

impl AttributeMapping {
    /// The mapping shipped in `schemas/data/attributes.toml`, parsed on first use.
    ///
    /// # Panics
    ///
    /// If the embedded file is invalid, which the crate's tests rule out.
    pub fn shipped() -> &'static AttributeMapping {
        &SHIPPED
    }

    /// The entry of `key`, or `None` when no typed column takes it (the attribute then
    /// belongs in the `attributes` map). Keys match exactly, case-sensitively, as the
    /// conventions define them.
    ///
    /// O(1) hash lookup; the hot path of ingest, so no allocation.
    pub fn lookup(&self, key: &str) -> Option<&MappingEntry> {
        self.by_key.get(key).map(|&i| &self.entries[i])
    }

    /// Every entry, fields in file order and, within a field, best key first.
    pub fn entries(&self) -> impl Iterator<Item = &MappingEntry> {
        self.entries.iter()
    }

    /// Parses the TOML format of `schemas/data/attributes.toml` and checks that no key and no
    /// field appears twice.
    fn parse(text: &str) -> Result<AttributeMapping, MappingError> {
        let file: MappingFile =
            toml::from_str(text).map_err(|e| MappingError::Parse(e.to_string()))?;
        let mut entries = Vec::new();
        let mut by_key = HashMap::new();
        let mut seen_fields = Vec::with_capacity(file.field.len());
        for section in file.field {
            if seen_fields.contains(&section.name) {
                return Err(MappingError::DuplicateField(section.name));
            }
            seen_fields.push(section.name);
            if section.keys.is_empty() {
                return Err(MappingError::NoKeys(section.name));
            }
            for (index, spec) in section.keys.into_iter().enumerate() {
                let priority =
                    u8::try_from(index).map_err(|_| MappingError::TooManyKeys(section.name))?;
                if spec.key.trim().is_empty() {
                    return Err(MappingError::EmptyKey(section.name));
                }
                if let Some(&first) = by_key.get(&spec.key) {
                    let first: &MappingEntry = &entries[first];
                    return Err(MappingError::DuplicateKey {
                        key: spec.key,
                        first: first.field,
                        second: section.name,
                    });
                }
                by_key.insert(spec.key.clone(), entries.len());
                entries.push(MappingEntry {
                    key: spec.key,
                    field: section.name,
                    dialect: spec.dialect,
                    priority,
                });
            }
        }
        Ok(AttributeMapping { entries, by_key })
    }
}

/// `openinference.span.kind` → `operation` per SPEC §4: LLM→chat, EMBEDDING→embeddings,
/// TOOL→execute_tool, RETRIEVER→retrieval, AGENT→invoke_agent, others lower-cased.
///
/// The kinds are matched case-insensitively, since the OpenInference spec spells them in
/// upper case but some instrumentations do not. Leading and trailing whitespace is ignored.
pub fn operation_from_openinference(kind: &str) -> String {
    let kind = kind.trim();
    let mapped = [
        ("LLM", "chat"),
        ("EMBEDDING", "embeddings"),
        ("TOOL", "execute_tool"),
        ("RETRIEVER", "retrieval"),
        ("AGENT", "invoke_agent"),
    ]
    .into_iter()
    .find(|(from, _)| kind.eq_ignore_ascii_case(from));
    match mapped {
        Some((_, operation)) => operation.to_owned(),
        None => kind.to_lowercase(),
    }
}

/// Why a mapping file was rejected.
#[derive(Debug, thiserror::Error)]
enum MappingError {
    /// Not valid TOML, or not of the expected shape.
    #[error("attribute mapping: {0}")]
    Parse(String),
    /// A key listed under two fields (or twice under one).
    #[error(
        "attribute mapping: key `{key}` is listed under {first:?} and again under {second:?}; a key feeds exactly one field"
    )]
    DuplicateKey {
        /// The key.
        key: String,
        /// The field of its first listing.
        first: SpanField,
        /// The field of its second listing.
        second: SpanField,
    },
    /// Two `[[field]]` sections with the same name, which would make priorities ambiguous.
    #[error("attribute mapping: field {0:?} has two [[field]] sections; list all its keys in one")]
    DuplicateField(SpanField),
    /// A `[[field]]` section with no keys.
    #[error("attribute mapping: field {0:?} has no keys")]
    NoKeys(SpanField),
    /// An empty or blank key.
    #[error("attribute mapping: field {0:?} has an empty key")]
    EmptyKey(SpanField),
    /// More keys than a `u8` priority can rank.
    #[error("attribute mapping: field {0:?} has more than 256 keys")]
    TooManyKeys(SpanField),
}

/// The file: `[[field]]` sections.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    field: Vec<FieldSection>,
}

/// One `[[field]]` section: the field and its keys, best first.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSection {
    name: SpanField,
    keys: Vec<KeySpec>,
}

/// One `{ key = ..., dialect = ... }` of a section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    key: String,
    dialect: Dialect,
}

#[cfg(test)]
mod tests;
