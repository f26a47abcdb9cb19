use std::collections::HashSet;

use super::*;

/// Asserts that each `(key, field)` is mapped to `field` under `dialect`.
fn assert_dialect(dialect: Dialect, cases: &[(&str, SpanField)]) {
    let mapping = AttributeMapping::shipped();
    for &(key, field) in cases {
        let entry = mapping
            .lookup(key)
            .unwrap_or_else(|| panic!("`{key}` is not mapped"));
        assert_eq!(entry.field, field, "field of `{key}`");
        assert_eq!(entry.dialect, dialect, "dialect of `{key}`");
        assert_eq!(entry.key, key);
    }
}

/// The keys of `field`, best first.
fn keys_of(field: SpanField) -> Vec<&'static str> {
    let mut entries: Vec<&MappingEntry> = AttributeMapping::shipped()
        .entries()
        .filter(|e| e.field == field)
        .collect();
    entries.sort_by_key(|e| e.priority);
    entries.iter().map(|e| e.key.as_str()).collect()
}

#[test]
fn shipped_mapping_parses_and_covers_every_field() {
    let all = [
        SpanField::AgentName,
        SpanField::AgentVersion,
        SpanField::Operation,
        SpanField::OpenInferenceSpanKind,
        SpanField::Provider,
        SpanField::RequestModel,
        SpanField::ResponseModel,
        SpanField::ModelName,
        SpanField::ConversationId,
        SpanField::PromptName,
        SpanField::PromptVersion,
        SpanField::InputTokens,
        SpanField::OutputTokens,
        SpanField::CacheReadTokens,
        SpanField::CacheWriteTokens,
        SpanField::ReasoningTokens,
        SpanField::CostUsd,
        SpanField::ErrorType,
        SpanField::ResponseId,
        SpanField::ToolName,
        SpanField::TokenType,
    ];
    for field in all {
        assert!(!keys_of(field).is_empty(), "{field:?} has no key");
    }
}

#[test]
fn otel_genai_current_keys() {
    use SpanField::*;
    assert_dialect(
        Dialect::OtelGenai,
        &[
            ("gen_ai.agent.name", AgentName),
            ("gen_ai.agent.version", AgentVersion),
            ("gen_ai.operation.name", Operation),
            ("gen_ai.provider.name", Provider),
            ("gen_ai.request.model", RequestModel),
            ("gen_ai.response.model", ResponseModel),
            ("gen_ai.conversation.id", ConversationId),
            ("gen_ai.prompt.name", PromptName),
            ("gen_ai.prompt.version", PromptVersion),
            ("gen_ai.usage.input_tokens", InputTokens),
            ("gen_ai.usage.output_tokens", OutputTokens),
            ("gen_ai.usage.cache_read.input_tokens", CacheReadTokens),
            ("gen_ai.usage.cache_write.input_tokens", CacheWriteTokens),
            ("gen_ai.usage.reasoning.output_tokens", ReasoningTokens),
            ("gen_ai.response.id", ResponseId),
            ("gen_ai.tool.name", ToolName),
            ("error.type", ErrorType),
        ],
    );
}

#[test]
fn otel_genai_deprecated_keys() {
    use SpanField::*;
    assert_dialect(
        Dialect::OtelGenaiDeprecated,
        &[
            ("gen_ai.system", Provider),
            ("gen_ai.usage.prompt_tokens", InputTokens),
            ("gen_ai.usage.completion_tokens", OutputTokens),
            ("gen_ai.usage.cache_creation.input_tokens", CacheWriteTokens),
        ],
    );
}

#[test]
fn openinference_keys() {
    use SpanField::*;
    assert_dialect(
        Dialect::OpenInference,
        &[
            ("openinference.span.kind", OpenInferenceSpanKind),
            ("llm.model_name", ModelName),
            ("embedding.model_name", ModelName),
            ("llm.request.model_name", RequestModel),
            ("llm.response.model_name", ResponseModel),
            ("llm.system", Provider),
            ("llm.provider", Provider),
            ("llm.token_count.prompt", InputTokens),
            ("llm.token_count.completion", OutputTokens),
            ("llm.token_count.prompt_details.cache_read", CacheReadTokens),
            (
                "llm.token_count.prompt_details.cache_write",
                CacheWriteTokens,
            ),
            (
                "llm.token_count.completion_details.reasoning",
                ReasoningTokens,
            ),
            ("llm.cost.total", CostUsd),
            ("llm.prompt_template.version", PromptVersion),
            ("session.id", ConversationId),
            ("tool.name", ToolName),
            ("agent.name", AgentName),
        ],
    );
}

#[test]
fn legacy_keys() {
    use SpanField::*;
    assert_dialect(
        Dialect::Legacy,
        &[
            ("agent.version", AgentVersion),
            ("gen_ai.usage.cost", CostUsd),
            ("gen_ai.usage.cache_read_input_tokens", CacheReadTokens),
            ("gen_ai.usage.cache_creation_input_tokens", CacheWriteTokens),
            ("gen_ai.usage.reasoning_tokens", ReasoningTokens),
            ("gen_ai.usage.input_tokens.cached", CacheReadTokens),
            ("gen_ai.usage.output_tokens.reasoning", ReasoningTokens),
        ],
    );
}

