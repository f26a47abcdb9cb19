//! The price table: list prices of the major providers' models, overridable by config.
//!
//! A span that reports token counts but no cost of its own is priced here (SPEC §4): the
//! collector calls [`PriceTable::lookup`] with the span's provider, model and start time, then
//! [`PriceRow::cost`] with its [`TokenUsage`], and stores the row's [`PriceRow::id`] as the
//! span's `price_id`. The shipped rows live in `schemas/data/prices.toml`, each with the
//! `source` URL it was read from and the date it was `checked`; `[[price]]` entries of the user
//! config ([`PriceOverride`]) are placed in front of them by [`PriceTable::with_overrides`].
//!
//! Deliberately not here: reading the config file (the root does), batch, priority or
//! long-context tariffs (rows hold the standard short-context rate; add an override for
//! anything else) and currency conversion (everything is USD).
//!
//! ```
//! use vigil_schemas::prices::{PriceTable, TokenUsage};
//!
//! let table = PriceTable::shipped();
//! let row = table.lookup(Some("anthropic"), "claude-sonnet-4-5-20250929", 1_790_000_000_000_000_000).unwrap();
//! let usage = TokenUsage { input: Some(1_000_000), output: Some(0), ..TokenUsage::default() };
//! assert_eq!(row.cost(&usage), Some(3.0));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use chrono::NaiveDate;
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The shipped price table, embedded at build time.
const SHIPPED_TOML: &str = include_str!("../data/prices.toml");

static SHIPPED: LazyLock<PriceTable> = LazyLock::new(|| {
    PriceTable::parse_shipped(SHIPPED_TOML)
        .unwrap_or_else(|e| panic!("schemas/data/prices.toml is invalid: {e}"))
});

/// Nanoseconds in a day.
const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Why a price table or a price override was rejected. Every message names the entry (its
/// `id`, or `config[<index>]` for an override without one) and the offending key.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The price table file is not valid TOML or not of the expected shape.
    #[error("price table: {0}")]
    Parse(String),
    /// A `model` pattern does not compile.
    #[error("price `{id}`: key `model`: invalid regex `{pattern}`: {source}")]
    InvalidRegex {
        /// The entry's id.
        id: String,
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler said.
        #[source]
        source: regex::Error,
    },
    /// A rate that is negative, NaN or infinite.
    #[error(
        "price `{id}`: key `{key}` must be a finite number >= 0 (USD per million tokens), got {value}"
    )]
    InvalidRate {
        /// The entry's id.
        id: String,
        /// The key, e.g. `input_per_mtok`.
        key: &'static str,
        /// The value given.
        value: f64,
    },
    /// An `id` or `provider` that is empty.
    #[error("price `{id}`: key `{key}` must not be empty")]
    Empty {
        /// The entry's id (or its position, when the id itself is empty).
        id: String,
        /// The empty key.
        key: &'static str,
    },
    /// The patterns compile one by one but not together (the combined automaton is too big).
    #[error("price table: the model patterns do not compile together: {0}")]
    TooLarge(#[source] regex::Error),
}

/// One `[[price]]` entry of the user config (SPEC §4). Rates are USD per million tokens.
///
/// `model` is a regular expression that must match the whole model name (it is anchored at
/// both ends and matched case-insensitively). `effective_from` accepts a TOML date
/// (`2026-01-31`) or a string in that form.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    /// Shown as `price_id` on the spans it prices; defaults to `config[<index>]`.
    pub id: Option<String>,
    /// Regex on the model name (whole-name, case-insensitive match).
    pub model: String,
    /// Only spans of this provider (aliases apply, see [`PriceTable::lookup`]).
    pub provider: Option<String>,
    /// First UTC day the price applies; none means "always".
    #[serde(default, deserialize_with = "deserialize_optional_date")]
    pub effective_from: Option<NaiveDate>,
    /// USD per million uncached input tokens.
    pub input_per_mtok: f64,
    /// USD per million output tokens.
    pub output_per_mtok: f64,
    /// USD per million input tokens read from a cache; the input rate when absent.
    pub cache_read_per_mtok: Option<f64>,
    /// USD per million input tokens written to a cache; the input rate when absent.
    pub cache_write_per_mtok: Option<f64>,
    /// USD per million reasoning tokens; the output rate when absent.
    pub reasoning_per_mtok: Option<f64>,
}

