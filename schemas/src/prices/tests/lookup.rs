//! Lookups in the shipped table: name matching, provider aliases, and dates.

use super::*;

#[test]
fn mini_never_takes_the_full_models_row_and_vice_versa() {
    let table = PriceTable::shipped();
    let n = now();
    let pairs = [
        ("gpt-4o", "openai/gpt-4o"),
        ("gpt-4o-mini", "openai/gpt-4o-mini"),
        ("gpt-4.1", "openai/gpt-4.1"),
        ("gpt-4.1-mini", "openai/gpt-4.1-mini"),
        ("gpt-5", "openai/gpt-5"),
        ("gpt-5-mini", "openai/gpt-5-mini"),
        ("gpt-5-nano", "openai/gpt-5-nano"),
        ("gpt-5.5", "openai/gpt-5.5"),
        ("gpt-5.5-pro", "openai/gpt-5.5-pro"),
        ("gemini-2.5-flash", "google/gemini-2.5-flash"),
        ("gemini-2.5-flash-lite", "google/gemini-2.5-flash-lite"),
        ("claude-sonnet-5", "anthropic/claude-sonnet-5"),
        ("claude-sonnet-5-5", "anthropic/claude-sonnet-5-5"),
        ("claude-fable-5", "anthropic/claude-fable-5"),
        ("claude-fable-5-1", "anthropic/claude-fable-5-1"),
    ];
    for (model, want) in pairs {
        assert_eq!(
            id_of(&table, None, model, n).as_deref(),
            Some(want),
            "{model}"
        );
    }
}

#[test]
fn lookups_are_case_insensitive_trimmed_and_strip_gateway_prefixes() {
    let table = PriceTable::shipped();
    let n = now();
    assert_eq!(
        id_of(&table, Some("OpenAI"), "GPT-4o-Mini", n).as_deref(),
        Some("openai/gpt-4o-mini")
    );
    assert_eq!(
        id_of(&table, None, " gpt-4o ", n).as_deref(),
        Some("openai/gpt-4o")
    );
    assert_eq!(
        id_of(&table, None, "openai/gpt-4o-mini", n).as_deref(),
        Some("openai/gpt-4o-mini")
    );
    assert_eq!(
        id_of(&table, None, "anthropic/claude-sonnet-4-5", n).as_deref(),
        Some("anthropic/claude-sonnet-4")
    );
    assert_eq!(
        id_of(
            &table,
            Some("gcp.vertex_ai"),
            "publishers/google/models/gemini-2.5-pro",
            n
        )
        .as_deref(),
        Some("google/gemini-2.5-pro")
    );
}

#[test]
fn unknown_models_are_unpriced() {
    let table = PriceTable::shipped();
    let n = now();
    for model in [
        "",
        "my-fine-tune",
        "gpt-4o-mini-tts",
        "o3-mini",
        "o1-mini",
        "gpt-4",
        "claude-2.1",
        "gemini-1.5-pro",
        "llama-3.1-70b",
        "gpt-4o-2024-08-06-extra",
    ] {
        assert_eq!(
            id_of(&table, None, model, n),
            None,
            "{model:?} should be unpriced"
        );
    }
}

#[test]
fn provider_aliases() {
    let table = PriceTable::shipped();
    let n = now();
    let priced = [
        (None, "gpt-4o"),
        (Some("openai"), "gpt-4o"),
        (Some("azure.ai.openai"), "gpt-4o"),
        (Some("az.ai.openai"), "gpt-4o"),
        (Some("azure"), "gpt-4o"),
        (Some("AZURE"), "gpt-4o"),
        (Some("gcp.gemini"), "gemini-2.5-pro"),
        (Some("gcp.vertex_ai"), "gemini-2.5-pro"),
        (Some("gemini"), "gemini-2.5-pro"),
        (Some("google"), "gemini-2.5-pro"),
        (Some("vertexai"), "gemini-2.5-pro"),
        // Marketplaces resell other vendors' models.
        (
            Some("aws.bedrock"),
            "anthropic.claude-opus-4-1-20250805-v1:0",
        ),
        (Some("gcp.vertex_ai"), "claude-opus-4-5@20251101"),
        (Some("azure.ai.inference"), "grok-4.7"),
        (Some("aws.bedrock"), "amazon.nova-pro-v1:0"),
        (Some("xai"), "grok-4.7"),
        (Some("mistral"), "codestral-latest"),
    ];
    for (provider, model) in priced {
        assert!(
            table.lookup(provider, model, n).is_some(),
            "{provider:?} {model} unpriced"
        );
    }
    let unpriced = [
        (Some("anthropic"), "gpt-4o"),
        (Some("openai"), "claude-sonnet-4-5"),
        (Some("gcp.gemini"), "claude-sonnet-4-5"),
        (Some("deepseek"), "gemini-2.5-pro"),
        (Some("some-proxy"), "gpt-4o"),
    ];
    for (provider, model) in unpriced {
        assert!(
            table.lookup(provider, model, n).is_none(),
            "{provider:?} {model} priced"
        );
    }
}

