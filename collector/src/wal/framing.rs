//! Encoding and decoding of WAL records (see the module docs of `wal` for the layout).

use std::io::Cursor;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, new_null_array};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{
    DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, StreamWriter,
    write_message,
};
use arrow::record_batch::RecordBatch;
use schemas::tables::Table;

use super::{HEADER_LEN, MAGIC};
use crate::error::{Error, Result};

/// One group commit as the WAL holds it: the batches of the requests it answered.
#[derive(Clone, Debug)]
pub struct WalRecord {
    /// Position in the log, from 1, gap-free within a process lifetime.
    pub sequence: u64,
    /// The normalised batches, at most one per table.
    pub batches: Vec<(Table, RecordBatch)>,
}

/// The IPC stream's schema message of every table, encoded once. Each record is one
/// self-contained IPC stream per batch (schema, batch, end-of-stream), so replay needs no
/// state; but encoding a table's ~40-field schema (maps included) cost more than the batch
/// of a small request, so the bytes are made once and copied.
static SCHEMA_MESSAGES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|table| {
            let mut bytes = Vec::new();
            // `try_new` writes exactly the schema message; the stream is not finished.
            StreamWriter::try_new(&mut bytes, &table.schema())
                .expect("the tables' schemas encode as IPC");
            bytes
        })
        .collect()
});

/// The IPC end-of-stream marker (continuation, then a zero length), as
/// `StreamWriter::finish` writes it.
const END_OF_STREAM: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// Encodes batches as a record payload. The bytes are those of an Arrow IPC
/// `StreamWriter` per batch; a batch in its table's own schema (the normalizer's, by
/// `Arc`) takes the schema message from [`SCHEMA_MESSAGES`].
///
/// # Errors
/// If Arrow IPC encoding fails (it does not for the tables' schemas).
pub fn encode_payload(batches: &[(Table, RecordBatch)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_payload_into(&mut out, batches)?;
    Ok(out)
}

/// [`encode_payload`] appending to `out`: the WAL writer encodes a record's payload
/// straight after the space kept for its header ([`unsealed_record`]), so the payload is
/// neither allocated on its own nor copied into a frame.
///
/// # Errors
/// As [`encode_payload`]; `out` may then hold part of a payload.
pub fn encode_payload_into(out: &mut Vec<u8>, batches: &[(Table, RecordBatch)]) -> Result<()> {
    out.reserve(
        batches
            .iter()
            .map(|(_, b)| b.get_array_memory_size())
            .sum::<usize>()
            / 2,
    );
    for (table, batch) in batches {
        out.push(table.id());
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        if !encode_known_schema(out, *table, batch)? {
            let mut writer =
                StreamWriter::try_new(&mut *out, &batch.schema()).map_err(Error::Arrow)?;
            writer.write(batch).map_err(Error::Arrow)?;
            writer.finish().map_err(Error::Arrow)?;
        }
        let len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }
    Ok(())
}

/// Writes `batch` as an IPC stream with the cached schema message, when the batch is in
/// `table`'s schema (same `Arc`) and has no dictionaries; `false` (nothing written)
/// otherwise.
fn encode_known_schema(out: &mut Vec<u8>, table: Table, batch: &RecordBatch) -> Result<bool> {
    if !Arc::ptr_eq(&batch.schema(), &table.schema()) {
        return Ok(false);
    }
    let options = IpcWriteOptions::default();
    let (dictionaries, encoded) = IpcDataGenerator::default()
        .encode(
            batch,
            &mut DictionaryTracker::new(false),
            &options,
            &mut IpcWriteContext::default(),
        )
        .map_err(Error::Arrow)?;
    if !dictionaries.is_empty() {
        return Ok(false);
    }
    out.extend_from_slice(&SCHEMA_MESSAGES[table.index()]);
    write_message(&mut *out, encoded, &options).map_err(Error::Arrow)?;
    out.extend_from_slice(&END_OF_STREAM);
    Ok(true)
}

/// Decodes a payload made by [`encode_payload`], each batch in its table's current
/// schema ([`upgrade`]).
///
/// # Errors
/// When the payload is malformed (an unknown table id, a short read, bad IPC).
pub fn decode_payload(mut payload: &[u8]) -> Result<Vec<(Table, RecordBatch)>> {
    let mut batches = Vec::new();
    while !payload.is_empty() {
        if payload.len() < 5 {
            return Err(Error::Corrupt("short batch header".into()));
        }
        let table = Table::from_id(payload[0])
            .ok_or_else(|| Error::Corrupt(format!("unknown table id {}", payload[0])))?;
        let len = u32::from_le_bytes(payload[1..5].try_into().expect("4 bytes")) as usize;
        let body = payload
            .get(5..5 + len)
            .ok_or_else(|| Error::Corrupt("short batch body".into()))?;
        let reader = StreamReader::try_new(Cursor::new(body), None).map_err(Error::Arrow)?;
        for batch in reader {
            batches.push((table, upgrade(table, batch.map_err(Error::Arrow)?)));
        }
        payload = &payload[5 + len..];
    }
    Ok(batches)
}

/// `batch` of `table` in the table's current [`Table::schema`]: a record written by an
/// older version of Vigil lacks the columns added since (`audit.node`), which are
/// nullable and are filled with nulls here, so that replay hands the hot buffer and the
/// store batches of one schema. A batch that differs otherwise is returned as it is.
fn upgrade(table: Table, batch: RecordBatch) -> RecordBatch {
    let schema = table.schema();
    if batch.schema().fields() == schema.fields() {
        return batch;
    }
    let fits = batch
        .schema()
        .fields()
        .iter()
        .all(|f| schema.field_with_name(f.name()).is_ok());
    let columns: Option<Vec<ArrayRef>> = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => Some(column.clone()),
            None if field.is_nullable() => {
                Some(new_null_array(field.data_type(), batch.num_rows()))
            }
            None => None,
        })
        .collect();
    match columns {
        Some(columns) if fits => RecordBatch::try_new(schema, columns).unwrap_or(batch),
        _ => batch,
    }
}

