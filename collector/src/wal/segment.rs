//! A WAL segment file: created, or a spare written over; closed at its last record.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use schemas::paths::{
    WAL_PREPARING_NAME, is_wal_prepared_spare_name, is_wal_spare_name, wal_segment_name,
};

use super::framing::segment_header;
use crate::error::{Error, Result};

/// Removed segments kept as spares, to be written over as later segments instead of
/// creating new files (PostgreSQL recycles its WAL segments the same way). `fdatasync`
/// after a write over blocks a file already holds is one data write and a cache flush;
/// after an append that grows the file it also writes the inode, synchronously, in
/// between: 116–118 µs against 189–197 µs per 40 KB record on the benchmark machine
/// (BENCHMARKS.md, issue 12, fourth pass). Since the group commit is what small requests
/// wait on, 11 of 14 alternating pairs were faster with spares, +4 to +18 % at 4 spans
/// per request (seventh pass). Two, so that spares hold at most two segments' worth of
/// disk (128 MiB by default); a segment prepared ahead of need
/// ([`super::WalConfig::prepare_segments`]) counts among them.
pub(super) const MAX_SPARES: usize = 2;

/// The segment the writer appends to: its file, and how far the records in it reach.
pub(super) struct Segment {
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Bytes written: the magic and the records.
    pub(super) len: u64,
    /// A spare written over: the file may hold old records past `len`.
    pub(super) reused: bool,
}

impl Segment {
    pub(super) fn create(dir: &Path, first_sequence: u64) -> Result<Segment> {
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
            reused: false,
        })
    }

    /// The spare `spare` renamed into the segment whose first record will be
    /// `first_sequence`, to be written over from just after its magic. Its old records
    /// stay until overwritten; replay stops at the first of them, whose sequence is lower
    /// than the one it expects there.
    fn reuse(dir: &Path, spare: &Path, first_sequence: u64) -> Result<Segment> {
        let path = dir.join(wal_segment_name(first_sequence));
        fs::rename(spare, &path).map_err(|e| Error::io(spare, e))?;
        // The new name must be durable before any record relies on it.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // The magic was there already; written again in case the spare's was damaged. The
        // first record's `fdatasync` makes it durable with that record.
        file.write_all(segment_header())
            .map_err(|e| Error::io(&path, e))?;
        Ok(Segment {
            path,
            file,
            len: segment_header().len() as u64,
            reused: true,
        })
    }

    /// The segment whose first record will be `first_sequence`: `spare` written over, or,
    /// without one or if it cannot be reused, a new file. Counted in
    /// `vigil_wal_segments_total{start}` by how it started: `prepared` (zeros written ahead),
    /// `recycled` (a removed segment) or `new` (a file that grows with its records).
    pub(super) fn next(dir: &Path, spare: Option<PathBuf>, first_sequence: u64) -> Result<Segment> {
        let (segment, start) = match spare {
            Some(spare) => match Segment::reuse(dir, &spare, first_sequence) {
                Ok(segment) => {
                    let prepared = spare
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_wal_prepared_spare_name);
                    (segment, if prepared { "prepared" } else { "recycled" })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WAL spare segment not reused; creating a new one");
                    let _ = remove(&spare);
                    (Segment::create(dir, first_sequence)?, "new")
                }
            },
            None => (Segment::create(dir, first_sequence)?, "new"),
        };
        metrics::counter!("vigil_wal_segments_total", "start" => start).increment(1);
        Ok(segment)
    }

    /// Closes the segment at its last record: a reused one is cut there, so that no
    /// closed segment holds old records past its own.
    pub(super) fn seal_end(&mut self) -> Result<()> {
        if self.reused {
            self.file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all())
                .map_err(|e| Error::io(&self.path, e))?;
            self.reused = false;
        }
        Ok(())
    }
}

/// The spare segments a previous run left in `dir`, at most [`MAX_SPARES`] (others are
/// deleted, and so is a spare it was still preparing).
pub(super) fn find_spares(dir: &Path) -> Result<Vec<PathBuf>> {
    remove(&dir.join(WAL_PREPARING_NAME))?;
    let mut spares: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(is_wal_spare_name))
        .map(|e| e.path())
        .collect();
    spares.sort();
    for extra in spares.split_off(spares.len().min(MAX_SPARES)) {
        remove(&extra)?;
    }
    Ok(spares)
}

/// Deletes `path`; one already gone is no error.
pub(super) fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
