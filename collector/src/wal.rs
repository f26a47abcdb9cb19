//! The write-ahead log: what makes an OK answer durable.
//!
//! The appends that arrive while the writer thread is busy form one group: OTLP requests
//! append their checked rows straight into the group's shared column builders
//! ([`GroupRows`], under a short lock, on the caller's thread), other appenders (the scores
//! API, drift rows, audit and alert records) add ready batches. The writer takes the
//! group, finishes its builders once, joins the rest per table, encodes one record (a
//! sequence number and the Arrow IPC of those batches, so that replay needs no OTLP
//! decode) straight into the buffer it writes, writes it with one `write`, `fdatasync`s
//! once and only then answers all of them (group commit); a failed write fails every
//! appender of the group. So the per-request cost of small requests (Arrow buffers, an IPC
//! stream, a frame, a hot batch, a Parquet write later) is a per-group cost. Segments are
//! named by their first
//! sequence and deleted only once every table commit covers them ([`Wal::remove_through`]);
//! records are written over spare segments, removed ones or zero-filled ones prepared
//! ahead of need (`prepare`), so that an `fdatasync` need not grow the file.
//! (Encoding the next group on a second thread while the last one fsyncs was tried and
//! measured no faster on the two-core benchmark machine: BENCHMARKS.md, issue 12.)
//!
//! Record framing, little-endian:
//! ```text
//! u32 payload length | u32 CRC32C(sequence ‖ payload) | u64 sequence | payload
//! payload = repeated { u8 table id | u32 length | Arrow IPC stream }
//! ```
//! A segment starts with the 8-byte magic `VIGILWL1`. Replay stops at the first torn or
//! corrupt record of the last segment (a crash mid-write; nothing in it was acknowledged)
//! and truncates it there; a corrupt record in an older segment moves that segment to
//! `wal/quarantine/` and replay goes on, so one bad file never blocks the rest.

mod framing;
mod prepare;
mod segment;
mod writer;

use std::fs;
use std::path::{Path, PathBuf};

pub use framing::{WalRecord, decode_payload, encode_payload};
pub use writer::{Durable, GroupRows, NoRows, Wal, WalConfig, WriteFault};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"VIGILWL1";
const HEADER_LEN: usize = 16;

/// What replay found in the WAL directory.
#[derive(Debug, Default)]
pub struct Replay {
    /// Every intact record, in sequence order.
    pub records: Vec<WalRecord>,
    /// Highest sequence seen (0 if none).
    pub last_sequence: u64,
    /// Segments found, with the last sequence each holds, in order.
    pub segments: Vec<(PathBuf, u64)>,
    /// Segments moved to quarantine.
    pub quarantined: Vec<PathBuf>,
    /// Bytes cut off the tail of the last segment (a torn write).
    pub truncated_bytes: u64,
}

/// Reads every segment under `dir`.
///
/// With `repair`, a torn tail is truncated and corrupt older segments are quarantined;
/// without it (offline readers of a stopped daemon's directory) nothing is changed and
/// reading simply stops where the damage starts.
///
/// # Errors
/// On I/O errors other than the damage described above.
pub fn replay(dir: &Path, repair: bool) -> Result<Replay> {
    let mut replay = Replay::default();
    let mut names: Vec<(u64, PathBuf)> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                schemas::paths::parse_wal_segment_name(name.to_str()?).map(|seq| (seq, e.path()))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(replay),
        Err(e) => return Err(Error::io(dir, e)),
    };
    names.sort();
    let count = names.len();
    for (i, (first, path)) in names.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let read = framing::read_segment(&bytes, first);
        let (records, valid_len) = (read.records, read.valid_len);
        let damaged = valid_len < bytes.len() && !read.stale_tail;
        if read.stale_tail && repair {
            // A reused segment's old records past the last one written: not damage, but
            // cut off so that the segment ends at its last record like any other.
            truncate(&path, valid_len)?;
            tracing::debug!(segment = %path.display(), cut = bytes.len() - valid_len, "reused WAL segment's old tail cut");
        } else if damaged && !is_last {
            if repair {
                let quarantine = schemas::paths::wal_quarantine_dir(dir.parent().unwrap_or(dir));
                fs::create_dir_all(&quarantine).map_err(|e| Error::io(&quarantine, e))?;
                let target = quarantine.join(path.file_name().unwrap_or_default());
                fs::rename(&path, &target).map_err(|e| Error::io(&path, e))?;
                tracing::error!(segment = %path.display(), valid_bytes = valid_len, "corrupt WAL segment quarantined; its intact records are replayed");
                replay.quarantined.push(target);
            }
        } else if damaged && repair {
            truncate(&path, valid_len)?;
            replay.truncated_bytes += (bytes.len() - valid_len) as u64;
            tracing::warn!(segment = %path.display(), cut = bytes.len() - valid_len, "torn WAL tail truncated");
        }
        let last = records
            .last()
            .map_or(first.saturating_sub(1), |r| r.sequence);
        replay.last_sequence = replay.last_sequence.max(last);
        if !(damaged && !is_last && repair) {
            replay.segments.push((path, last));
        }
        replay.records.extend(records);
    }
    Ok(replay)
}

/// Cuts the segment at `path` to `len` bytes, durably.
fn truncate(path: &Path, len: usize) -> Result<()> {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len as u64).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests;
