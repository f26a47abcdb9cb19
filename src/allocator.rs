//! The global allocator, mimalloc, and the one setting Vigil changes from its defaults.
//!
//! mimalloc: prost decoding 1.5× and the whole ingest pipeline 17 % faster than the system
//! allocator on this machine (DESIGN.md, measured). The `system-allocator` feature leaves
//! it out so that heap profilers hooking malloc see every allocation.
//!
//! Built with `no_thp`, mimalloc does not `madvise` its memory for transparent huge pages.
//! Where THP is `madvise` (Debian's default), a 2 MiB page is resident and zeroed whole
//! however little of it the short-lived Arrow buffers of ingest touch: ingest alone peaked
//! at 1,239 MiB with huge pages and 954 MiB without, and a query flood at 2,127 and 1,864
//! MiB (BENCHMARKS.md, "Where the peak memory goes"). Where THP is `always`, the kernel
//! gives huge pages unasked: `MIMALLOC_ALLOW_THP=0` turns them off for the process.

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps freed memory committed before it returns it to the OS, ms.
///
/// mimalloc 3 waits 1,000 ms (2 waited 10). Ingest frees a few hundred MB of short-lived
/// Arrow and protobuf buffers a second, so a second's worth stayed resident: ingest alone
/// at ≈ 200–240 k spans/s peaked at 1,141–1,383 MiB with 1,000 ms, 1,123 with 100, 1,059
/// with 50, 845 with 10 and 809 with 0; 10 ms cost 2–6 % of the throughput against 1,000
/// (BENCHMARKS.md, "Query flood: one write partition, the allocator's purge delay").
pub const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// `mi_option_purge_delay` in `mimalloc.h` (the same index in mimalloc 2 and 3: retired
/// options keep their place in the enum).
#[cfg(not(feature = "system-allocator"))]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's purge delay to [`PURGE_DELAY_MS`], unless `MIMALLOC_PURGE_DELAY` is set
/// in the environment (which mimalloc reads itself). Call first thing in `main`, before
/// any thread starts.
#[cfg(not(feature = "system-allocator"))]
#[allow(unsafe_code)]
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` stores an option's value; mimalloc reads this one each
        // time it schedules a purge. No thread is running yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// Nothing to set for the system allocator.
#[cfg(feature = "system-allocator")]
pub fn configure() {}

#[cfg(all(test, not(feature = "system-allocator")))]
mod tests {
    use super::*;

    /// Option 15 is the purge delay: it holds mimalloc 3's default of 1,000 ms until
    /// `configure` sets [`PURGE_DELAY_MS`] (`mimalloc.h`, `mi_option_purge_delay`), and
    /// a `MIMALLOC_PURGE_DELAY` in the environment wins over both.
    #[test]
    #[allow(unsafe_code)]
    fn configure_sets_the_purge_delay_unless_the_environment_does() {
        // SAFETY: reads an option's value.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let environment = std::env::var("MIMALLOC_PURGE_DELAY").ok();
        let expected = match &environment {
            Some(value) => value.parse().expect("MIMALLOC_PURGE_DELAY is a number"),
            None => {
                assert_eq!(get(), 1000, "mimalloc's default purge delay");
                PURGE_DELAY_MS
            }
        };
        configure();
        assert_eq!(get(), expected);
    }
}
