//! Price overrides from the config: precedence, the same matching rules, validation, and
//! TOML.

use super::*;

#[test]
fn an_override_wins_over_the_shipped_row() {
    let table =
        PriceTable::with_overrides(&[override_row(r"gpt-4o(-\d{4}-\d{2}-\d{2})?", 1.0, 2.0)])
            .unwrap();
    let row = table
        .lookup(Some("openai"), "gpt-4o-2024-08-06", now())
        .unwrap();
    assert!(row.is_override);
    assert_eq!(row.id, "config[0]");
    assert_eq!((row.input_per_mtok, row.output_per_mtok), (1.0, 2.0));
    assert_eq!(row.source, None);
    // Models the override does not match keep their shipped price.
    let mini = table.lookup(Some("openai"), "gpt-4o-mini", now()).unwrap();
    assert_eq!(mini.id, "openai/gpt-4o-mini");
    // The shipped table itself is unchanged.
    assert_eq!(
        id_of(&PriceTable::shipped(), None, "gpt-4o", now()).as_deref(),
        Some("openai/gpt-4o")
    );
    // The pattern must match the whole name: a bare `gpt-4o` does not cover its snapshots.
    let bare = PriceTable::with_overrides(&[override_row("gpt-4o", 1.0, 2.0)]).unwrap();
    assert_eq!(
        id_of(&bare, None, "gpt-4o", now()).as_deref(),
        Some("config[0]")
    );
    assert_eq!(
        id_of(&bare, None, "gpt-4o-2024-08-06", now()).as_deref(),
        Some("openai/gpt-4o")
    );
    // Overrides come first in `rows()`, in config order.
    assert!(table.rows()[0].is_override);
    assert_eq!(table.rows().len(), PriceTable::shipped().rows().len() + 1);
}

#[test]
fn overrides_follow_the_same_date_provider_and_order_rules() {
    let dated = |id: &str, date: Option<NaiveDate>, input: f64| PriceOverride {
        id: Some(id.to_owned()),
        effective_from: date,
        ..override_row("my-model(-v\\d+)?", input, input)
    };
    let jan = NaiveDate::from_ymd_opt(2026, 1, 1);
    let jun = NaiveDate::from_ymd_opt(2026, 6, 1);
    let table = PriceTable::with_overrides(&[
        dated("undated-first", None, 1.0),
        dated("undated-second", None, 2.0),
        dated("june", jun, 4.0),
        dated("january", jan, 3.0),
    ])
    .unwrap();
    // Before any dated row applies, the undated rows tie and the first in config order wins.
    assert_eq!(
        id_of(&table, None, "my-model", day(2025, 12, 31)).as_deref(),
        Some("undated-first")
    );
    // Then the latest effective_from at or before the span's time wins, whatever its position.
    assert_eq!(
        id_of(&table, None, "my-model-v2", day(2026, 3, 1)).as_deref(),
        Some("january")
    );
    assert_eq!(
        id_of(&table, None, "my-model", day(2026, 6, 1)).as_deref(),
        Some("june")
    );

    // An override of a future date leaves the shipped row in force until then.
    let future = PriceOverride {
        effective_from: NaiveDate::from_ymd_opt(2027, 1, 1),
        ..override_row("gpt-4o", 1.0, 1.0)
    };
    let table = PriceTable::with_overrides(&[future]).unwrap();
    assert_eq!(
        id_of(&table, None, "gpt-4o", now()).as_deref(),
        Some("openai/gpt-4o")
    );
    assert_eq!(
        id_of(&table, None, "gpt-4o", day(2027, 1, 1)).as_deref(),
        Some("config[0]")
    );

    // A provider-restricted override only prices that provider's spans.
    let azure_only = PriceOverride {
        provider: Some("azure".to_owned()),
        ..override_row("gpt-4o", 9.0, 9.0)
    };
    let proxy_only = PriceOverride {
        provider: Some("My-Proxy".to_owned()),
        ..override_row("llama-.*", 0.5, 0.5)
    };
    let table = PriceTable::with_overrides(&[azure_only, proxy_only]).unwrap();
    assert_eq!(
        id_of(&table, Some("azure.ai.openai"), "gpt-4o", now()).as_deref(),
        Some("config[0]")
    );
    assert_eq!(
        id_of(&table, Some("openai"), "gpt-4o", now()).as_deref(),
        Some("config[0]")
    );
    assert_eq!(
        id_of(&table, Some("my-proxy"), "llama-3.1-8b", now()).as_deref(),
        Some("config[1]")
    );
    assert_eq!(
        id_of(&table, Some("other-proxy"), "llama-3.1-8b", now()),
        None
    );
    assert_eq!(
        id_of(&table, None, "llama-3.1-8b", now()).as_deref(),
        Some("config[1]")
    );
}

