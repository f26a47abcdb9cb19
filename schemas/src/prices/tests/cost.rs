//! What a row charges for a span's token usage.

use super::*;

fn row_with(
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
) -> PriceRow {
    let o = PriceOverride {
        cache_read_per_mtok: cache_read,
        cache_write_per_mtok: cache_write,
        reasoning_per_mtok: reasoning,
        ..override_row("m", input, output)
    };
    PriceTable::with_overrides(&[o]).unwrap().rows()[0].clone()
}

#[test]
fn cost_worked_examples() {
    let table = PriceTable::shipped();

    // Claude Sonnet 4.5: input $3, 5-minute cache write $3.75, cache read $0.30, output $15.
    // 10,000 input tokens of which 6,000 cache reads and 2,000 cache writes; 1,500 output
    // tokens of which 500 reasoning (no reasoning rate of its own: the output rate).
    //   uncached  (10,000 − 6,000 − 2,000) × 3.00 =  6,000
    //   read                        6,000 × 0.30 =  1,800
    //   write                       2,000 × 3.75 =  7,500
    //   output          (1,500 − 500) × 15.00    = 15,000
    //   reasoning                     500 × 15.00 =  7,500
    //   total 37,800 µUSD = $0.0378
    let sonnet = table
        .lookup(Some("anthropic"), "claude-sonnet-4-5-20250929", now())
        .unwrap();
    let usage = TokenUsage {
        input: Some(10_000),
        output: Some(1_500),
        cache_read: Some(6_000),
        cache_write: Some(2_000),
        reasoning: Some(500),
    };
    assert_close(sonnet.cost(&usage), 0.0378);

    // GPT-6.2 Sol: input $2, cached input $0.10, cache write $2.50, output $10.
    // 272,000 input of which 200,000 cache reads and 50,000 cache writes; 10,000 output.
    //   22,000 × 2 + 200,000 × 0.10 + 50,000 × 2.50 + 10,000 × 10
    //   = 44,000 + 20,000 + 125,000 + 100,000 = 289,000 µUSD = $0.289
    let sol = table.lookup(Some("openai"), "gpt-6.2-sol", now()).unwrap();
    let usage = TokenUsage {
        input: Some(272_000),
        output: Some(10_000),
        cache_read: Some(200_000),
        cache_write: Some(50_000),
        reasoning: None,
    };
    assert_close(sol.cost(&usage), 0.289);

    // A reasoning rate of its own: input $1, output $4, reasoning $8.
    // 1,000,000 input; 200,000 output of which 50,000 reasoning.
    //   1,000,000 × 1 + 150,000 × 4 + 50,000 × 8 = 1,000,000 + 600,000 + 400,000 = $2.00
    let reasoning = row_with(1.0, 4.0, None, None, Some(8.0));
    let usage = TokenUsage {
        input: Some(1_000_000),
        output: Some(200_000),
        reasoning: Some(50_000),
        ..TokenUsage::default()
    };
    assert_close(reasoning.cost(&usage), 2.0);

    // Cache subsets without rates of their own cost what plain input costs:
    // 1,000 input (400 read, 100 written) at $5 = 1,000 × 5 = 5,000 µUSD.
    let plain = row_with(5.0, 0.0, None, None, None);
    let usage = TokenUsage {
        input: Some(1_000),
        cache_read: Some(400),
        cache_write: Some(100),
        ..TokenUsage::default()
    };
    assert_close(plain.cost(&usage), 0.005);
}

#[test]
fn cost_edge_cases() {
    let row = row_with(3.0, 15.0, Some(0.30), Some(3.75), None);
    // Nothing to price.
    assert_eq!(row.cost(&TokenUsage::default()), None);
    assert_eq!(
        row.cost(&TokenUsage {
            cache_read: Some(5),
            reasoning: Some(5),
            ..TokenUsage::default()
        }),
        None
    );
    // Output only: 2,000 × 15 = 30,000 µUSD.
    assert_close(
        row.cost(&TokenUsage {
            output: Some(2_000),
            ..TokenUsage::default()
        }),
        0.03,
    );
    // Input only, output absent counts as 0: 1,000 × 3 = 3,000 µUSD.
    assert_close(
        row.cost(&TokenUsage {
            input: Some(1_000),
            ..TokenUsage::default()
        }),
        0.003,
    );
    // Inconsistent client numbers: 300 cache reads reported against 100 input tokens. The
    // uncached remainder is clamped at 0 and the reads are priced: 300 × 0.30 = 90 µUSD.
    let inconsistent = TokenUsage {
        input: Some(100),
        cache_read: Some(300),
        ..TokenUsage::default()
    };
    assert_close(row.cost(&inconsistent), 0.000_09);
    // Reasoning above output: visible output clamps at 0, reasoning at the output rate:
    // 10 × 15 = 150 µUSD.
    let inconsistent = TokenUsage {
        output: Some(5),
        reasoning: Some(10),
        ..TokenUsage::default()
    };
    assert_close(row.cost(&inconsistent), 0.000_15);
    // Negative counts are taken as 0.
    assert_close(
        row.cost(&TokenUsage {
            input: Some(-50),
            output: Some(-1),
            ..TokenUsage::default()
        }),
        0.0,
    );
    // Zero tokens cost zero, not None.
    assert_close(
        row.cost(&TokenUsage {
            input: Some(0),
            output: Some(0),
            ..TokenUsage::default()
        }),
        0.0,
    );
}