#[test]
fn effective_from_selects_the_latest_row_in_force() {
    let table = PriceTable::shipped();
    // GPT-5.6 Terra: launch price from 2026-07-09, cut on 2026-07-30.
    assert_eq!(
        id_of(&table, None, "gpt-5.6-terra", day(2026, 7, 1)),
        None,
        "before launch"
    );
    let july = table
        .lookup(None, "gpt-5.6-terra", day(2026, 7, 29) + 1)
        .unwrap();
    assert_eq!(july.input_per_mtok, 2.50);
    let cut = table
        .lookup(None, "gpt-5.6-terra", day(2026, 7, 30))
        .unwrap();
    assert_eq!(cut.id, "openai/gpt-5.6-terra");
    assert_eq!(cut.input_per_mtok, 2.0);
    // The boundary is UTC midnight: one nanosecond before it the old row still applies.
    let before = table
        .lookup(None, "gpt-5.6-terra", day(2026, 7, 30) - 1)
        .unwrap();
    assert_eq!(before.id, "openai/gpt-5.6-terra@2026-07-09");
    // Sonnet 5.5: an undated launch row, superseded on 2026-10-07.
    let old = table
        .lookup(None, "claude-sonnet-5-5", day(2026, 10, 6))
        .unwrap();
    assert_eq!(old.cache_read_per_mtok, Some(0.20));
    let new = table
        .lookup(None, "claude-sonnet-5-5", day(2026, 10, 7))
        .unwrap();
    assert_eq!(new.cache_read_per_mtok, Some(0.10));
}

#[test]
fn dates_map_to_utc_midnight() {
    assert_eq!(day(1970, 1, 1), 0);
    assert_eq!(day(1970, 1, 2), NANOS_PER_DAY);
    // 2026-01-01T00:00:00Z = 1,767,225,600 s.
    assert_eq!(day(2026, 1, 1), 1_767_225_600 * 1_000_000_000);
    // Far dates saturate instead of overflowing.
    assert_eq!(
        date_to_unix_nanos(NaiveDate::from_ymd_opt(9999, 1, 1).unwrap()),
        i64::MAX
    );
    assert_eq!(
        date_to_unix_nanos(NaiveDate::from_ymd_opt(-9999, 1, 1).unwrap()),
        i64::MIN
    );
}

#[test]
fn remembered_matches_give_what_the_pattern_set_gives_and_stay_bounded() {
    let table = PriceTable::with_overrides(&[]).unwrap();
    let queries = [
        (None, "gpt-4o-mini", now()),
        (Some("openai"), "gpt-4o", now()),
        (
            Some("aws.bedrock"),
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            now(),
        ),
        (None, "openrouter/gpt-4o", now()),
        (None, "no-such-model", now()),
        // Rows of one name that differ by date: the remembered rows are the candidates,
        // the date still picks among them.
        (None, "gpt-5.6-terra", day(2026, 7, 30) - 1),
        (None, "gpt-5.6-terra", day(2026, 7, 30)),
        (None, "claude-sonnet-5-5", day(2026, 10, 6)),
        (None, "claude-sonnet-5-5", day(2026, 10, 7)),
    ];
    let first: Vec<_> = queries
        .iter()
        .map(|&(provider, model, at)| id_of(&table, provider, model, at))
        .collect();
    // Each answer again, now from the remembered rows, and from a table that has to run
    // the pattern set (a new table remembers nothing).
    for (&(provider, model, at), want) in queries.iter().zip(&first) {
        assert_eq!(
            &id_of(&table, provider, model, at),
            want,
            "{model} remembered"
        );
        let fresh = PriceTable::with_overrides(&[]).unwrap();
        assert_eq!(&id_of(&fresh, provider, model, at), want, "{model} fresh");
    }
    assert!(first[0].is_some() && first[4].is_none());
    assert_ne!(first[5], first[6]);

    // Made-up names fill the memory up to its bound and no further; names past it are
    // still priced, by the pattern set.
    for i in 0..CACHED_MODELS + 100 {
        id_of(&table, None, &format!("made-up-{i}"), now());
    }
    assert_eq!(table.matches.read().unwrap().len(), CACHED_MODELS);
    assert_eq!(
        id_of(&table, None, "gpt-4o-2024-08-06", now()),
        id_of(
            &PriceTable::with_overrides(&[]).unwrap(),
            None,
            "gpt-4o-2024-08-06",
            now()
        )
    );
    // A clone shares what its original remembers; a name too long is not remembered.
    let clone = table.clone();
    assert!(Arc::ptr_eq(&clone.matches, &table.matches));
    let fresh = PriceTable::with_overrides(&[]).unwrap();
    id_of(&fresh, None, &"x".repeat(CACHED_MODEL_BYTES + 1), now());
    assert!(fresh.matches.read().unwrap().is_empty());
}