/// One row of the price table. Rates are USD per million tokens.
#[derive(Clone, Debug)]
pub struct PriceRow {
    /// Stable name of the row, stored as the span's `price_id` (e.g. `openai/gpt-4o`, or an
    /// override's id).
    pub id: String,
    /// The provider the row is restricted to, as written; `None` matches every provider.
    pub provider: Option<String>,
    /// The model pattern, compiled anchored (`^(?:…)$`) and case-insensitive.
    pub model: Regex,
    /// First UTC day the row applies; `None` means "always".
    pub effective_from: Option<NaiveDate>,
    /// USD per million uncached input tokens.
    pub input_per_mtok: f64,
    /// USD per million output tokens.
    pub output_per_mtok: f64,
    /// USD per million cache-read input tokens; `None` means the input rate.
    pub cache_read_per_mtok: Option<f64>,
    /// USD per million cache-write input tokens; `None` means the input rate.
    pub cache_write_per_mtok: Option<f64>,
    /// USD per million reasoning output tokens; `None` means the output rate.
    pub reasoning_per_mtok: Option<f64>,
    /// True for a `[[price]]` entry of the config, false for a shipped row.
    pub is_override: bool,
    /// Where a shipped row's rates were read (a URL); `None` for overrides.
    pub source: Option<String>,
}

/// Token counts of one span. `cache_read` and `cache_write` are subsets of `input`, and
/// `reasoning` is a subset of `output`, as the GenAI conventions define them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// All input tokens, cached ones included.
    pub input: Option<i64>,
    /// All output tokens, reasoning ones included.
    pub output: Option<i64>,
    /// Input tokens served from a provider-managed cache.
    pub cache_read: Option<i64>,
    /// Input tokens written to a provider-managed cache.
    pub cache_write: Option<i64>,
    /// Output tokens spent on reasoning.
    pub reasoning: Option<i64>,
}

impl PriceRow {
    /// The price of `usage` in USD, by SPEC §4:
    ///
    /// ```text
    /// (input − cache_read − cache_write) × input rate
    ///   + cache_read × cache-read rate + cache_write × cache-write rate
    ///   + (output − reasoning) × output rate + reasoning × reasoning rate
    /// ```
    ///
    /// all divided by 1,000,000 since rates are USD per million tokens. A subset with no rate
    /// of its own is priced at its parent's rate (cache reads and writes at the input rate,
    /// reasoning at the output rate), so it costs what it would have cost uncounted.
    ///
    /// `None` when both `input` and `output` are `None` (nothing to price). A missing count is
    /// taken as 0, and so is a negative one. When a client reports inconsistent numbers —
    /// cache tokens above the input total, or reasoning tokens above the output total — the
    /// remainder (`input − cache_read − cache_write`, `output − reasoning`) is clamped at 0
    /// rather than turning into a negative charge; the subsets are still priced in full.
    pub fn cost(&self, usage: &TokenUsage) -> Option<f64> {
        if usage.input.is_none() && usage.output.is_none() {
            return None;
        }
        let count = |n: Option<i64>| n.unwrap_or(0).max(0) as f64;
        let input = count(usage.input);
        let cache_read = count(usage.cache_read);
        let cache_write = count(usage.cache_write);
        let output = count(usage.output);
        let reasoning = count(usage.reasoning);

        let uncached = (input - cache_read - cache_write).max(0.0);
        let visible_output = (output - reasoning).max(0.0);
        let micro_usd = uncached * self.input_per_mtok
            + cache_read * self.cache_read_per_mtok.unwrap_or(self.input_per_mtok)
            + cache_write * self.cache_write_per_mtok.unwrap_or(self.input_per_mtok)
            + visible_output * self.output_per_mtok
            + reasoning * self.reasoning_per_mtok.unwrap_or(self.output_per_mtok);
        Some(micro_usd / 1_000_000.0)
    }
}

/// The price table: shipped rows, optionally preceded by config overrides.
///
/// Lookups are on the ingest hot path (one per LLM span), so every pattern is compiled once,
/// into the row's [`Regex`] and into one [`RegexSet`] that finds all matching rows in a
/// single pass over the model name, and the rows a model name matches are remembered.
#[derive(Clone, Debug)]
pub struct PriceTable {
    /// Overrides first (config order), then shipped rows (file order).
    rows: Vec<PriceRow>,
    /// Precomputed per-row facts, parallel to `rows`.
    meta: Vec<RowMeta>,
    /// All anchored patterns, index-aligned with `rows`.
    set: RegexSet,
    /// The rows of `set` that each model name looked up matches, for up to
    /// [`CACHED_MODELS`] names; shared by the table's clones, which share `set`.
    matches: Arc<RwLock<ModelMatches>>,
}

