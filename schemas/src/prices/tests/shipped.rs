//! The shipped table: every row sound and reached by a realistic model name, malformed
//! files rejected.

use std::collections::HashSet;

use super::*;

/// (provider, model name as sent by a client, time, id of the row that must price it).
/// Together the cases hit every shipped row, so no row is dead.
#[rustfmt::skip]
fn examples() -> Vec<(Option<&'static str>, &'static str, i64, &'static str)> {
    let n = now();
    vec![
        (Some("openai"), "gpt-6.2-astra", n, "openai/gpt-6.2-astra"),
        (Some("openai"), "gpt-6.2-sol", n, "openai/gpt-6.2-sol"),
        (Some("openai"), "gpt-6.1-sol-2026-09-29", n, "openai/gpt-6.1-sol"),
        (Some("openai"), "gpt-6.1-terra", n, "openai/gpt-6.1-terra"),
        (Some("openai"), "gpt-6-astra", n, "openai/gpt-6-astra"),
        (Some("openai"), "gpt-6-sol", n, "openai/gpt-6-sol"),
        (Some("openai"), "gpt-6-luna", n, "openai/gpt-6-luna"),
        (Some("openai"), "gpt-5.6", n, "openai/gpt-5.6-sol"),
        (Some("openai"), "gpt-5.6-sol", n, "openai/gpt-5.6-sol"),
        (Some("openai"), "gpt-5.6-terra", day(2026, 7, 20), "openai/gpt-5.6-terra@2026-07-09"),
        (Some("openai"), "gpt-5.6-terra", n, "openai/gpt-5.6-terra"),
        (Some("openai"), "gpt-5.6-luna", n, "openai/gpt-5.6-luna"),
        (Some("openai"), "gpt-5.5-pro", n, "openai/gpt-5.5-pro"),
        (Some("openai"), "gpt-5.5", n, "openai/gpt-5.5"),
        (Some("openai"), "gpt-5.4-pro", n, "openai/gpt-5.4-pro"),
        (Some("openai"), "gpt-5.4-2026-03-05", n, "openai/gpt-5.4"),
        (Some("openai"), "gpt-5.4-mini", n, "openai/gpt-5.4-mini"),
        (Some("openai"), "gpt-5.4-nano", n, "openai/gpt-5.4-nano"),
        (Some("openai"), "gpt-5.2", n, "openai/gpt-5.2"),
        (Some("openai"), "gpt-5.3-codex", n, "openai/gpt-5.2"),
        (Some("openai"), "gpt-5-2025-08-07", n, "openai/gpt-5"),
        (Some("openai"), "gpt-5-codex", n, "openai/gpt-5"),
        (Some("openai"), "gpt-5-mini-2025-08-07", n, "openai/gpt-5-mini"),
        (Some("openai"), "gpt-5-nano", n, "openai/gpt-5-nano"),
        (Some("openai"), "gpt-4.1-2025-04-14", n, "openai/gpt-4.1"),
        (Some("openai"), "gpt-4.1-mini", n, "openai/gpt-4.1-mini"),
        (Some("openai"), "gpt-4o-2024-08-06", n, "openai/gpt-4o"),
        (Some("openai"), "gpt-4o-mini-2024-07-18", n, "openai/gpt-4o-mini"),
        (Some("openai"), "o1-2024-12-17", n, "openai/o1"),
        (Some("openai"), "o3-2025-04-16", n, "openai/o3"),
        (Some("openai"), "o4-mini", n, "openai/o4-mini"),
        (Some("openai"), "text-embedding-3-small", n, "openai/text-embedding-3-small"),
        (Some("openai"), "text-embedding-3-large", n, "openai/text-embedding-3-large"),
        (Some("anthropic"), "claude-fable-5-1", n, "anthropic/claude-fable-5-1"),
        (Some("anthropic"), "claude-mythos-5", n, "anthropic/claude-fable-5"),
        (Some("anthropic"), "claude-opus-5-5[1m]", n, "anthropic/claude-opus-5-5"),
        (Some("anthropic"), "claude-opus-4-5-20251101", n, "anthropic/claude-opus-5"),
        (Some("anthropic"), "claude-opus-5", n, "anthropic/claude-opus-5"),
        (Some("anthropic"), "claude-opus-4-1-20250805", n, "anthropic/claude-opus-4-1"),
        (Some("anthropic"), "claude-opus-4-20250514", n, "anthropic/claude-opus-4-1"),
        (Some("anthropic"), "claude-sonnet-5-5", day(2026, 10, 1), "anthropic/claude-sonnet-5-5@launch"),
        (Some("anthropic"), "claude-sonnet-5-5", n, "anthropic/claude-sonnet-5-5"),
        (Some("anthropic"), "claude-sonnet-5", n, "anthropic/claude-sonnet-5"),
        (Some("anthropic"), "claude-sonnet-4-5-20250929", n, "anthropic/claude-sonnet-4"),
        (Some("anthropic"), "claude-3-7-sonnet-latest", n, "anthropic/claude-sonnet-4"),
        (Some("aws.bedrock"), "us.anthropic.claude-sonnet-4-20250514-v1:0", n, "anthropic/claude-sonnet-4"),
        (Some("gcp.vertex_ai"), "claude-haiku-4-5@20251001", n, "anthropic/claude-haiku-4-5"),
        (Some("anthropic"), "claude-haiku-5-5", n, "anthropic/claude-haiku-5-5"),
        (Some("anthropic"), "claude-3-5-haiku-20241022", n, "anthropic/claude-3-5-haiku"),
        (Some("anthropic"), "claude-3-haiku-20240307", n, "anthropic/claude-3-haiku"),
        (Some("gcp.gemini"), "gemini-3.5-flash", n, "google/gemini-3.5-flash"),
        (Some("gcp.gemini"), "gemini-3.1-pro-preview", n, "google/gemini-3.1-pro"),
        (Some("gcp.gemini"), "gemini-3.1-flash-lite", n, "google/gemini-3.1-flash-lite"),
        (Some("gcp.gemini"), "gemini-3-flash-preview", n, "google/gemini-3-flash"),
        (Some("gcp.vertex_ai"), "gemini-2.5-pro", n, "google/gemini-2.5-pro"),
        (Some("gemini"), "gemini-2.5-flash", n, "google/gemini-2.5-flash"),
        (Some("google"), "gemini-2.5-flash-lite", n, "google/gemini-2.5-flash-lite"),
        (Some("gcp.gen_ai"), "gemini-2.0-flash-001", n, "google/gemini-2.0-flash"),
        (Some("x_ai"), "grok-4.7", n, "x_ai/grok-4.7"),
        (Some("xai"), "grok-4.5", n, "x_ai/grok-4.7"),
        (Some("x_ai"), "grok-4.3", n, "x_ai/grok-4.3"),
        (Some("x_ai"), "grok-4.20-0309-reasoning", n, "x_ai/grok-4.20"),
        (Some("deepseek"), "deepseek-flash", n, "deepseek/deepseek-flash"),
        (Some("deepseek"), "deepseek-v4-flash", n, "deepseek/deepseek-flash"),
        (Some("deepseek"), "deepseek-v4-pro", n, "deepseek/deepseek-v4-pro"),
        (Some("mistral_ai"), "mistral-medium-latest", n, "mistral_ai/mistral-medium-3.5"),
        (Some("mistral_ai"), "mistral-large-latest", n, "mistral_ai/mistral-large-3"),
        (Some("mistralai"), "mistral-small-latest", n, "mistral_ai/mistral-small-4"),
        (Some("mistral_ai"), "magistral-medium-latest", n, "mistral_ai/magistral-medium"),
        (Some("mistral_ai"), "magistral-small", n, "mistral_ai/magistral-small"),
        (Some("mistral_ai"), "codestral-latest", n, "mistral_ai/codestral"),
        (Some("cohere"), "command-r-08-2024", n, "cohere/command-r"),
        (Some("cohere"), "command-r7b-12-2024", n, "cohere/command-r7b"),
        (Some("cohere"), "command-a-03-2025", n, "cohere/command-a"),
        (Some("aws.bedrock"), "us.amazon.nova-2-lite-v1:0", n, "amazon/nova-2-lite"),
        (Some("aws.bedrock"), "amazon.nova-premier-v1:0", n, "amazon/nova-premier"),
        (Some("aws.bedrock"), "amazon.nova-pro-v1:0", n, "amazon/nova-pro"),
        (Some("amazon_nova"), "nova-lite-v1", n, "amazon/nova-lite"),
        (Some("aws.bedrock"), "amazon.nova-micro-v1:0", n, "amazon/nova-micro"),
    ]
}

