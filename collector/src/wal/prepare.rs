//! Segments prepared ahead of need: zero-filled files that later records are written over.
//!
//! `fdatasync` after a write into blocks a file already holds is one data write and a
//! cache flush; after an append that grows the file it also journals the new size and
//! extents, synchronously, in between. On the benchmark machine (ext4) a 20 KB record's
//! write and `fdatasync` took 204–233 µs appended to a new file, 195–216 µs into space
//! reserved by `posix_fallocate` (its extents are still marked unwritten) and 121–122 µs
//! into zeros written before (BENCHMARKS.md, issue 12, eleventh pass). A group commit is
//! what small requests wait on, so each new segment is written as zeros first, as
//! PostgreSQL does with `wal_init_zero`: by a thread of its own, ahead of the rotation
//! that needs it, so that the writer never waits for it.
//!
//! A prepared segment is a spare like a segment kept after removal
//! (`spare-prepared-<n>.wal`, [`wal_prepared_spare_name`]); replay reads its zeros as the
//! end of the records ([`super::framing::read_segment`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use schemas::paths::{WAL_PREPARING_NAME, wal_prepared_spare_name};

use super::segment::MAX_SPARES;

/// Zeros are written and synced this much at a time. Synced whole, a 64 MiB segment's
/// writeback held the device for 30–39 ms, and a group commit's `fdatasync` that came
/// meanwhile waited for all of it (against at most 6 ms without a preparation, 50 traces
/// per request); a chunk at a time, a commit waits for one chunk at most.
const CHUNK: usize = 1 << 20;

/// The free space a preparation leaves at the least, in segments: beside the prepared
/// one, room for the segment being written and the Delta files a flush writes, so that a
/// nearly full disk is not filled by zeros. On a disk with less room, segments are
/// created as they are needed and grow with their records.
const ROOM_IN_SEGMENTS: u64 = 2;

/// What the writer and the preparer thread share.
struct State {
    /// The writer is half way through its segment: prepare the next one if no spare is
    /// left by then.
    wanted: bool,
    closed: bool,
}

/// Handle through which the writer asks for the next segment ([`Preparer::want`]).
#[derive(Clone)]
pub(super) struct Preparer {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Preparer {
    /// Starts the thread that adds a zero-filled segment of `segment_bytes` to `spares`
    /// when asked ([`Preparer::want`]) and none is left.
    ///
    /// # Errors
    /// If the thread cannot be spawned.
    pub fn start(
        dir: &Path,
        segment_bytes: u64,
        spares: Arc<Mutex<Vec<PathBuf>>>,
    ) -> io::Result<(Preparer, JoinHandle<()>)> {
        let preparer = Preparer {
            state: Arc::new((
                Mutex::new(State {
                    wanted: false,
                    closed: false,
                }),
                Condvar::new(),
            )),
        };
        let thread = std::thread::Builder::new()
            .name("vigil-wal-prep".into())
            .spawn({
                let preparer = preparer.clone();
                let dir = dir.to_owned();
                move || preparer.run(&dir, segment_bytes, &spares)
            })?;
        Ok((preparer, thread))
    }

    /// Asks for a segment to be prepared if no spare is left; returns at once.
    pub fn want(&self) {
        let (state, wake) = &*self.state;
        state.lock().wanted = true;
        wake.notify_one();
    }

    /// Stops the thread: a preparation under way is abandoned and its file deleted.
    pub fn close(&self) {
        let (state, wake) = &*self.state;
        state.lock().closed = true;
        wake.notify_one();
    }

    fn closed(&self) -> bool {
        self.state.0.lock().closed
    }

    fn run(&self, dir: &Path, segment_bytes: u64, spares: &Mutex<Vec<PathBuf>>) {
        let mut failing = false;
        loop {
            {
                let (state, wake) = &*self.state;
                let mut state = state.lock();
                while !state.wanted && !state.closed {
                    wake.wait(&mut state);
                }
                if state.closed {
                    return;
                }
                state.wanted = false;
            }
            if !spares.lock().is_empty() {
                continue;
            }
            match prepare(dir, segment_bytes, spares, || self.closed()) {
                Ok(Some(path)) => {
                    failing = false;
                    let mut spares = spares.lock();
                    if spares.len() < MAX_SPARES {
                        spares.push(path);
                    } else {
                        drop(spares);
                        let _ = fs::remove_file(&path);
                    }
                }
                Ok(None) => {}
                // Logged when the failures begin: the writer creates its segments itself
                // meanwhile, so nothing is lost but speed.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(dir = %dir.display(), error = %e, "WAL segment not prepared; segments are created as needed");
                }
                Err(_) => {}
            }
        }
    }
}

/// Writes a zero-filled spare of `segment_bytes` as [`WAL_PREPARING_NAME`] in `dir`,
/// then renames it to the first free [`wal_prepared_spare_name`], durably (data, size and
/// name), and returns its path: a spare's name never holds a partial file. `None` when
/// the file system has less free room than [`ROOM_IN_SEGMENTS`] more segments, or when
/// `abandon` says stop (the partial file is then deleted).
///
/// # Errors
/// I/O errors; the partial file is deleted.
pub(super) fn prepare(
    dir: &Path,
    segment_bytes: u64,
    spares: &Mutex<Vec<PathBuf>>,
    abandon: impl Fn() -> bool,
) -> io::Result<Option<PathBuf>> {
    let free = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    let free = free.f_bavail.saturating_mul(free.f_frsize);
    if free < segment_bytes.saturating_mul(ROOM_IN_SEGMENTS + 1) {
        tracing::debug!(dir = %dir.display(), free, "too little room to prepare a WAL segment");
        return Ok(None);
    }
    // Only this thread (or `Wal::open`, before it starts) writes this file.
    let preparing = dir.join(WAL_PREPARING_NAME);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&preparing)?;
    match zero_fill(&mut file, segment_bytes, abandon) {
        Ok(true) => {}
        Ok(false) => {
            drop(file);
            fs::remove_file(&preparing)?;
            return Ok(None);
        }
        Err(e) => {
            drop(file);
            let _ = fs::remove_file(&preparing);
            return Err(e);
        }
    }
    // Only prepared spares take these names, and a spare leaves by being renamed: the
    // first free name stays free until the rename below.
    let path = {
        let spares = spares.lock();
        (0..)
            .map(|n| dir.join(wal_prepared_spare_name(n)))
            .find(|p| !spares.contains(p) && !p.exists())
            .expect("a free name")
    };
    fs::rename(&preparing, &path)?;
    File::open(dir)?.sync_all()?;
    Ok(Some(path))
}

/// Writes `bytes` zeros to `file`, syncing each [`CHUNK`], then the file's size; `false`
/// if `abandon` said stop first.
fn zero_fill(file: &mut File, bytes: u64, abandon: impl Fn() -> bool) -> io::Result<bool> {
    let zeros = vec![0u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        if abandon() {
            return Ok(false);
        }
        let n = left.min(CHUNK as u64) as usize;
        file.write_all(&zeros[..n])?;
        file.sync_data()?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(true)
}

#[cfg(test)]
mod tests;