/// Appends one framed record to `out` (the writer seals records in place instead).
#[cfg(test)]
pub fn frame(out: &mut Vec<u8>, sequence: u64, payload: &[u8]) {
    out.extend_from_slice(&header(
        sequence,
        payload.len(),
        record_crc(sequence, payload),
    ));
    out.extend_from_slice(payload);
}

/// A record whose payload is still to be appended and whose header is still to be
/// written ([`seal`]): `buffer` emptied, with room for the header kept at its start.
pub fn unsealed_record(buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(&[0; HEADER_LEN]);
}

/// Writes the header of a record made with [`unsealed_record`] (then its payload
/// appended), once its sequence is known.
pub fn seal(record: &mut [u8], sequence: u64) {
    let (head, payload) = record.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header(
        sequence,
        payload.len(),
        record_crc(sequence, payload),
    ));
}

/// CRC32C(sequence ‖ payload), the checksum of a record's header. Computed in one pass
/// from the sequence's CRC: `crc32c_combine` (zlib's method, a 32 × 32 GF(2) matrix
/// squared per bit of the payload length) cost more per group commit than the CRC of the
/// payload itself (BENCHMARKS.md, issue 12, fourth pass).
fn record_crc(sequence: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&sequence.to_le_bytes()), payload)
}

/// The header of a record: payload length, CRC32C(sequence ‖ payload), sequence.
fn header(sequence: u64, payload_len: usize, crc: u32) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8..16].copy_from_slice(&sequence.to_le_bytes());
    header
}

/// The segment header.
pub fn segment_header() -> &'static [u8] {
    MAGIC
}

/// What [`read_segment`] found in a segment.
#[derive(Debug)]
pub struct SegmentRead {
    /// The intact records, in order.
    pub records: Vec<WalRecord>,
    /// Length of the intact prefix (magic and records).
    pub valid_len: usize,
    /// What follows the intact prefix is the old content of a reused segment (an intact
    /// record numbered below the next expected sequence, or the zeros of a prepared
    /// segment), not a torn or corrupt write.
    pub stale_tail: bool,
}

/// Reads the records of a segment whose first record is `first_sequence` (its name).
/// Records are numbered without gaps, so reading stops at the first record that is torn,
/// fails its CRC or does not carry the next sequence: everything from there on is a torn
/// write, corruption or, for an intact record numbered below the next sequence or for
/// nothing but zeros to the end of the file, what a reused segment held before
/// ([`SegmentRead::stale_tail`]). No record's header is zeros (sequences start at 1); zeros
/// with anything after them are damage, as before.
pub fn read_segment(bytes: &[u8], first_sequence: u64) -> SegmentRead {
    let mut read = SegmentRead {
        records: Vec::new(),
        valid_len: 0,
        stale_tail: false,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return read;
    }
    let mut at = MAGIC.len();
    let mut expected = first_sequence;
    while bytes.len() - at >= HEADER_LEN {
        let header = &bytes[at..at + HEADER_LEN];
        if header.iter().all(|&b| b == 0) && bytes[at..].iter().all(|&b| b == 0) {
            read.stale_tail = true;
            break;
        }
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let sequence = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        let Some(payload) = bytes.get(at + HEADER_LEN..at + HEADER_LEN + len) else {
            break;
        };
        if record_crc(sequence, payload) != crc {
            break;
        }
        if sequence != expected {
            read.stale_tail = sequence < expected;
            break;
        }
        match decode_payload(payload) {
            Ok(batches) => read.records.push(WalRecord { sequence, batches }),
            Err(_) => break,
        }
        at += HEADER_LEN + len;
        expected += 1;
    }
    read.valid_len = at;
    read
}