#[test]
fn shipped_table_parses_and_every_row_is_sound() {
    let table = PriceTable::shipped();
    let rows = table.rows();
    assert!(rows.len() >= 60, "only {} rows", rows.len());
    let mut ids = HashSet::new();
    let mut providers = HashSet::new();
    for row in rows {
        assert!(ids.insert(row.id.as_str()), "duplicate id {}", row.id);
        assert!(!row.is_override);
        let source = row.source.as_deref().unwrap_or_default();
        assert!(
            source.starts_with("https://"),
            "{}: source {source:?}",
            row.id
        );
        let provider = row
            .provider
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no provider", row.id));
        assert!(
            provider_family(provider).is_some(),
            "{}: provider {provider} has no alias family",
            row.id
        );
        assert!(
            row.id.starts_with(&format!("{provider}/")),
            "{}: id does not start with its provider",
            row.id
        );
        providers.insert(provider);
        // The compiled pattern is anchored.
        assert!(row.model.as_str().starts_with("^(?:") && row.model.as_str().ends_with(")$"));
        let rates = [
            Some(row.input_per_mtok),
            Some(row.output_per_mtok),
            row.cache_read_per_mtok,
            row.cache_write_per_mtok,
            row.reasoning_per_mtok,
        ];
        for rate in rates.into_iter().flatten() {
            assert!(rate.is_finite() && rate >= 0.0, "{}: rate {rate}", row.id);
        }
        // A cache read is never dearer than an uncached token.
        if let Some(read) = row.cache_read_per_mtok {
            assert!(
                read <= row.input_per_mtok,
                "{}: cache read above input",
                row.id
            );
        }
    }
    for provider in [
        "openai",
        "anthropic",
        "google",
        "x_ai",
        "deepseek",
        "mistral_ai",
        "cohere",
        "amazon",
    ] {
        assert!(providers.contains(provider), "no row for {provider}");
    }
    // The parsed file is also what `shipped()` hands out: it parses again without error.
    assert!(PriceTable::parse_shipped(SHIPPED_TOML).is_ok());
}

