//! The group-commit writer thread and the handle that appends to it.

use std::collections::VecDeque;
use std::fs;
use std::future::Future;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use parking_lot::{Condvar, Mutex};
use schemas::paths::wal_spare_name;
use schemas::tables::Table;
use tokio::sync::oneshot;

use super::framing::{encode_payload_into, seal, unsealed_record};
use super::prepare::{self, Preparer};
use super::segment::{MAX_SPARES, Segment, find_spares, remove};
use crate::error::{Error, Result};

/// WAL tuning.
#[derive(Clone, Debug)]
pub struct WalConfig {
    /// A segment is closed and a new one started once it holds this many bytes.
    pub segment_bytes: u64,
    /// A group takes no more appends once it holds about this many bytes of Arrow
    /// memory; later appends open the next group.
    pub max_group_bytes: usize,
    /// Appends that may wait for the writer; past it, appends fail with
    /// [`Error::Overloaded`] instead of queueing without bound.
    pub queue_depth: usize,
    /// Write each new segment as zeros before records go into it (on a thread of its own,
    /// ahead of the rotation, and at open), so that a group commit's `fdatasync` never
    /// has to grow the file: `super::prepare` says why and what it costs.
    pub prepare_segments: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            max_group_bytes: 8 << 20,
            queue_depth: 4096,
            prepare_segments: true,
        }
    }
}

/// Called by the writer thread, in sequence order, once a record is durable and before
/// its appender is answered: this is where acknowledged data becomes visible.
pub type OnDurable = Box<dyn FnMut(u64, Vec<(Table, RecordBatch)>) + Send>;

/// Rows that the appends of one group write straight into shared column builders,
/// instead of each building batches of its own: the open group holds one value of this
/// type, appenders add to it under the group's lock ([`Wal::append_rows`]), and the writer
/// thread finishes it once, into at most one batch per table, when it takes the group.
pub trait GroupRows: Send + 'static {
    /// What a finished group leaves to size the next group's builders (row counts per
    /// table, say), so that they do not grow by doubling from empty.
    type Sizes: Copy + Default + Send + 'static;

    /// Empty rows, with room for about `sizes`.
    fn with_sizes(sizes: Self::Sizes) -> Self;

    /// The sizes of what was appended so far.
    fn sizes(&self) -> Self::Sizes;

    /// The rows as batches, at most one per table.
    ///
    /// # Errors
    /// When a batch cannot be assembled (a bug of the implementation): the whole group
    /// then fails.
    fn finish(self) -> Result<Vec<(Table, RecordBatch)>>;
}

/// [`GroupRows`] for a WAL whose appenders only append ready batches ([`Wal::append`]).
#[derive(Debug, Default)]
pub struct NoRows;

impl GroupRows for NoRows {
    type Sizes = ();

    fn with_sizes((): ()) -> Self {
        NoRows
    }

    fn sizes(&self) {}

    fn finish(self) -> Result<Vec<(Table, RecordBatch)>> {
        Ok(Vec::new())
    }
}

/// A group commit in the making: what its appenders added, and who waits for it.
struct Group<R> {
    rows: R,
    /// Ready batches appended by [`Wal::append`].
    batches: Vec<(Table, RecordBatch)>,
    /// About the Arrow memory appended, what a group is bounded by.
    bytes: usize,
    waiters: Vec<oneshot::Sender<Result<u64>>>,
}

/// The groups waiting for the writer, oldest first; appenders add to the newest until it
/// holds [`WalConfig::max_group_bytes`], then open another.
struct Queue<R: GroupRows> {
    groups: VecDeque<Group<R>>,
    /// Appends waiting in `groups`, bounded by [`WalConfig::queue_depth`].
    waiting: usize,
    /// The sizes of the last group the writer took.
    sizes: R::Sizes,
    closed: bool,
}

/// What the appenders and the writer thread share.
struct Shared<R: GroupRows> {
    queue: Mutex<Queue<R>>,
    /// Wakes the writer when a group is opened or the WAL closes.
    wake: Condvar,
    config: WalConfig,
}

/// The answer to [`Wal::append_rows`]: resolves to the sequence of the record holding the
/// rows once it is fsynced, or to the error that failed its group.
#[must_use = "the rows are durable only once this resolves to Ok"]
pub struct Durable(oneshot::Receiver<Result<u64>>);

impl Future for Durable {
    type Output = Result<u64>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u64>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answer| answer.map_err(|_| Error::Closed)?)
    }
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

