//! The group-commit writer thread and the handle that appends to it.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use schemas::paths::wal_segment_name;
use schemas::tables::Table;
use tokio::sync::oneshot;

use super::framing::{encode_payload_into, payload_crc, seal, segment_header, unsealed_record};
use crate::error::{Error, Result};

/// WAL tuning.
#[derive(Clone, Debug)]
pub struct WalConfig {
    /// A segment is closed and a new one started once it holds this many bytes.
    pub segment_bytes: u64,
    /// One group commit writes at most about this many bytes.
    pub max_group_bytes: usize,
    /// Appends that may wait for the writer; past it, appends fail with
    /// [`Error::Overloaded`] instead of queueing without bound.
    pub queue_depth: usize,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            max_group_bytes: 8 << 20,
            queue_depth: 4096,
        }
    }
}

/// Called by the writer thread, in sequence order, once a record is durable and before
/// its appender is answered: this is where acknowledged data becomes visible.
pub type OnDurable = Box<dyn FnMut(u64, Vec<(Table, RecordBatch)>) + Send>;

struct Append {
    batches: Vec<(Table, RecordBatch)>,
    /// Arrow memory of `batches`, what a group is bounded by.
    bytes: usize,
    done: oneshot::Sender<Result<u64>>,
}

/// Why the WAL's last group commit failed, until one succeeds again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteFault {
    /// The error, naming the segment.
    pub message: String,
    /// The file system is full (`ENOSPC`, or `EDQUOT`): intake resumes by itself at the
    /// first write after space is freed.
    pub no_space: bool,
    /// When the failures began.
    pub since: std::time::SystemTime,
}

