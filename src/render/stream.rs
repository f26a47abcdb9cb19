//! Results written batch by batch, as `POST /api/v1/sql` streams them (SPEC §7).
//!
//! An [`Encoder`] turns one result into bytes in pieces: a head, each batch, and either a
//! tail or, when the answer is cut short, an error trailer. Put together without a cut, the
//! pieces are byte for byte what [`super::to_json`] (serialized), [`super::to_csv`] and an
//! Arrow IPC stream writer give for the whole result.

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

/// The three answer formats of `POST /api/v1/sql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"columns": [...], "rows": [...]}` ([`super::to_json`]).
    Json,
    /// CSV with a header row ([`super::to_csv`]).
    Csv,
    /// An Arrow IPC stream.
    ArrowIpc,
}

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

impl Format {
    /// The format an `Accept` header asks for; JSON unless it names CSV or Arrow IPC.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("text/csv") => Format::Csv,
            Some(a) if a.contains(ARROW_STREAM) => Format::ArrowIpc,
            _ => Format::Json,
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::ArrowIpc => ARROW_STREAM,
        }
    }
}

/// Writes one result in pieces.
pub struct Encoder {
    state: State,
}

enum State {
    Json { rows: usize },
    Csv,
    // Boxed: the writer is large, and an encoder is made once per answer.
    ArrowIpc(Box<StreamWriter<Vec<u8>>>),
}

impl Encoder {
    /// An encoder for a result of `schema`, and the head of the answer (JSON: the columns
    /// and `"rows":[`; CSV: the header row; Arrow IPC: the schema message).
    ///
    /// # Errors
    /// If the schema cannot be encoded (Arrow IPC).
    pub fn start(format: Format, schema: &SchemaRef) -> Result<(Self, Vec<u8>), ArrowError> {
        let mut head = Vec::new();
        let state = match format {
            Format::Json => {
                let columns: Vec<Value> = schema
                    .fields()
                    .iter()
                    .map(|f| json!({"name": f.name(), "type": super::type_name(f.data_type())}))
                    .collect();
                head.extend_from_slice(b"{\"columns\":");
                serde_json::to_writer(&mut head, &columns).map_err(to_arrow)?;
                head.extend_from_slice(b",\"rows\":[");
                State::Json { rows: 0 }
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(&mut head);
                writer
                    .write_record(schema.fields().iter().map(|f| f.name().as_str()))
                    .and_then(|()| writer.flush().map_err(csv::Error::from))
                    .map_err(to_arrow)?;
                drop(writer);
                State::Csv
            }
            Format::ArrowIpc => {
                let mut writer = StreamWriter::try_new(Vec::new(), schema)?;
                head = std::mem::take(writer.get_mut());
                State::ArrowIpc(Box::new(writer))
            }
        };
        Ok((Self { state }, head))
    }

    /// Appends `batch` to `out`.
    ///
    /// # Errors
    /// If a batch cannot be encoded (Arrow IPC, a CSV write to memory).
    pub fn batch(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), ArrowError> {
        match &mut self.state {
            State::Json { rows } => {
                for row in 0..batch.num_rows() {
                    if *rows > 0 {
                        out.push(b',');
                    }
                    *rows += 1;
                    let cells: Vec<Value> = batch
                        .columns()
                        .iter()
                        .map(|c| super::cell(c.as_ref(), row))
                        .collect();
                    serde_json::to_writer(&mut *out, &cells).map_err(to_arrow)?;
                }
            }
            State::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut *out);
                for row in 0..batch.num_rows() {
                    writer
                        .write_record(
                            batch
                                .columns()
                                .iter()
                                .map(|c| super::text_cell(c.as_ref(), row)),
                        )
                        .map_err(to_arrow)?;
                }
                writer.flush().map_err(to_arrow)?;
            }
            State::ArrowIpc(writer) => {
                writer.write(batch)?;
                out.append(writer.get_mut());
            }
        }
        Ok(())
    }

    /// Appends the end of a complete answer (JSON: `]}`; Arrow IPC: the end-of-stream
    /// marker).
    ///
    /// # Errors
    /// If the Arrow IPC end cannot be written.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ArrowError> {
        match &mut self.state {
            State::Json { .. } => out.extend_from_slice(b"]}"),
            State::Csv => {}
            State::ArrowIpc(writer) => {
                writer.finish()?;
                out.append(writer.get_mut());
            }
        }
        Ok(())
    }

    /// The end of an answer cut short after its first bytes were sent. JSON closes the
    /// rows and adds `"error": {"code", "message"}`, so that the document parses and says
    /// why it is short; CSV adds a last line `# error: <code>: <message>`; Arrow IPC has no
    /// place for an error and gets nothing (the caller then aborts the connection, which
    /// every client sees as a truncated answer).
    pub fn error_trailer(&self, code: &str, message: &str) -> Vec<u8> {
        match &self.state {
            State::Json { .. } => {
                let error = json!({"code": code, "message": message});
                format!("],\"error\":{error}}}").into_bytes()
            }
            State::Csv => format!("# error: {code}: {}\n", message.replace('\n', " ")).into_bytes(),
            State::ArrowIpc(_) => Vec::new(),
        }
    }
}

fn to_arrow(e: impl std::error::Error + Send + Sync + 'static) -> ArrowError {
    ArrowError::ExternalError(Box::new(e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use analytics::QueryResult;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn result() -> QueryResult {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let batch = |from: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![Some(from), None])),
                    Arc::new(StringArray::from(vec![Some("a,\"b\""), Some("c")])),
                    Arc::new(Float64Array::from(vec![f64::NAN, 0.5])),
                ],
            )
            .unwrap()
        };
        QueryResult {
            schema: schema.clone(),
            batches: vec![batch(1), RecordBatch::new_empty(schema.clone()), batch(3)],
        }
    }

    fn pieces(format: Format, result: &QueryResult) -> Vec<u8> {
        let (mut encoder, mut out) = Encoder::start(format, &result.schema).unwrap();
        for batch in &result.batches {
            encoder.batch(batch, &mut out).unwrap();
        }
        encoder.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn pieces_put_together_are_the_whole_answer_in_every_format() {
        let result = result();
        assert_eq!(
            pieces(Format::Json, &result),
            serde_json::to_vec(&super::super::to_json(&result)).unwrap()
        );
        assert_eq!(
            pieces(Format::Csv, &result),
            super::super::to_csv(&result).unwrap()
        );
        let mut whole = StreamWriter::try_new(Vec::new(), &result.schema).unwrap();
        for batch in &result.batches {
            whole.write(batch).unwrap();
        }
        whole.finish().unwrap();
        assert_eq!(
            pieces(Format::ArrowIpc, &result),
            whole.into_inner().unwrap()
        );
    }

    #[test]
    fn a_cut_json_answer_still_parses_and_names_its_error() {
        let result = result();
        let (mut encoder, mut out) = Encoder::start(Format::Json, &result.schema).unwrap();
        encoder.batch(&result.batches[0], &mut out).unwrap();
        out.extend(encoder.error_trailer("result_too_large", "past 10 bytes"));
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["rows"].as_array().unwrap().len(), 2);
        assert_eq!(value["error"]["code"], "result_too_large");
        let (encoder, _) = Encoder::start(Format::Csv, &result.schema).unwrap();
        assert_eq!(
            encoder.error_trailer("timeout", "a\nb"),
            b"# error: timeout: a b\n"
        );
    }
}