#[test]
fn invalid_override_regex_is_an_error_naming_the_entry() {
    let overrides = [
        override_row("gpt-4o", 1.0, 1.0),
        override_row("gpt-(4o", 1.0, 1.0),
    ];
    let err = PriceTable::with_overrides(&overrides).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, PriceError::InvalidRegex { .. }), "{message}");
    assert!(message.contains("config[1]"), "{message}");
    assert!(message.contains("`model`"), "{message}");
    assert!(message.contains("gpt-(4o"), "{message}");

    let named = PriceOverride {
        id: Some("team-discount".to_owned()),
        ..override_row("[", 1.0, 1.0)
    };
    let message = PriceTable::with_overrides(&[named])
        .unwrap_err()
        .to_string();
    assert!(message.contains("team-discount"), "{message}");
}

#[test]
fn invalid_override_rates_and_names_are_errors_naming_the_key() {
    let cases = [
        (
            PriceOverride {
                input_per_mtok: -1.0,
                ..override_row("a", 1.0, 1.0)
            },
            "input_per_mtok",
        ),
        (
            PriceOverride {
                output_per_mtok: f64::NAN,
                ..override_row("a", 1.0, 1.0)
            },
            "output_per_mtok",
        ),
        (
            PriceOverride {
                cache_read_per_mtok: Some(-0.1),
                ..override_row("a", 1.0, 1.0)
            },
            "cache_read_per_mtok",
        ),
        (
            PriceOverride {
                cache_write_per_mtok: Some(f64::INFINITY),
                ..override_row("a", 1.0, 1.0)
            },
            "cache_write_per_mtok",
        ),
        (
            PriceOverride {
                reasoning_per_mtok: Some(-2.0),
                ..override_row("a", 1.0, 1.0)
            },
            "reasoning_per_mtok",
        ),
        (
            PriceOverride {
                provider: Some(" ".to_owned()),
                ..override_row("a", 1.0, 1.0)
            },
            "provider",
        ),
        (
            PriceOverride {
                id: Some(String::new()),
                ..override_row("a", 1.0, 1.0)
            },
            "id",
        ),
    ];
    for (o, key) in cases {
        let message = PriceTable::with_overrides(&[o]).unwrap_err().to_string();
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(message.contains("config[0]"), "{message}");
    }
    // Zero is a valid rate (free models, embeddings' output).
    assert!(PriceTable::with_overrides(&[override_row("free-model", 0.0, 0.0)]).is_ok());
}

#[test]
fn overrides_deserialize_from_config_toml() {
    #[derive(Deserialize)]
    struct Config {
        price: Vec<PriceOverride>,
    }
    let config: Config = toml::from_str(
        r#"
        [[price]]
        model = 'gpt-4o(-\d{4}-\d{2}-\d{2})?'
        effective_from = 2026-01-15
        input_per_mtok = 2
        output_per_mtok = 8.5

        [[price]]
        id = "claude-negotiated"
        model = "claude-.*"
        provider = "anthropic"
        effective_from = "2026-02-01"
        input_per_mtok = 2.5
        output_per_mtok = 12
        cache_read_per_mtok = 0.25
        cache_write_per_mtok = 3.0
        reasoning_per_mtok = 12
        "#,
    )
    .unwrap();
    let [first, second] = &config.price[..] else {
        panic!("two entries")
    };
    assert_eq!(first.id, None);
    assert_eq!(first.effective_from, NaiveDate::from_ymd_opt(2026, 1, 15));
    assert_eq!((first.input_per_mtok, first.output_per_mtok), (2.0, 8.5));
    assert_eq!(second.id.as_deref(), Some("claude-negotiated"));
    assert_eq!(second.effective_from, NaiveDate::from_ymd_opt(2026, 2, 1));
    assert_eq!(second.reasoning_per_mtok, Some(12.0));
    let table = PriceTable::with_overrides(&config.price).unwrap();
    assert_eq!(
        id_of(&table, Some("anthropic"), "claude-opus-5", now()).as_deref(),
        Some("claude-negotiated")
    );

    let rejected = [
        // Unknown key.
        "[[price]]\nmodel = 'a'\ninput_per_mtok = 1\noutput_per_mtok = 1\ninput_per_token = 1",
        // Missing output rate.
        "[[price]]\nmodel = 'a'\ninput_per_mtok = 1",
        // A date-time is not a date.
        "[[price]]\nmodel = 'a'\neffective_from = 2026-01-01T10:00:00Z\ninput_per_mtok = 1\noutput_per_mtok = 1",
        // Not a date at all.
        "[[price]]\nmodel = 'a'\neffective_from = 'soon'\ninput_per_mtok = 1\noutput_per_mtok = 1",
    ];
    for text in rejected {
        assert!(toml::from_str::<Config>(text).is_err(), "accepted:\n{text}");
    }
}