/// Model name → the indices of the rows whose pattern matches it, in table order.
type ModelMatches = HashMap<Box<str>, Box<[usize]>>;

/// How many model names a [`PriceTable`] remembers the matching rows of: far more than the
/// models a fleet calls, and few enough that names made up per request cannot grow it
/// without bound (past it, names are matched by the pattern set each time).
const CACHED_MODELS: usize = 4096;

/// Model names longer than this, in bytes, are matched each time and not remembered.
const CACHED_MODEL_BYTES: usize = 256;

/// What a lookup needs of a row besides its pattern, precomputed.
#[derive(Clone, Debug)]
struct RowMeta {
    /// `effective_from` as unix nanoseconds at UTC midnight; `i64::MIN` for "always".
    effective_from_ns: i64,
    /// Which span providers the row matches.
    provider: RowProvider,
    /// The anchored pattern, kept to rebuild the set when overrides are added.
    anchored: String,
}

/// The provider restriction of a row.
#[derive(Clone, Debug)]
enum RowProvider {
    /// No restriction.
    Any,
    /// A known provider family (see [`provider_family`]).
    Family(&'static str),
    /// A provider we know no aliases of: compared case-insensitively as written.
    Other(String),
}

impl PriceTable {
    /// The table shipped in `schemas/data/prices.toml`. Parsed and compiled once per process;
    /// each call returns a cheap clone (compiled regexes are shared).
    ///
    /// # Panics
    ///
    /// If the embedded file is invalid, which the crate's tests rule out.
    pub fn shipped() -> PriceTable {
        SHIPPED.clone()
    }

    /// The shipped table with `overrides` in front of it, in the given order. An override
    /// without an `id` is named `config[<index>]` after its position in `overrides`.
    ///
    /// # Errors
    ///
    /// [`PriceError`] naming the entry and the key when a `model` pattern does not compile, a
    /// rate is negative or not finite, or an `id` or `provider` is empty.
    pub fn with_overrides(overrides: &[PriceOverride]) -> Result<PriceTable, PriceError> {
        let shipped = &*SHIPPED;
        let mut rows = Vec::with_capacity(overrides.len() + shipped.rows.len());
        let mut meta = Vec::with_capacity(overrides.len() + shipped.rows.len());
        for (index, o) in overrides.iter().enumerate() {
            let id = o.id.clone().unwrap_or_else(|| format!("config[{index}]"));
            if id.trim().is_empty() {
                return Err(PriceError::Empty {
                    id: format!("config[{index}]"),
                    key: "id",
                });
            }
            let spec = RowSpec {
                id,
                model: &o.model,
                provider: o.provider.clone(),
                effective_from: o.effective_from,
                input_per_mtok: o.input_per_mtok,
                output_per_mtok: o.output_per_mtok,
                cache_read_per_mtok: o.cache_read_per_mtok,
                cache_write_per_mtok: o.cache_write_per_mtok,
                reasoning_per_mtok: o.reasoning_per_mtok,
                is_override: true,
                source: None,
            };
            let (row, m) = spec.build()?;
            rows.push(row);
            meta.push(m);
        }
        rows.extend(shipped.rows.iter().cloned());
        meta.extend(shipped.meta.iter().cloned());
        PriceTable::assemble(rows, meta)
    }

