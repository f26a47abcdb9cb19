use super::*;

mod cost;
mod lookup;
mod overrides;
mod shipped;

/// Unix nanoseconds of UTC midnight of `y-m-d`.
fn day(y: i32, m: u32, d: u32) -> i64 {
    let date = NaiveDate::from_ymd_opt(y, m, d).expect("valid test date");
    date_to_unix_nanos(date)
}

/// "Now" for lookups that do not test dates.
fn now() -> i64 {
    day(2026, 11, 21)
}

fn id_of(table: &PriceTable, provider: Option<&str>, model: &str, at: i64) -> Option<String> {
    table.lookup(provider, model, at).map(|r| r.id.clone())
}

fn assert_close(got: Option<f64>, want: f64) {
    let got = got.expect("a cost");
    assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
}

fn override_row(model: &str, input: f64, output: f64) -> PriceOverride {
    PriceOverride {
        id: None,
        model: model.to_owned(),
        provider: None,
        effective_from: None,
        input_per_mtok: input,
        output_per_mtok: output,
        cache_read_per_mtok: None,
        cache_write_per_mtok: None,
        reasoning_per_mtok: None,
    }
}
