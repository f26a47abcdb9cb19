//! CSV in and out for `vigil detect`: parsing rows with line numbers, printing steps.

use std::io::{Read, Write};

use super::super::error::{Error, Result};
use super::super::spec::DetectorSpec;
use super::super::step::StepDetail;
use super::{DetectArgs, InputRow, OutputRow, SeriesRunner};

/// Runs `vigil detect`: validates `args`, reads CSV rows from `input`, writes CSV to
/// `output` (streamed row by row, or the first-alarm table at the end).
///
/// # Errors
/// Any [`DetectArgs::plan`] error before reading; [`Error::Input`] naming the line for a
/// missing `value` (or, for p_chart, `n`) column, an empty, non-numeric or non-finite
/// value, a count that is not a whole number or exceeds n, or malformed CSV;
/// [`Error::Io`] if reading or writing fails. Rows before a bad row have been written.
pub fn run_detect(args: &DetectArgs, input: impl Read, output: impl Write) -> Result<()> {
    let plan = args.plan()?;
    let columns = detector_columns(&plan.spec);
    let is_p_chart = matches!(plan.spec, DetectorSpec::PChart { .. });
    let first_alarm = plan.first_alarm;

    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader.headers().map_err(csv_error)?.clone();
    let find = |name: &str| header.iter().position(|h| h == name);
    let value_col = find("value").ok_or_else(|| Error::Input {
        line: 1,
        message: "the header has no `value` column".to_string(),
    })?;
    let series_col = find("series");
    let n_col = find("n");
    if is_p_chart && n_col.is_none() {
        return Err(Error::Input {
            line: 1,
            message: "p_chart needs an `n` column (the sample size of each row)".to_string(),
        });
    }

    let mut writer = csv::Writer::from_writer(output);
    if first_alarm {
        write(&mut writer, ["series", "first_alarm"])?;
    } else {
        let mut head = vec![
            "series",
            "index",
            "value",
            "statistic",
            "upper",
            "lower",
            "alarm",
        ];
        head.extend_from_slice(columns);
        write(&mut writer, head)?;
    }

    let mut runner = SeriesRunner::new(plan);
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, csv::Position::line);
        let field = |col: usize| record.get(col).unwrap_or("");
        let row = InputRow {
            line,
            series: series_col.map(field).unwrap_or_default().to_string(),
            value: parse_value(line, field(value_col), is_p_chart)?,
            n: match n_col.filter(|_| is_p_chart) {
                Some(col) => Some(parse_n(line, field(col))?),
                None => None,
            },
        };
        if let (true, Some(n)) = (is_p_chart, row.n)
            && row.value > n as f64
        {
            return Err(Error::Input {
                line,
                message: format!("value {} exceeds n {n}", row.value),
            });
        }
        let out = runner.push(&row)?;
        if !first_alarm {
            write(&mut writer, output_record(&out, columns))?;
        }
    }
    if first_alarm {
        for (series, index) in runner.first_alarms() {
            write(
                &mut writer,
                [series, index.map(|i| i.to_string()).unwrap_or_default()],
            )?;
        }
    }
    writer.flush().map_err(|e| Error::Io(e.to_string()))
}

/// The detector's own output columns.
fn detector_columns(spec: &DetectorSpec) -> &'static [&'static str] {
    match spec {
        DetectorSpec::Cusum { .. } => &["c_plus", "c_minus"],
        DetectorSpec::Ewma { .. } => &["ewma"],
        DetectorSpec::Shewhart { .. } => &["rule"],
        DetectorSpec::PChart { .. } => &["n"],
        DetectorSpec::Ks { .. } => &["p_value"],
        DetectorSpec::Psi { .. } | DetectorSpec::JensenShannon { .. } => &[],
    }
}

fn output_record(row: &OutputRow, columns: &[&str]) -> Vec<String> {
    let mut fields = vec![
        row.series.clone(),
        row.index.to_string(),
        format_number(row.value),
    ];
    let Some(step) = &row.step else {
        fields.extend(["", "", "", "false"].map(String::from));
        for &column in columns {
            let n = row.n.filter(|_| column == "n");
            fields.push(n.map(|n| n.to_string()).unwrap_or_default());
        }
        return fields;
    };
    fields.push(format_number(step.statistic));
    fields.push(format_number(step.upper));
    fields.push(format_number(step.lower));
    fields.push(step.alarm.to_string());
    match &step.detail {
        StepDetail::Cusum {
            c_plus, c_minus, ..
        } => {
            fields.push(format_number(*c_plus));
            fields.push(format_number(*c_minus));
        }
        StepDetail::Ewma { ewma } => fields.push(format_number(*ewma)),
        StepDetail::Shewhart { rule } => {
            fields.push(rule.map(|r| r.to_string()).unwrap_or_default())
        }
        StepDetail::PChart { n } => fields.push(n.to_string()),
        StepDetail::Ks { p_value, .. } => fields.push(format_number(*p_value)),
        StepDetail::Psi { .. } | StepDetail::JensenShannon { .. } => {}
    }
    fields
}

/// At most six decimals without trailing zeros; scientific notation below 1e-4.
pub fn format_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let rounded = (x * 1e6).round() / 1e6;
    if rounded == 0.0 && x != 0.0 && x.abs() < 1e-4 {
        let text = format!("{x:.6e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let text = format!("{rounded:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn parse_value(line: u64, raw: &str, whole: bool) -> Result<f64> {
    let bad = |message: String| Error::Input { line, message };
    if raw.is_empty() {
        return Err(bad("value is empty".to_string()));
    }
    let value: f64 = raw
        .parse()
        .map_err(|_| bad(format!("value is not a number: {raw:?}")))?;
    if !value.is_finite() {
        return Err(bad(format!("value must be finite, got {raw:?}")));
    }
    if whole && (value < 0.0 || value.fract() != 0.0) {
        return Err(bad(format!(
            "value must be a whole count of nonconforming items for p_chart, got {raw:?}"
        )));
    }
    Ok(value)
}

fn parse_n(line: u64, raw: &str) -> Result<u64> {
    let bad = |message: String| Error::Input { line, message };
    if raw.is_empty() {
        return Err(bad("n is empty".to_string()));
    }
    match raw.parse::<u64>() {
        Ok(0) => Err(bad("n must be > 0, got 0".to_string())),
        Ok(n) => Ok(n),
        Err(_) => Err(bad(format!("n is not a whole number: {raw:?}"))),
    }
}

fn csv_error(e: csv::Error) -> Error {
    let line = e.position().map_or(0, csv::Position::line);
    match e.kind() {
        csv::ErrorKind::Io(io) => Error::Io(io.to_string()),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Error::Input {
            line,
            message: format!("expected {expected_len} fields like the header, found {len}"),
        },
        csv::ErrorKind::Utf8 { .. } => Error::Input {
            line,
            message: "not valid UTF-8".to_string(),
        },
        _ => Error::Input {
            line,
            message: e.to_string(),
        },
    }
}

fn write<I, T>(writer: &mut csv::Writer<impl Write>, record: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    writer
        .write_record(record)
        .map_err(|e| Error::Io(e.to_string()))
}