/// Handle to the write-ahead log. Appends from any task; one thread writes.
pub struct Wal {
    tx: Mutex<Option<SyncSender<Append>>>,
    closed_segments: Arc<Mutex<Vec<(PathBuf, u64)>>>,
    fault: Arc<Mutex<Option<WriteFault>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Wal {
    /// Starts the writer on a new segment whose first record will be `next_sequence`.
    /// `existing` are the segments replay found (path, last sequence), kept until
    /// [`Wal::remove_through`] covers them.
    ///
    /// # Errors
    /// If the directory or the first segment cannot be created.
    pub fn open(
        dir: &Path,
        config: WalConfig,
        next_sequence: u64,
        existing: Vec<(PathBuf, u64)>,
        on_durable: OnDurable,
    ) -> Result<Wal> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let segment = Segment::create(dir, next_sequence)?;
        // A segment already named for `next_sequence` (left by a run that stopped before
        // writing to it) holds no record at or after it, so it was safely recreated above;
        // it must not stay listed as closed, or its removal would unlink the live segment.
        let existing = existing
            .into_iter()
            .filter(|(path, _)| *path != segment.path)
            .collect();
        let closed_segments = Arc::new(Mutex::new(existing));
        let fault = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::sync_channel(config.queue_depth);
        let writer = Writer {
            dir: dir.to_owned(),
            config,
            segment,
            next_sequence,
            closed_segments: closed_segments.clone(),
            fault: fault.clone(),
            on_durable,
            buffer: Vec::new(),
            failed: None,
            rotation_failing: false,
        };
        let thread = std::thread::Builder::new()
            .name("vigil-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::io(dir, e))?;
        Ok(Wal {
            tx: Mutex::new(Some(tx)),
            closed_segments,
            fault,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends `batches` and returns the sequence of the record that holds them, once it
    /// is fsynced.
    ///
    /// The appends that reach the writer together are one group commit and one record:
    /// their batches are joined per table, so several appends may share a sequence.
    /// When this returns `Ok`, the batches are in the WAL on stable storage and the
    /// [`OnDurable`] callback has run for their record.
    ///
    /// # Errors
    /// [`Error::Overloaded`] when the writer's queue is full; [`Error::Io`] if the write
    /// or fsync failed (nothing of the record is acknowledged); [`Error::Closed`] after
    /// shutdown began.
    ///
    /// # Cancellation
    /// Dropping the future does not withdraw the record: it may still become durable.
    pub async fn append(&self, batches: Vec<(Table, RecordBatch)>) -> Result<u64> {
        let bytes = batches.iter().map(|(_, b)| b.get_array_memory_size()).sum();
        let (done, wait) = oneshot::channel();
        let sent = match self.tx.lock().as_ref() {
            Some(tx) => tx.try_send(Append {
                batches,
                bytes,
                done,
            }),
            None => return Err(Error::Closed),
        };
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Overloaded("WAL queue is full")),
            Err(TrySendError::Disconnected(_)) => return Err(Error::Closed),
        }
        wait.await.map_err(|_| Error::Closed)?
    }

    /// Deletes closed segments whose every record has a sequence `<= sequence`.
    /// Call only after every table's commit covers `sequence`. Returns how many went.
    ///
    /// # Errors
    /// If a segment cannot be removed (it stays listed and is retried next time).
    pub fn remove_through(&self, sequence: u64) -> Result<usize> {
        let mut closed = self.closed_segments.lock();
        let mut removed = 0;
        while let Some((path, last)) = closed.first() {
            if *last > sequence {
                break;
            }
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
            closed.remove(0);
            removed += 1;
        }
        Ok(removed)
    }

    /// Why appends are failing now: set by a failed group commit, cleared by the next one
    /// that succeeds. `None` while the WAL writes.
    pub fn fault(&self) -> Option<WriteFault> {
        self.fault.lock().clone()
    }

    /// Number of segments on disk besides the active one.
    pub fn closed_segments(&self) -> usize {
        self.closed_segments.lock().len()
    }

    /// Stops accepting appends, lets the writer finish (and answer) what is queued, and
    /// joins it. Later appends fail with [`Error::Closed`].
    pub fn close(&self) {
        self.tx.lock().take();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Segment {
    fn create(dir: &Path, first_sequence: u64) -> Result<Segment> {
        let path = dir.join(wal_segment_name(first_sequence));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.write_all(segment_header())
            .map_err(|e| Error::io(&path, e))?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        // The new name must survive a crash too.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
        Ok(Segment {
            path,
            file,
            len: segment_header().len() as u64,
        })
    }
}

struct Writer {
    dir: PathBuf,
    config: WalConfig,
    segment: Segment,
    next_sequence: u64,
    closed_segments: Arc<Mutex<Vec<(PathBuf, u64)>>>,
    fault: Arc<Mutex<Option<WriteFault>>>,
    on_durable: OnDurable,
    buffer: Vec<u8>,
    failed: Option<String>,
    rotation_failing: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<Append>) {
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            let mut bytes = group[0].bytes;
            while bytes < self.config.max_group_bytes {
                match rx.try_recv() {
                    Ok(next) => {
                        bytes += next.bytes;
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
        // Closed: the active segment is complete and may be removed like any other once a
        // table commit covers it (a clean shutdown then leaves an empty WAL directory).
        self.closed_segments
            .lock()
            .push((self.segment.path.clone(), self.next_sequence - 1));
    }

    fn commit(&mut self, mut group: Vec<Append>) {
        if let Some(reason) = &self.failed {
            let reason = reason.clone();
            return answer_all(group, &reason);
        }
        // A failed rotation leaves the current segment open, which still takes records.
        match self.rotate_if_full() {
            Ok(()) => self.rotation_failing = false,
            Err(e) if !self.rotation_failing => {
                self.rotation_failing = true;
                tracing::error!(error = %e, "WAL segment rotation failed; writing on to the current segment");
            }
            Err(_) => {}
        }
        let started = Instant::now();
        let sequence = self.next_sequence;
        let appended = group.iter_mut().flat_map(|a| a.batches.drain(..));
        // The payload is encoded straight after room kept for the header, in the buffer
        // that is written: no payload of its own, no copy into a frame, and the buffer's
        // pages stay mapped from one group to the next.
        let buffer = &mut self.buffer;
        let encoded = coalesce(appended).and_then(|batches| {
            unsealed_record(buffer);
            encode_payload_into(buffer, &batches)?;
            Ok(batches)
        });
        let batches = match encoded {
            Ok(batches) => {
                let crc = payload_crc(&self.buffer);
                seal(&mut self.buffer, sequence, crc);
                batches
            }
            Err(e) => return answer_all(group, &format!("WAL record not encoded: {e}")),
        };
        let written = self
            .segment
            .file
            .write_all(&self.buffer)
            .and_then(|()| self.segment.file.sync_data());
        if let Err(e) = written {
            let no_space = is_no_space(&e);
            let message = if no_space {
                format!(
                    "disk full: WAL write to {} failed ({e}); intake resumes once space is freed",
                    self.segment.path.display()
                )
            } else {
                format!("WAL write to {} failed: {e}", self.segment.path.display())
            };
            // Cut back whatever part of the record reached the file, so that an
            // unacknowledged record is never replayed, and move the write position back
            // with it: `set_len` leaves the position where the failed write stopped, and the
            // next record would be written past a hole that replay reads as a torn tail,
            // dropping it and everything after. If this fails, stop taking writes.
            let len = self.segment.len;
            let file = &mut self.segment.file;
            let restored = file
                .set_len(len)
                .and_then(|()| file.seek(SeekFrom::Start(len)))
                .and_then(|_| file.sync_all());
            if restored.is_err() {
                self.failed = Some(message.clone());
            }
            self.set_fault(&message, no_space);
            metrics::counter!("vigil_wal_write_failures_total", "reason" => if no_space { "no_space" } else { "io" }).increment(1);
            return answer_all(group, &message);
        }
        if self.fault.lock().take().is_some() {
            tracing::info!("WAL writes again; intake resumed");
        }
        self.segment.len += self.buffer.len() as u64;
        self.next_sequence += 1;
        metrics::counter!("vigil_wal_group_commits_total").increment(1);
        metrics::counter!("vigil_wal_records_total").increment(1);
        metrics::counter!("vigil_wal_appends_total").increment(group.len() as u64);
        metrics::counter!("vigil_wal_bytes_total").increment(self.buffer.len() as u64);
        metrics::histogram!("vigil_wal_commit_seconds").record(started.elapsed().as_secs_f64());
        (self.on_durable)(sequence, batches);
        for append in group {
            let _ = append.done.send(Ok(sequence));
        }
    }

    /// Records a failed commit: logged when the failures begin (or change), not for every
    /// refused group, so a full disk does not flood the log.
    fn set_fault(&self, message: &str, no_space: bool) {
        let mut fault = self.fault.lock();
        if fault.as_ref().is_none_or(|f| f.message != message) {
            tracing::error!("{message}");
        }
        let since = fault
            .as_ref()
            .map_or_else(std::time::SystemTime::now, |f| f.since);
        *fault = Some(WriteFault {
            message: message.to_owned(),
            no_space,
            since,
        });
    }

    fn rotate_if_full(&mut self) -> Result<()> {
        if self.segment.len < self.config.segment_bytes {
            return Ok(());
        }
        let next = Segment::create(&self.dir, self.next_sequence)?;
        let old = std::mem::replace(&mut self.segment, next);
        self.closed_segments
            .lock()
            .push((old.path, self.next_sequence - 1));
        Ok(())
    }
}

/// Answers every append of a group that did not become durable with [`Error::Failed`].
fn answer_all(group: Vec<Append>, reason: &str) {
    for append in group {
        let _ = append.done.send(Err(Error::Failed(reason.to_owned())));
    }
}

/// The batches of a group, joined into one batch per table (in [`Table::ALL`] order), so
/// that a group commit is one record, one IPC encoding and one hot batch per table however
/// many requests it answers. A table with a single batch in the group keeps it uncopied.
///
/// # Errors
/// When batches of one table do not share its columns (a bug of the appender).
pub(super) fn coalesce(
    batches: impl Iterator<Item = (Table, RecordBatch)>,
) -> Result<Vec<(Table, RecordBatch)>> {
    let mut per_table: [Vec<RecordBatch>; Table::ALL.len()] = Default::default();
    for (table, batch) in batches {
        per_table[table.index()].push(batch);
    }
    let mut joined = Vec::with_capacity(2);
    for (table, mut batches) in Table::ALL.into_iter().zip(per_table) {
        let batch = match batches.len() {
            0 => continue,
            1 => batches.pop().expect("one batch"),
            _ => arrow::compute::concat_batches(&batches[0].schema(), &batches)
                .map_err(Error::Arrow)?,
        };
        joined.push((table, batch));
    }
    Ok(joined)
}

/// `ENOSPC` or `EDQUOT`: the file system (or the quota) is full.
fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}
