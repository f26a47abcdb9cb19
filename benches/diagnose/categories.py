#!/usr/bin/env python3
"""Where a request's CPU goes, from `perf script` output of benches/diagnose/perf-record.sh.

    perf script -i OUT.data -F comm,tid,ip,sym --no-inline > OUT.txt
    benches/diagnose/categories.py OUT.txt REQUESTS          # by category, per thread kind
    benches/diagnose/categories.py OUT.txt --under PATTERN   # the frames below PATTERN

REQUESTS is how many requests the run answered (requests/s times seconds): each category is
printed as a share of the thread's samples and as µs per request (samples / 299 Hz /
REQUESTS). A sample goes to the first category that any frame of its stack matches, root
first (so the flush's allocations count as the flush), else to the system call, allocator,
page fault or protocol layer its leaf frames show.
"""
import collections
import re
import sys

HZ = 299
THREADS = ("vigil-io", "vigil-wal")
# (category, pattern), matched against the stack from the root.
BY_CALLER = [
    ("flush", r"run_flusher|deltalake_core|parquet::"),
    ("decode", r"Message::decode|ProstDecoder|decode_traces|serde_json"),
    ("map", r"map_traces"),
    ("append_rows", r"append_rows"),
    ("respond/encode", r"trace_response|encode_to_vec|EncodeBody|encode_chunk"),
    ("drop request", r"drop_in_place<.*ExportTraceServiceRequest|drop_in_place<opentelemetry_proto"),
]


def load(path):
    """The samples of a `perf script` text: (thread name, frames leaf first)."""
    samples, current = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if current:
                samples.append(current)
            current = None
        elif not line[0].isspace():
            current = (line.split()[0], [])
        elif current:
            parts = line.strip().split(None, 1)
            current[1].append(parts[1] if len(parts) > 1 else "?")
    if current:
        samples.append(current)
    return samples


def category(frames):
    for name, pattern in BY_CALLER:
        if any(re.search(pattern, f) for f in reversed(frames)):
            return name
    if any(re.search(r"entry_SYSCALL|do_syscall", f) for f in frames):
        for f in frames:
            m = re.search(r"__(?:x64_)?sys_(\w+)|(epoll_wait|writev|recv\w*|futex\w*)", f)
            if m:
                return "syscall " + (m.group(1) or m.group(2))
        return "syscall"
    if frames and re.search(r"mi_|_mi_", frames[0]):
        return "malloc/free"
    for label, pattern in [
        ("page fault", r"exc_page_fault"),
        ("h2/hyper h2", r"h2::|hyper::proto::h2"),
        ("hyper h1", r"hyper::proto::h1|hyper::server::conn::http1"),
        ("tonic", r"tonic::"),
        ("axum", r"axum::"),
        ("park", r"park|Condvar|futex"),
        ("tokio other", r"tokio::"),
    ]:
        if any(re.search(pattern, f) for f in frames):
            return label
    return "other"


def short(frame):
    return re.sub(r"<[^<>]*>", "<>", frame)[:140]


def by_category(path, requests):
    samples = load(path)
    for thread in THREADS:
        chosen = [frames for comm, frames in samples if comm == thread]
        if not chosen:
            continue
        per_request = len(chosen) / HZ / requests * 1e6
        print(f"== {thread}: {len(chosen)} samples, {per_request:.1f} µs per request")
        counts = collections.Counter(category(frames) for frames in chosen)
        for name, n in counts.most_common(25):
            print(f"  {100 * n / len(chosen):5.1f} %  {n / HZ / requests * 1e6:6.1f} µs  {name}")


def under(path, pattern):
    samples = load(path)
    chosen = [frames for _, frames in samples if any(re.search(pattern, f) for f in frames)]
    print(f"{len(chosen)} of {len(samples)} samples have a frame matching {pattern}")
    inclusive, leaf = collections.Counter(), collections.Counter()
    for frames in chosen:
        leaf[short(frames[0])] += 1
        for name in {short(f) for f in frames}:
            inclusive[name] += 1
    for name, n in inclusive.most_common(60):
        print(f"{100 * n / len(chosen):5.1f} % {name}")
    print("-- leaf")
    for name, n in leaf.most_common(25):
        print(f"{100 * n / len(chosen):5.1f} % {name}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--under":
        under(sys.argv[1], sys.argv[3])
    elif len(sys.argv) == 3:
        by_category(sys.argv[1], float(sys.argv[2]))
    else:
        sys.exit(__doc__)