    /// The row that prices `model` from `provider` at `at_unix_nano` (the span's start time,
    /// unix nanoseconds), or `None` when no row applies.
    ///
    /// A row applies when its pattern matches the whole model name (case-insensitively), its
    /// `effective_from` is at or before `at_unix_nano` (UTC midnight of that day), and its
    /// provider matches. Among applicable rows, overrides win over shipped rows; among rows of
    /// the same kind, the one with the latest `effective_from` wins (a row without one counts
    /// as the earliest), and ties go to the earlier row in file (or config) order.
    ///
    /// Providers: a span without a provider matches every row, and a row without a provider
    /// matches every span. Otherwise both are compared case-insensitively after resolving
    /// aliases to a family:
    ///
    /// | family | aliases (values of `gen_ai.provider.name`, `gen_ai.system`, `llm.system`, `llm.provider`) |
    /// |---|---|
    /// | `openai` | `openai`, `azure.ai.openai`, `az.ai.openai`, `azure`, `azure_openai`, `azure-openai` |
    /// | `anthropic` | `anthropic` |
    /// | `google` | `google`, `gemini`, `gcp.gemini`, `gcp.gen_ai`, `gcp.vertex_ai`, `vertex_ai`, `vertexai`, `google_genai` |
    /// | `x_ai` | `x_ai`, `xai` |
    /// | `mistral_ai` | `mistral_ai`, `mistralai`, `mistral` |
    /// | `deepseek` | `deepseek` |
    /// | `cohere` | `cohere` |
    /// | `amazon` | `amazon`, `amazon_nova`, `aws`, `aws.bedrock`, `bedrock` |
    ///
    /// Azure OpenAI lists the same per-token prices as OpenAI for global deployments, hence
    /// `azure` ~ `openai`. Cloud marketplaces (`aws.bedrock`, `aws`, `bedrock`, `gcp.vertex_ai`,
    /// `vertex_ai`, `vertexai`, `azure.ai.inference`, `az.ai.inference`) resell other vendors'
    /// models, so a span from one of them matches rows of every provider and the model pattern
    /// decides (e.g. Bedrock's `anthropic.claude-sonnet-4-5-20250929-v1:0` is priced by the
    /// Claude row). A marketplace surcharge (regional endpoints) needs an override. A row
    /// provider outside this table matches only the same string.
    ///
    /// Model names are trimmed; a name of the form `vendor/model` (OpenRouter, LiteLLM) that
    /// matches no row is retried as `model`.
    ///
    /// Cost: a hash lookup of `model` (and of the bare name, for an unmatched
    /// `vendor/model`) plus a scan of the matching rows. A model name not seen before costs
    /// one pass of the compiled [`RegexSet`] over it, whose result is remembered (that pass
    /// was about half of the lookup's time at 40 spans per request, BENCHMARKS.md, twelfth
    /// pass); no regex is compiled here.
    pub fn lookup(
        &self,
        provider: Option<&str>,
        model: &str,
        at_unix_nano: i64,
    ) -> Option<&PriceRow> {
        let span = provider.map(str::trim).map(|raw| SpanProvider {
            raw,
            family: provider_family(raw),
            marketplace: is_marketplace(raw),
        });
        let model = model.trim();
        let best = self
            .best_row(span.as_ref(), model, at_unix_nano)
            .or_else(|| {
                // Gateways (OpenRouter, LiteLLM) name models `vendor/model`.
                let (_, bare) = model.rsplit_once('/')?;
                self.best_row(span.as_ref(), bare, at_unix_nano)
            });
        best.map(|i| &self.rows[i])
    }

    /// Every row: overrides first (config order), then shipped rows (file order).
    pub fn rows(&self) -> &[PriceRow] {
        &self.rows
    }

    /// The index of the winning row for exactly `model`, see [`PriceTable::lookup`].
    fn best_row(
        &self,
        span: Option<&SpanProvider<'_>>,
        model: &str,
        at_unix_nano: i64,
    ) -> Option<usize> {
        let read = self.matches.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(rows) = read.get(model) {
            return self.best_of(rows, span, at_unix_nano);
        }
        drop(read);
        let rows: Box<[usize]> = self.set.matches(model).iter().collect();
        let best = self.best_of(&rows, span, at_unix_nano);
        if model.len() <= CACHED_MODEL_BYTES {
            let mut cache = self.matches.write().unwrap_or_else(PoisonError::into_inner);
            if cache.len() < CACHED_MODELS {
                cache.insert(model.into(), rows);
            }
        }
        best
    }

    /// The winner among `candidates`, the rows whose pattern matches the model name in
    /// table order, for a span of provider `span` at `at_unix_nano`.
    fn best_of(
        &self,
        candidates: &[usize],
        span: Option<&SpanProvider<'_>>,
        at_unix_nano: i64,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        for &i in candidates {
            let meta = &self.meta[i];
            if meta.effective_from_ns > at_unix_nano || !provider_matches(&meta.provider, span) {
                continue;
            }
            best = match best {
                Some(b) if !self.beats(i, b) => Some(b),
                _ => Some(i),
            };
        }
        best
    }

    /// Whether row `a` wins over row `b` (`b` comes first in table order).
    fn beats(&self, a: usize, b: usize) -> bool {
        let (ra, rb) = (&self.rows[a], &self.rows[b]);
        if ra.is_override != rb.is_override {
            return ra.is_override;
        }
        self.meta[a].effective_from_ns > self.meta[b].effective_from_ns
    }