/// Handle to the write-ahead log. Appends from any task; one thread writes. `R` is what
/// appenders may write straight into the open group's column builders
/// ([`Wal::append_rows`]); [`NoRows`] when they only append batches.
pub struct Wal<R: GroupRows = NoRows> {
    shared: Arc<Shared<R>>,
    closed_segments: Arc<Mutex<Vec<(PathBuf, u64)>>>,
    /// Removed segments waiting to be reused, at most [`MAX_SPARES`].
    spares: Arc<Mutex<Vec<PathBuf>>>,
    fault: Arc<Mutex<Option<WriteFault>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The thread that prepares segments, with [`WalConfig::prepare_segments`].
    preparer: Option<Preparer>,
    preparer_thread: Mutex<Option<JoinHandle<()>>>,
}

impl<R: GroupRows> Wal<R> {
    /// Starts the writer on a new segment whose first record will be `next_sequence`.
    /// `existing` are the segments replay found (path, last sequence), kept until
    /// [`Wal::remove_through`] covers them. Spare segments left in `dir` are kept for reuse:
    /// every record they hold is numbered below `next_sequence` (a segment becomes a spare
    /// only once the tables cover it), which is how replay tells their old records from
    /// new ones.
    ///
    /// # Errors
    /// If the directory or the first segment cannot be created.
    pub fn open(
        dir: &Path,
        config: WalConfig,
        next_sequence: u64,
        existing: Vec<(PathBuf, u64)>,
        on_durable: OnDurable,
    ) -> Result<Wal<R>> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let spares = Arc::new(Mutex::new(find_spares(dir)?));
        let mut spare = spares.lock().pop();
        if spare.is_none() && config.prepare_segments {
            // Once per start, before the first record: the daemon is not ready yet.
            spare = prepare::prepare(dir, config.segment_bytes, &spares, || false)
                .unwrap_or_else(|e| {
                    tracing::warn!(dir = %dir.display(), error = %e, "WAL segment not prepared; the first one grows with its records");
                    None
                });
        }
        let segment = Segment::next(dir, spare, next_sequence)?;
        // A segment already named for `next_sequence` (left by a run that stopped before
        // writing to it) holds no record at or after it, so it was safely recreated above;
        // it must not stay listed as closed, or its removal would unlink the live segment.
        let existing = existing
            .into_iter()
            .filter(|(path, _)| *path != segment.path)
            .collect();
        let closed_segments = Arc::new(Mutex::new(existing));
        let fault = Arc::new(Mutex::new(None));
        let (preparer, preparer_thread) = if config.prepare_segments {
            let (preparer, thread) = Preparer::start(dir, config.segment_bytes, spares.clone())
                .map_err(|e| Error::io(dir, e))?;
            (Some(preparer), Some(thread))
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                groups: VecDeque::new(),
                waiting: 0,
                sizes: R::Sizes::default(),
                closed: false,
            }),
            wake: Condvar::new(),
            config: config.clone(),
        });
        let writer = Writer {
            dir: dir.to_owned(),
            config,
            segment,
            next_sequence,
            closed_segments: closed_segments.clone(),
            spares: spares.clone(),
            fault: fault.clone(),
            on_durable,
            buffer: Vec::new(),
            failed: None,
            rotation_failing: false,
            preparer: preparer.clone(),
            prepare_asked: false,
        };
        let thread = std::thread::Builder::new()
            .name("vigil-wal".into())
            .spawn({
                let shared = shared.clone();
                move || writer.run(&shared)
            })
            .map_err(|e| {
                // Without a writer, nothing would ever stop the preparer.
                if let Some(preparer) = &preparer {
                    preparer.close();
                }
                Error::io(dir, e)
            })?;
        Ok(Wal {
            shared,
            closed_segments,
            spares,
            fault,
            thread: Mutex::new(Some(thread)),
            preparer,
            preparer_thread: Mutex::new(preparer_thread),
        })
    }

    /// Appends `batches` and returns the sequence of the record that holds them, once it
    /// is fsynced.
    ///
    /// The appends that reach the writer together are one group commit and one record:
    /// their batches are joined per table (with the rows of [`Wal::append_rows`]), so
    /// several appends may share a sequence. When this returns `Ok`, the batches are in
    /// the WAL on stable storage and the [`OnDurable`] callback has run for their record.
    ///
    /// # Errors
    /// [`Error::Overloaded`] when [`WalConfig::queue_depth`] appends wait already;
    /// [`Error::Failed`] if the write or fsync failed (nothing of the record is
    /// acknowledged); [`Error::Closed`] after shutdown began.
    ///
    /// # Cancellation
    /// Dropping the future does not withdraw the record: it may still become durable.
    pub async fn append(&self, batches: Vec<(Table, RecordBatch)>) -> Result<u64> {
        let bytes = batches.iter().map(|(_, b)| b.get_array_memory_size()).sum();
        self.append_rows(bytes, |_| {}, batches)?.await
    }

    /// Appends rows through `fill`, which writes them into the open group's builders,
    /// and `batches` beside them. The future resolves to the sequence of the record that
    /// holds them once it is fsynced, as [`Wal::append`]'s does.
    ///
    /// `fill` runs now, on the caller's thread, under the lock that every appender and
    /// the writer take: keep it to appending rows already checked (validation belongs
    /// before). `bytes` is about the Arrow memory the rows add, what
    /// [`WalConfig::max_group_bytes`] bounds. If the record fails, nothing of the group
    /// is stored and each of its appenders gets the error.
    ///
    /// # Errors
    /// At once, without calling `fill`: [`Error::Overloaded`] when
    /// [`WalConfig::queue_depth`] appends wait already, [`Error::Closed`] after shutdown
    /// began. From the future: as [`Wal::append`].
    ///
    /// # Cancellation
    /// The rows are in the group once this returns: dropping the future does not
    /// withdraw them, they may still become durable.
    pub fn append_rows(
        &self,
        bytes: usize,
        fill: impl FnOnce(&mut R),
        batches: Vec<(Table, RecordBatch)>,
    ) -> Result<Durable> {
        let (done, wait) = oneshot::channel();
        let opened = {
            let mut queue = self.shared.queue.lock();
            if queue.closed {
                return Err(Error::Closed);
            }
            if queue.waiting >= self.shared.config.queue_depth {
                return Err(Error::Overloaded("WAL queue is full"));
            }
            let max = self.shared.config.max_group_bytes;
            let opened = queue.groups.back().is_none_or(|g| g.bytes >= max);
            if opened {
                let rows = R::with_sizes(queue.sizes);
                queue.groups.push_back(Group {
                    rows,
                    batches: Vec::new(),
                    bytes: 0,
                    waiters: Vec::new(),
                });
            }
            queue.waiting += 1;
            let group = queue.groups.back_mut().expect("a group is open");
            fill(&mut group.rows);
            group.batches.extend(batches);
            group.bytes += bytes;
            group.waiters.push(done);
            opened
        };
        if opened {
            self.shared.wake.notify_one();
        }
        Ok(Durable(wait))
    }

    /// Appends waiting for the writer now (not counting the group it is writing).
    pub fn waiting(&self) -> usize {
        self.shared.queue.lock().waiting
    }

    /// Removes closed segments whose every record has a sequence `<= sequence`: the
    /// first [`MAX_SPARES`] become spares for the writer to reuse, the others are deleted.
    /// Once the WAL is closed, it deletes them all, and the spares with them, so that a
    /// clean stop leaves an empty directory. Call only after every table's commit covers
    /// `sequence`. Returns how many segments left the log.
    ///
    /// # Errors
    /// If a segment cannot be removed (it stays listed and is retried next time).
    pub fn remove_through(&self, sequence: u64) -> Result<usize> {
        let closed_wal = self.shared.queue.lock().closed;
        let mut closed = self.closed_segments.lock();
        let mut removed = 0;
        while let Some((path, last)) = closed.first() {
            if *last > sequence {
                break;
            }
            if !closed_wal && self.keep_as_spare(path) {
                tracing::debug!(segment = %path.display(), "WAL segment kept as a spare");
            } else {
                remove(path)?;
            }
            closed.remove(0);
            removed += 1;
        }
        drop(closed);
        if closed_wal {
            let mut spares = self.spares.lock();
            while let Some(spare) = spares.pop() {
                if let Err(e) = remove(&spare) {
                    spares.push(spare);
                    return Err(e);
                }
            }
        }
        Ok(removed)
    }

    /// Renames the removed segment `path` into a spare, unless [`MAX_SPARES`] wait
    /// already or the rename fails (the caller then deletes it).
    fn keep_as_spare(&self, path: &Path) -> bool {
        let mut spares = self.spares.lock();
        if spares.len() >= MAX_SPARES {
            return false;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        let spare = path.with_file_name(wal_spare_name(name));
        match fs::rename(path, &spare) {
            Ok(()) => {
                spares.push(spare);
                true
            }
            Err(e) => {
                tracing::warn!(segment = %path.display(), error = %e, "WAL segment not kept as a spare; deleted");
                false
            }
        }
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
    /// joins it and the preparer. Later appends fail with [`Error::Closed`].
    pub fn close(&self) {
        self.shared.queue.lock().closed = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        if let Some(preparer) = &self.preparer {
            preparer.close();
        }
        let thread = self.preparer_thread.lock().take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl<R: GroupRows> Drop for Wal<R> {
    fn drop(&mut self) {
        self.close();
    }
}

struct Writer {
    dir: PathBuf,
    config: WalConfig,
    segment: Segment,
    next_sequence: u64,
    closed_segments: Arc<Mutex<Vec<(PathBuf, u64)>>>,
    spares: Arc<Mutex<Vec<PathBuf>>>,
    fault: Arc<Mutex<Option<WriteFault>>>,
    on_durable: OnDurable,
    buffer: Vec<u8>,
    failed: Option<String>,
    rotation_failing: bool,
    preparer: Option<Preparer>,
    /// The preparer was asked for the segment after this one.
    prepare_asked: bool,
}

impl Writer {
    fn run<R: GroupRows>(mut self, shared: &Shared<R>) {
        loop {
            let group = {
                let mut queue = shared.queue.lock();
                loop {
                    if let Some(group) = queue.groups.pop_front() {
                        queue.waiting -= group.waiters.len();
                        queue.sizes = group.rows.sizes();
                        break Some(group);
                    }
                    if queue.closed {
                        break None;
                    }
                    shared.wake.wait(&mut queue);
                }
            };
            let Some(group) = group else { break };
            self.commit(group);
        }
        // Closed: the active segment is complete and may be removed like any other once a
        // table commit covers it (a clean shutdown then leaves an empty WAL directory).
        if let Err(e) = self.segment.seal_end() {
            // Harmless: replay stops at the old records anyway.
            tracing::warn!(error = %e, "reused WAL segment not cut at its last record");
        }
        self.closed_segments
            .lock()
            .push((self.segment.path.clone(), self.next_sequence - 1));
    }

    fn commit<R: GroupRows>(&mut self, group: Group<R>) {
        let Group {
            rows,
            batches: appended,
            waiters,
            ..
        } = group;
        if let Some(reason) = &self.failed {
            let reason = reason.clone();
            return answer_all(waiters, &reason);
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
        // The payload is encoded straight after room kept for the header, in the buffer
        // that is written: no payload of its own, no copy into a frame, and the buffer's
        // pages stay mapped from one group to the next.
        let buffer = &mut self.buffer;
        // The builders are finished here, once per group, on the writer thread.
        let encoded = rows
            .finish()
            .and_then(|finished| coalesce(finished.into_iter().chain(appended)))
            .and_then(|batches| {
                unsealed_record(buffer);
                encode_payload_into(buffer, &batches)?;
                Ok(batches)
            });
        let batches = match encoded {
            Ok(batches) => {
                seal(&mut self.buffer, sequence);
                batches
            }
            Err(e) => return answer_all(waiters, &format!("WAL record not encoded: {e}")),
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
            return answer_all(waiters, &message);
        }
        if self.fault.lock().take().is_some() {
            tracing::info!("WAL writes again; intake resumed");
        }
        self.segment.len += self.buffer.len() as u64;
        self.next_sequence += 1;
        // Half way through a segment, the next one is asked for: ready by the rotation,
        // and a daemon that writes little never prepares one.
        if !self.prepare_asked && self.segment.len >= self.config.segment_bytes / 2 {
            self.prepare_asked = true;
            if let Some(preparer) = &self.preparer {
                preparer.want();
            }
        }
        metrics::counter!("vigil_wal_group_commits_total").increment(1);
        metrics::counter!("vigil_wal_records_total").increment(1);
        metrics::counter!("vigil_wal_appends_total").increment(waiters.len() as u64);
        metrics::counter!("vigil_wal_bytes_total").increment(self.buffer.len() as u64);
        metrics::histogram!("vigil_wal_commit_seconds").record(started.elapsed().as_secs_f64());
        (self.on_durable)(sequence, batches);
        for done in waiters {
            let _ = done.send(Ok(sequence));
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
        self.segment.seal_end()?;
        let spare = self.spares.lock().pop();
        let next = Segment::next(&self.dir, spare, self.next_sequence)?;
        self.prepare_asked = false;
        let old = std::mem::replace(&mut self.segment, next);
        self.closed_segments
            .lock()
            .push((old.path, self.next_sequence - 1));
        Ok(())
    }
}

/// Answers every append of a group that did not become durable with [`Error::Failed`].
fn answer_all(waiters: Vec<oneshot::Sender<Result<u64>>>, reason: &str) {
    for done in waiters {
        let _ = done.send(Err(Error::Failed(reason.to_owned())));
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