#[test]
fn priorities_follow_the_spec_order() {
    // SPEC §4: provider = gen_ai.provider.name, else gen_ai.system, else llm.system.
    assert_eq!(
        keys_of(SpanField::Provider),
        [
            "gen_ai.provider.name",
            "gen_ai.system",
            "llm.system",
            "llm.provider"
        ]
    );
    assert_eq!(
        keys_of(SpanField::AgentName),
        ["gen_ai.agent.name", "agent.name"]
    );
    assert_eq!(
        keys_of(SpanField::AgentVersion),
        ["gen_ai.agent.version", "agent.version"]
    );
    assert_eq!(
        keys_of(SpanField::ConversationId),
        ["gen_ai.conversation.id", "session.id"]
    );
    assert_eq!(
        keys_of(SpanField::InputTokens),
        [
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt"
        ]
    );
    assert_eq!(
        keys_of(SpanField::OutputTokens),
        [
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion"
        ]
    );
    // SPEC §4: a cost sent by the client, gen_ai.usage.cost before llm.cost.total.
    assert_eq!(
        keys_of(SpanField::CostUsd),
        ["gen_ai.usage.cost", "llm.cost.total"]
    );
    // Within every field the current OTel names rank first and priorities are 0, 1, 2, ...
    let mapping = AttributeMapping::shipped();
    let mut fields = HashSet::new();
    for entry in mapping.entries() {
        fields.insert(entry.field);
    }
    for field in fields {
        let mut entries: Vec<&MappingEntry> =
            mapping.entries().filter(|e| e.field == field).collect();
        entries.sort_by_key(|e| e.priority);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(
                usize::from(entry.priority),
                i,
                "priorities of {field:?} have a gap"
            );
        }
        let first_non_otel = entries.iter().position(|e| e.dialect != Dialect::OtelGenai);
        let last_otel = entries
            .iter()
            .rposition(|e| e.dialect == Dialect::OtelGenai);
        if let (Some(first_non_otel), Some(last_otel)) = (first_non_otel, last_otel) {
            assert!(
                last_otel < first_non_otel,
                "{field:?}: a current OTel key ranks below another dialect"
            );
        }
    }
}

#[test]
fn no_key_maps_twice() {
    let mut seen = HashSet::new();
    for entry in AttributeMapping::shipped().entries() {
        assert!(
            seen.insert(entry.key.as_str()),
            "`{}` is listed twice",
            entry.key
        );
    }
}

#[test]
fn duplicate_key_is_rejected_when_parsing() {
    let text = r#"
        [[field]]
        name = "input_tokens"
        keys = [{ key = "tokens", dialect = "legacy" }]

        [[field]]
        name = "output_tokens"
        keys = [{ key = "tokens", dialect = "legacy" }]
    "#;
    let err = AttributeMapping::parse(text).unwrap_err();
    assert!(
        matches!(err, MappingError::DuplicateKey { ref key, .. } if key == "tokens"),
        "{err}"
    );
    assert!(err.to_string().contains("`tokens`"), "{err}");

    let same_field_twice = r#"
        [[field]]
        name = "input_tokens"
        keys = [{ key = "a", dialect = "legacy" }, { key = "a", dialect = "legacy" }]
    "#;
    assert!(matches!(
        AttributeMapping::parse(same_field_twice),
        Err(MappingError::DuplicateKey { .. })
    ));
}

#[test]
fn malformed_files_are_rejected() {
    let cases = [
        // Unknown field name.
        r#"[[field]]
           name = "nope"
           keys = [{ key = "a", dialect = "legacy" }]"#,
        // Unknown dialect.
        r#"[[field]]
           name = "input_tokens"
           keys = [{ key = "a", dialect = "klingon" }]"#,
        // Unknown property.
        r#"[[field]]
           name = "input_tokens"
           colour = "red"
           keys = [{ key = "a", dialect = "legacy" }]"#,
        // No keys.
        r#"[[field]]
           name = "input_tokens"
           keys = []"#,
        // Empty key.
        r#"[[field]]
           name = "input_tokens"
           keys = [{ key = " ", dialect = "legacy" }]"#,
        // The same field twice.
        r#"[[field]]
           name = "input_tokens"
           keys = [{ key = "a", dialect = "legacy" }]
           [[field]]
           name = "input_tokens"
           keys = [{ key = "b", dialect = "legacy" }]"#,
    ];
    for text in cases {
        assert!(AttributeMapping::parse(text).is_err(), "accepted:\n{text}");
    }
}

#[test]
fn unknown_keys_are_not_mapped() {
    let mapping = AttributeMapping::shipped();
    for key in [
        "http.method",
        "gen_ai.request.temperature",
        "GEN_AI.PROVIDER.NAME",
        "",
        "agent.confidence",
    ] {
        assert!(
            mapping.lookup(key).is_none(),
            "`{key}` should go to the attributes map"
        );
    }
}

#[test]
fn operation_from_openinference_cases() {
    let cases = [
        ("LLM", "chat"),
        ("EMBEDDING", "embeddings"),
        ("TOOL", "execute_tool"),
        ("RETRIEVER", "retrieval"),
        ("AGENT", "invoke_agent"),
        ("llm", "chat"),
        (" Agent ", "invoke_agent"),
        ("CHAIN", "chain"),
        ("RERANKER", "reranker"),
        ("GUARDRAIL", "guardrail"),
        ("EVALUATOR", "evaluator"),
        ("PROMPT", "prompt"),
        ("", ""),
    ];
    for (kind, operation) in cases {
        assert_eq!(
            operation_from_openinference(kind),
            operation,
            "kind {kind:?}"
        );
    }
}