    /// Parses the shipped file format.
    fn parse_shipped(text: &str) -> Result<PriceTable, PriceError> {
        let file: PriceFile = toml::from_str(text).map_err(|e| PriceError::Parse(e.to_string()))?;
        let mut rows = Vec::with_capacity(file.price.len());
        let mut meta = Vec::with_capacity(file.price.len());
        for p in file.price {
            if p.id.trim().is_empty() {
                return Err(PriceError::Empty {
                    id: format!("price[{}]", rows.len()),
                    key: "id",
                });
            }
            if p.source.trim().is_empty() {
                return Err(PriceError::Empty {
                    id: p.id,
                    key: "source",
                });
            }
            let spec = RowSpec {
                id: p.id,
                model: &p.model,
                provider: p.provider,
                effective_from: p.effective_from,
                input_per_mtok: p.input_per_mtok,
                output_per_mtok: p.output_per_mtok,
                cache_read_per_mtok: p.cache_read_per_mtok,
                cache_write_per_mtok: p.cache_write_per_mtok,
                reasoning_per_mtok: p.reasoning_per_mtok,
                is_override: false,
                source: Some(p.source),
            };
            let (row, m) = spec.build()?;
            rows.push(row);
            meta.push(m);
        }
        PriceTable::assemble(rows, meta)
    }

    /// Builds the combined pattern set.
    fn assemble(rows: Vec<PriceRow>, meta: Vec<RowMeta>) -> Result<PriceTable, PriceError> {
        let set = RegexSetBuilder::new(meta.iter().map(|m| m.anchored.as_str()))
            .case_insensitive(true)
            .build()
            .map_err(PriceError::TooLarge)?;
        Ok(PriceTable {
            rows,
            meta,
            set,
            matches: Arc::default(),
        })
    }
}

/// The fields of a row before validation, shared by shipped rows and overrides.
struct RowSpec<'a> {
    id: String,
    model: &'a str,
    provider: Option<String>,
    effective_from: Option<NaiveDate>,
    input_per_mtok: f64,
    output_per_mtok: f64,
    cache_read_per_mtok: Option<f64>,
    cache_write_per_mtok: Option<f64>,
    reasoning_per_mtok: Option<f64>,
    is_override: bool,
    source: Option<String>,
}

impl RowSpec<'_> {
    /// Validates the rates and the provider, compiles the pattern.
    fn build(self) -> Result<(PriceRow, RowMeta), PriceError> {
        let rates = [
            ("input_per_mtok", Some(self.input_per_mtok)),
            ("output_per_mtok", Some(self.output_per_mtok)),
            ("cache_read_per_mtok", self.cache_read_per_mtok),
            ("cache_write_per_mtok", self.cache_write_per_mtok),
            ("reasoning_per_mtok", self.reasoning_per_mtok),
        ];
        for (key, value) in rates {
            if let Some(value) = value
                && !(value.is_finite() && value >= 0.0)
            {
                return Err(PriceError::InvalidRate {
                    id: self.id,
                    key,
                    value,
                });
            }
        }
        let provider = match self.provider.as_deref().map(str::trim) {
            None => RowProvider::Any,
            Some("") => {
                return Err(PriceError::Empty {
                    id: self.id,
                    key: "provider",
                });
            }
            Some(p) => match provider_family(p) {
                Some(family) => RowProvider::Family(family),
                None => RowProvider::Other(p.to_owned()),
            },
        };
        let anchored = format!("^(?:{})$", self.model);
        let model = RegexBuilder::new(&anchored)
            .case_insensitive(true)
            .build()
            .map_err(|source| PriceError::InvalidRegex {
                id: self.id.clone(),
                pattern: self.model.to_owned(),
                source,
            })?;
        let effective_from_ns = self.effective_from.map_or(i64::MIN, date_to_unix_nanos);
        let row = PriceRow {
            id: self.id,
            provider: self.provider,
            model,
            effective_from: self.effective_from,
            input_per_mtok: self.input_per_mtok,
            output_per_mtok: self.output_per_mtok,
            cache_read_per_mtok: self.cache_read_per_mtok,
            cache_write_per_mtok: self.cache_write_per_mtok,
            reasoning_per_mtok: self.reasoning_per_mtok,
            is_override: self.is_override,
            source: self.source,
        };
        Ok((
            row,
            RowMeta {
                effective_from_ns,
                provider,
                anchored,
            },
        ))
    }
}

