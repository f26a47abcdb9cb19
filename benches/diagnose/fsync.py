#!/usr/bin/env python3
"""What the WAL's durable write costs on this file system, by what the file held before.

    benches/diagnose/fsync.py [DIR] [--writes N] [--size BYTES]

In DIR (default: the current directory; use the data directory's file system), writes N
records of BYTES each (default 2,000 of 20,000, a 1-trace group commit) and makes each one
durable, the way a group commit does, in these ways:

- append: write + fdatasync at the end of a growing file (the inode's size and extents
  are written too);
- fallocate: over space reserved by posix_fallocate (extents still unwritten);
- zero: over zeros written and synced before (what a prepared WAL segment is);
- dsync: over zeros, through O_DSYNC instead of fdatasync;
- direct: over zeros, O_DIRECT | O_DSYNC from an aligned buffer;
- two threads: over zeros, write + fdatasync from two threads at once (can the device
  overlap two flushes?).

Prints the mean wall time and the process's CPU time per durable write.
"""
import argparse
import mmap
import os
import resource
import threading
import time


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prepared(path, size):
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY)
    zeros = b"\0" * (1 << 20)
    for _ in range(size // len(zeros) + 1):
        os.write(fd, zeros)
    os.fsync(fd)
    os.close(fd)


def run(mode, directory, writes, size):
    path = os.path.join(directory, f"vigil-fsync-{mode}.tmp")
    record = mmap.mmap(-1, size)  # page-aligned, as O_DIRECT needs
    record.write(os.urandom(size))
    total = writes * size
    if mode == "append":
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY)
    elif mode == "fallocate":
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY)
        os.posix_fallocate(fd, 0, total + 4096)
        os.fsync(fd)
    else:
        prepared(path, total)
        flags = {"dsync": os.O_DSYNC, "direct": os.O_DIRECT | os.O_DSYNC}.get(mode, 0)
        fd = os.open(path, os.O_WRONLY | flags)
    synced = mode in ("append", "fallocate", "zero", "two threads")

    def write(first, count):
        for i in range(first, first + count):
            os.pwrite(fd, record, i * size)
            if synced:
                os.fdatasync(fd)

    started, cpu = time.perf_counter(), cpu_seconds()
    if mode == "two threads":
        half = writes // 2
        threads = [threading.Thread(target=write, args=(0, half)),
                   threading.Thread(target=write, args=(half, half))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        write(0, writes)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    os.close(fd)
    os.unlink(path)
    print(f"{mode:12s} {wall / writes * 1e6:7.1f} µs wall, {cpu / writes * 1e6:6.1f} µs CPU "
          f"per {size:,} B durable write ({writes / wall:,.0f}/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", nargs="?", default=".")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--size", type=int, default=20000)
    args = parser.parse_args()
    size = (args.size + 4095) // 4096 * 4096  # O_DIRECT writes whole blocks
    for mode in ["append", "fallocate", "zero", "dsync", "direct", "two threads"]:
        run(mode, args.directory, args.writes, size)