#[test]
fn realistic_model_names_find_their_row_and_every_row_is_reachable() {
    let table = PriceTable::shipped();
    let mut hit = HashSet::new();
    for (provider, model, at, want) in examples() {
        let got = id_of(&table, provider, model, at);
        assert_eq!(got.as_deref(), Some(want), "{provider:?} {model}");
        hit.insert(want);
        // No other model's pattern matches this name: every matching row is the expected row
        // or a dated sibling with the very same pattern.
        let expected = table
            .rows()
            .iter()
            .find(|r| r.id == want)
            .expect("row exists");
        for row in table.rows().iter().filter(|r| r.model.is_match(model)) {
            assert_eq!(
                row.model.as_str(),
                expected.model.as_str(),
                "{model} also matches {}",
                row.id
            );
        }
    }
    for row in table.rows() {
        assert!(
            hit.contains(row.id.as_str()),
            "no example reaches {}",
            row.id
        );
    }
}

#[test]
fn malformed_shipped_files_are_rejected() {
    let row =
        "id = 'x/y'\nmodel = 'y'\nprovider = 'openai'\ninput_per_mtok = 1\noutput_per_mtok = 1\n";
    let cases = [
        // No source.
        format!("[[price]]\n{row}checked = 2026-01-01"),
        // No checked date.
        format!("[[price]]\n{row}source = 'https://example.com'"),
        // Bad regex.
        "[[price]]\nid = 'x/y'\nmodel = '('\ninput_per_mtok = 1\noutput_per_mtok = 1\nsource = 's'\nchecked = 2026-01-01"
            .to_owned(),
        // Negative rate.
        "[[price]]\nid = 'x/y'\nmodel = 'y'\ninput_per_mtok = -1\noutput_per_mtok = 1\nsource = 's'\nchecked = 2026-01-01"
            .to_owned(),
    ];
    for text in cases {
        assert!(
            PriceTable::parse_shipped(&text).is_err(),
            "accepted:\n{text}"
        );
    }
}