/// UTC midnight of `date` as unix nanoseconds, saturating outside the `i64` range
/// (years before 1677 or after 2262).
fn date_to_unix_nanos(date: NaiveDate) -> i64 {
    // `NaiveDate::default()` is 1970-01-01.
    let days = date.signed_duration_since(NaiveDate::default()).num_days();
    days.saturating_mul(NANOS_PER_DAY)
}

/// The span side of a provider comparison, resolved once per lookup.
struct SpanProvider<'a> {
    raw: &'a str,
    family: Option<&'static str>,
    marketplace: bool,
}

/// Alias → family. Compared case-insensitively.
const PROVIDER_ALIASES: &[(&str, &str)] = &[
    ("openai", "openai"),
    ("azure.ai.openai", "openai"),
    ("az.ai.openai", "openai"),
    ("azure", "openai"),
    ("azure_openai", "openai"),
    ("azure-openai", "openai"),
    ("anthropic", "anthropic"),
    ("google", "google"),
    ("gemini", "google"),
    ("gcp.gemini", "google"),
    ("gcp.gen_ai", "google"),
    ("gcp.vertex_ai", "google"),
    ("vertex_ai", "google"),
    ("vertexai", "google"),
    ("google_genai", "google"),
    ("x_ai", "x_ai"),
    ("xai", "x_ai"),
    ("mistral_ai", "mistral_ai"),
    ("mistralai", "mistral_ai"),
    ("mistral", "mistral_ai"),
    ("deepseek", "deepseek"),
    ("cohere", "cohere"),
    ("amazon", "amazon"),
    ("amazon_nova", "amazon"),
    ("aws", "amazon"),
    ("aws.bedrock", "amazon"),
    ("bedrock", "amazon"),
];

/// Providers that host several vendors' models.
const MARKETPLACES: &[&str] = &[
    "aws.bedrock",
    "aws",
    "bedrock",
    "gcp.vertex_ai",
    "vertex_ai",
    "vertexai",
    "azure.ai.inference",
    "az.ai.inference",
];

/// The family of a provider name, if it is a known alias.
fn provider_family(name: &str) -> Option<&'static str> {
    PROVIDER_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map(|&(_, family)| family)
}

/// Whether a provider name is a multi-vendor marketplace.
fn is_marketplace(name: &str) -> bool {
    MARKETPLACES.iter().any(|m| m.eq_ignore_ascii_case(name))
}

/// Whether a row's provider restriction admits the span's provider.
fn provider_matches(row: &RowProvider, span: Option<&SpanProvider<'_>>) -> bool {
    let Some(span) = span else { return true };
    match row {
        RowProvider::Any => true,
        RowProvider::Family(family) => span.family == Some(*family) || span.marketplace,
        RowProvider::Other(name) => name.eq_ignore_ascii_case(span.raw),
    }
}

/// The shipped file: `[[price]]` rows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    price: Vec<ShippedPrice>,
}

/// One shipped row: a [`PriceOverride`] plus a mandatory id, source and checked date.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippedPrice {
    id: String,
    model: String,
    provider: Option<String>,
    #[serde(default, deserialize_with = "deserialize_optional_date")]
    effective_from: Option<NaiveDate>,
    input_per_mtok: f64,
    output_per_mtok: f64,
    cache_read_per_mtok: Option<f64>,
    cache_write_per_mtok: Option<f64>,
    reasoning_per_mtok: Option<f64>,
    source: String,
    /// The day the rates were last verified against `source`. Required so that no row can be
    /// added without one; only humans read it.
    #[allow(dead_code)]
    #[serde(deserialize_with = "deserialize_date")]
    checked: NaiveDate,
}

/// Deserializes a date given as a TOML local date or as a `YYYY-MM-DD` string.
fn deserialize_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    deserializer.deserialize_any(DateVisitor)
}

/// [`deserialize_date`] for an optional field (absence is handled by `#[serde(default)]`).
fn deserialize_optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    deserializer.deserialize_any(DateVisitor).map(Some)
}

/// Accepts `"2026-01-31"` and TOML's date values, which the `toml` crate hands over as a map
/// with a single private key whose value is the date's text.
struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = NaiveDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date such as 2026-01-31")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<NaiveDate, E> {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| E::custom(format!("`{text}` is not a date such as 2026-01-31")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NaiveDate, A::Error> {
        match map.next_entry::<String, String>()? {
            Some((_, text)) => self.visit_str(&text),
            None => Err(de::Error::custom("expected a date such as 2026-01-31")),
        }
    }
}

#[cfg(test)]
mod tests;
