//! Clearing reused memory at a cost that follows what a call touched, for engines that keep
//! a call's memory (stack, heap, linear memory) for the next call instead of mapping it
//! afresh.
//!
//! [`zero_touched`] and [`zero_touched_in`] ask the kernel which pages of a range are present
//! and which are swapped out. Present pages get zeros written over them, so they stay mapped
//! and the next call takes no page fault there; a swapped-out page is given back to the
//! kernel (`madvise(MADV_DONTNEED)`), after which it reads as zeros; every other page was
//! never touched since it was last given back, or maps the kernel's shared zero page, and
//! reads as zeros already. Past [`HOT_PAGES`] present pages in one range, the whole range is
//! given back instead.
//!
//! The question costs one system call of about a microsecond, most of it fixed, whatever
//! the range's size: [`zero_touched_in`] clears several ranges of one span with a single
//! question, so a pool that clears its slots in batches pays that microsecond once per batch
//! rather than once per call. On Linux 6.7 and later the question is the page map's
//! `PAGEMAP_SCAN` ioctl, which answers with runs of pages and tells the shared zero page
//! apart; before that, `/proc/self/pagemap` is read (eight bytes per page).
//!
//! Why not give everything back every time: `madvise` that unmaps pages makes the kernel
//! flush the TLB of every core running a thread of the process (inter-processor interrupts,
//! costly in a virtual machine), and two threads doing so at once forced full flushes on each
//! other: two threads made fewer calls per second than one. Reading the page map takes no
//! lock other threads wait for and sends no interrupt. Where the page map cannot be read
//! (not Linux, no `/proc`), the ranges are given back, or written with zeros. Each thread
//! keeps its own handle on the page map, opened again in a forked child (a handle opened
//! before a fork still describes the parent).

use std::ops::Range;

/// Most present pages [`zero_touched`] clears by writing in one range (256 KiB with 4 KiB
/// pages); past it, the whole range is given back to the kernel.
pub const HOT_PAGES: usize = 64;

/// The kernel's page size (4 KiB where it cannot be read, or off unix).
pub fn page_size() -> usize {
    #[cfg(unix)]
    {
        static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *PAGE.get_or_init(|| {
            // SAFETY: sysconf only reads a constant of the system.
            let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            usize::try_from(size)
                .ok()
                .filter(|s| s.is_power_of_two())
                .unwrap_or(4096)
        })
    }
    #[cfg(not(unix))]
    {
        4096
    }
}

/// Sets every byte of `bytes` to zero, at a cost that follows the pages in it that are
/// present (see the module docs).
///
/// # Safety
/// `bytes` must lie in a private anonymous mapping (`mmap` with `MAP_PRIVATE |
/// MAP_ANONYMOUS`, without a copy-on-write image behind it): giving such pages back makes
/// them read as zeros, and untouched pages of it read as zeros. In a file or shared mapping
/// they would read back the file's contents.
pub unsafe fn zero_touched(bytes: &mut [u8]) {
    let len = bytes.len();
    // SAFETY: the caller's contract; the one range is all of `bytes`, borrowed mutably.
    unsafe { zero_touched_in(bytes.as_mut_ptr(), len, std::slice::from_ref(&(0..len))) }
}

/// Sets every byte of the ranges `clear` (offsets into the `len` bytes at `span`) to zero,
/// with one question to the kernel for the whole span (see the module docs). The rest of the
/// span is neither read nor written: only the kernel's record of its pages is looked at.
///
/// # Safety
/// - Every range of `clear` lies within `0..len`, and the bytes it names lie in a private
///   anonymous mapping (as [`zero_touched`]), may be written, and are not referenced by
///   anything else for the duration of the call.
/// - `span..span + len` is one address range of this process (it may hold other mappings,
///   or none, between the ranges).
pub unsafe fn zero_touched_in(span: *mut u8, len: usize, clear: &[Range<usize>]) {
    let in_span = |r: &Range<usize>| r.start <= r.end && r.end <= len;
    if !clear.iter().all(in_span) {
        // Not the caller's contract; nothing is touched rather than something outside.
        debug_assert!(false, "a range to clear lies outside the span");
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the caller's contract.
    if unsafe { linux::zero_touched_in(span, len, clear) } {
        return;
    }
    for r in clear {
        // SAFETY: the caller's contract: the range is in the span and may be written.
        unsafe { std::ptr::write_bytes(span.add(r.start), 0, r.len()) };
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::fs::File;
    use std::ops::Range;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// Page map entry bit: the page is present in RAM.
    const PRESENT: u64 = 1 << 63;
    /// Page map entry bit: the page is swapped out.
    const SWAPPED: u64 = 1 << 62;

    /// `PAGEMAP_SCAN` categories (linux/fs.h, 6.7).
    const PAGE_IS_PRESENT: u64 = 1 << 3;
    const PAGE_IS_SWAPPED: u64 = 1 << 4;
    const PAGE_IS_PFNZERO: u64 = 1 << 5;

    /// A run of pages of the same categories (`struct page_region`).
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct PageRegion {
        start: u64,
        end: u64,
        categories: u64,
    }

    /// The question (`struct pm_scan_arg`).
    #[repr(C)]
    #[derive(Default)]
    struct PmScanArg {
        size: u64,
        flags: u64,
        start: u64,
        end: u64,
        walk_end: u64,
        vec: u64,
        vec_len: u64,
        max_pages: u64,
        category_inverted: u64,
        category_mask: u64,
        category_anyof_mask: u64,
        return_mask: u64,
    }

    /// `_IOWR('f', 16, struct pm_scan_arg)`.
    const PAGEMAP_SCAN: u64 =
        (3 << 30) | ((size_of::<PmScanArg>() as u64) << 16) | (0x66 << 8) | 16;

    /// Runs answered per ioctl; more take another.
    const RUNS: usize = 64;

    /// Whether this kernel refused `PAGEMAP_SCAN` (older than 6.7): the page map is read.
    static NO_SCAN: AtomicBool = AtomicBool::new(false);

    thread_local! {
        /// The page map entries of the span being cleared, reused from call to call.
        static ENTRIES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        /// The runs of touched pages found, as (start, end, swapped) addresses.
        static RUNS_FOUND: RefCell<Vec<(usize, usize, bool)>> = const { RefCell::new(Vec::new()) };
        /// This thread's handle on the process's page map (`None` where it cannot be read),
        /// with the fork generation it was opened in.
        static MAP: RefCell<Option<(u64, Option<File>)>> = const { RefCell::new(None) };
    }

    /// Bumped in a forked child: `/proc/self/pagemap` opened before a fork still describes
    /// the parent, so every handle from an older generation is opened again.
    static GENERATION: AtomicU64 = AtomicU64::new(0);

    extern "C" fn forked() {
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `f` with this process's page map (`None` where it cannot be read).
    fn with_pagemap<R>(f: impl FnOnce(Option<&File>) -> R) -> R {
        static ATFORK: std::sync::Once = std::sync::Once::new();
        ATFORK.call_once(|| {
            // SAFETY: registers a child handler that only bumps an atomic counter, which is
            // async-signal-safe, as a handler run in a freshly forked child must be.
            unsafe {
                libc::pthread_atfork(None, None, Some(forked));
            }
        });
        let now = GENERATION.load(Ordering::Relaxed);
        MAP.with(|map| {
            let Ok(mut map) = map.try_borrow_mut() else {
                return f(None);
            };
            if map.as_ref().is_none_or(|(opened, _)| *opened != now) {
                *map = Some((now, File::open("/proc/self/pagemap").ok()));
            }
            f(map.as_ref().and_then(|(_, file)| file.as_ref()))
        })
    }

    pub(super) use super::page_size;

    /// Gives the `len` bytes at `at` (page-aligned, whole pages) back to the kernel, or
    /// writes zeros over them if it refuses.
    ///
    /// # Safety
    /// As a range of [`super::zero_touched_in`].
    unsafe fn give_back(at: *mut u8, len: usize) {
        // SAFETY: the range may be written and nothing else references it, and it lies in a
        // private anonymous mapping (the caller's contract): MADV_DONTNEED keeps the mapping
        // and makes its pages read back as zeros, which is all writing zeros would do.
        let done = unsafe { libc::madvise(at.cast(), len, libc::MADV_DONTNEED) };
        if done != 0 {
            // SAFETY: as above.
            unsafe { std::ptr::write_bytes(at, 0, len) };
        }
    }

    /// Asks `PAGEMAP_SCAN` for the runs of present (other than the zero page) or swapped
    /// pages in `start..end`, appended to `runs`; `false` when the kernel cannot answer.
    fn scan(map: &File, start: usize, end: usize, runs: &mut Vec<(usize, usize, bool)>) -> bool {
        if NO_SCAN.load(Ordering::Relaxed) {
            return false;
        }
        let mut answer = [PageRegion::default(); RUNS];
        let mut from = start as u64;
        let end = end as u64;
        while from < end {
            let mut arg = PmScanArg {
                size: size_of::<PmScanArg>() as u64,
                start: from,
                end,
                vec: answer.as_mut_ptr() as u64,
                vec_len: RUNS as u64,
                category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                return_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO,
                ..PmScanArg::default()
            };
            // SAFETY: PAGEMAP_SCAN reads `arg` and writes at most `vec_len` regions to `vec`,
            // which points at `answer`, alive and that long; it touches no other memory.
            let found = unsafe {
                libc::ioctl(
                    map.as_raw_fd(),
                    PAGEMAP_SCAN as _,
                    &mut arg as *mut PmScanArg,
                )
            };
            let Ok(found) = usize::try_from(found) else {
                // ENOTTY or EINVAL: a kernel without the ioctl; anything else is no answer.
                let errno = std::io::Error::last_os_error().raw_os_error();
                if matches!(errno, Some(libc::ENOTTY) | Some(libc::EINVAL)) {
                    NO_SCAN.store(true, Ordering::Relaxed);
                }
                runs.clear();
                return false;
            };
            for r in answer.iter().take(found.min(RUNS)) {
                let zero_page = r.categories & PAGE_IS_PFNZERO != 0;
                let swapped = r.categories & PAGE_IS_SWAPPED != 0;
                if !zero_page || swapped {
                    runs.push((r.start as usize, r.end as usize, swapped));
                }
            }
            if arg.walk_end <= from {
                runs.clear();
                return false;
            }
            from = arg.walk_end;
        }
        true
    }

    /// Reads the page map's entries for `start..end` (page-aligned) as runs of present or
    /// swapped pages, appended to `runs`; `false` when it cannot be read.
    fn read(map: &File, start: usize, end: usize, runs: &mut Vec<(usize, usize, bool)>) -> bool {
        let page = page_size();
        let pages = (end - start) / page;
        let offset = ((start / page) as u64).saturating_mul(8);
        ENTRIES.with(|entries| {
            let Ok(mut entries) = entries.try_borrow_mut() else {
                return false;
            };
            entries.clear();
            entries.resize(pages.saturating_mul(8), 0);
            if map.read_exact_at(&mut entries, offset).is_err() {
                return false;
            }
            for (i, e) in entries.chunks_exact(8).enumerate() {
                // An entry that cannot be decoded counts as present: it is cleared.
                let e = <[u8; 8]>::try_from(e).map_or(PRESENT, u64::from_ne_bytes);
                if e & (PRESENT | SWAPPED) == 0 {
                    continue;
                }
                let at = start + i * page;
                let swapped = e & PRESENT == 0;
                match runs.last_mut() {
                    Some(last) if last.1 == at && last.2 == swapped => last.1 = at + page,
                    _ => runs.push((at, at + page, swapped)),
                }
            }
            true
        })
    }

    /// The Linux path of [`super::zero_touched_in`]; `false` when it could not run
    /// (nothing is then guaranteed about the ranges, which the caller clears by writing).
    ///
    /// # Safety
    /// As [`super::zero_touched_in`].
    pub(super) unsafe fn zero_touched_in(
        span: *mut u8,
        len: usize,
        clear: &[Range<usize>],
    ) -> bool {
        let page = page_size();
        let base = span as usize;
        let aligned = |x: usize| x.is_multiple_of(page);
        if len == 0
            || !aligned(base)
            || !aligned(len)
            || !clear.iter().all(|r| aligned(r.start) && aligned(r.end))
        {
            return false;
        }
        let Some(first) = clear
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.start)
            .min()
        else {
            return true;
        };
        let last = clear.iter().map(|r| r.end).max().unwrap_or(first);
        let (from, to) = (base + first, base + last);
        let give_back_all = || {
            for r in clear {
                // SAFETY: the caller's contract, for this range.
                unsafe { give_back(span.add(r.start), r.len()) };
            }
        };
        with_pagemap(|map| {
            let Some(map) = map else {
                give_back_all();
                return true;
            };
            RUNS_FOUND.with(|runs| {
                let Ok(mut runs) = runs.try_borrow_mut() else {
                    return false;
                };
                runs.clear();
                if !scan(map, from, to, &mut runs) && !read(map, from, to, &mut runs) {
                    give_back_all();
                    return true;
                }
                for r in clear {
                    let (start, end) = (base + r.start, base + r.end);
                    let overlaps = || {
                        runs.iter().filter_map(move |&(s, e, swapped)| {
                            let (s, e) = (s.max(start), e.min(end));
                            (s < e).then_some((s, e, swapped))
                        })
                    };
                    let present: usize = overlaps()
                        .filter(|o| !o.2)
                        .map(|(s, e, _)| (e - s) / page)
                        .sum();
                    if present > super::HOT_PAGES {
                        // SAFETY: the caller's contract, for this range.
                        unsafe { give_back(span.add(r.start), r.len()) };
                        continue;
                    }
                    for (s, e, swapped) in overlaps() {
                        let at = span.wrapping_add(s - base);
                        if swapped {
                            // SAFETY: the caller's contract: `s..e` lies in this range.
                            unsafe { give_back(at, e - s) };
                        } else {
                            // SAFETY: as above.
                            unsafe { std::ptr::write_bytes(at, 0, e - s) };
                        }
                    }
                }
                true
            })
        })
    }

    /// Whether this kernel answers `PAGEMAP_SCAN`, for the tests.
    #[cfg(test)]
    pub(super) fn scan_works() -> bool {
        let page = page_size();
        let mut runs = Vec::new();
        let probe = vec![1u8; page * 4];
        let start = (probe.as_ptr() as usize).next_multiple_of(page);
        with_pagemap(|map| map.is_some_and(|m| scan(m, start, start + page * 2, &mut runs)))
    }

    /// Forces the page-map reading path (as on a kernel before 6.7), for the tests.
    #[cfg(test)]
    pub(super) fn force_read(on: bool) {
        NO_SCAN.store(on, Ordering::Relaxed);
    }

    /// The fork handler's effect, for the tests: handles opened before it are opened again.
    #[cfg(test)]
    pub(super) fn simulate_fork() {
        forked();
    }

    /// The generation this thread's page map handle was opened in, for the tests.
    #[cfg(test)]
    pub(super) fn opened_in() -> Option<u64> {
        MAP.with(|m| m.borrow().as_ref().map(|(g, _)| *g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page-aligned heap memory for the tests (Linux): private and anonymous, as
    /// `zero_touched` requires; freed on drop.
    #[cfg(target_os = "linux")]
    struct Map(*mut u8, std::alloc::Layout);

    #[cfg(target_os = "linux")]
    impl Map {
        fn new(len: usize) -> Map {
            let layout = std::alloc::Layout::from_size_align(len, linux::page_size()).unwrap();
            // SAFETY: `layout` has a non-zero size.
            let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!ptr.is_null());
            Map(ptr, layout)
        }

        fn bytes(&mut self) -> &mut [u8] {
            // SAFETY: the allocation is `layout.size()` bytes owned by `self`.
            unsafe { std::slice::from_raw_parts_mut(self.0, self.1.size()) }
        }
    }

    #[cfg(target_os = "linux")]
    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.0, self.1) }
        }
    }

    /// Few pages written, many written, every page written, the same pages again and others:
    /// every byte reads zero after each reset.
    #[cfg(target_os = "linux")]
    #[test]
    fn every_byte_reads_zero_afterwards() {
        // Whichever way the kernel is asked (this one answers PAGEMAP_SCAN from 6.7 on).
        // The switch is process-wide: other tests running meanwhile take either path, and
        // both are correct.
        if linux::scan_works() {
            every_byte_reads_zero_afterwards_here();
        }
        linux::force_read(true);
        every_byte_reads_zero_afterwards_here();
        linux::force_read(false);
    }

    #[cfg(target_os = "linux")]
    fn every_byte_reads_zero_afterwards_here() {
        let page = linux::page_size();
        let pages = HOT_PAGES * 3;
        let mut map = Map::new(page * pages);
        for (round, touched) in [1, 3, HOT_PAGES, HOT_PAGES + 1, pages, 2, 1, 7]
            .into_iter()
            .enumerate()
        {
            let bytes = map.bytes();
            for p in (round % 3..pages)
                .step_by((pages / touched).max(1))
                .take(touched)
            {
                bytes[p * page + 7] = 0xAB;
                bytes[p * page + page - 1] = 0xCD;
            }
            // SAFETY: `map` is a private anonymous mapping.
            unsafe { zero_touched(map.bytes()) };
            assert!(
                map.bytes().iter().all(|b| *b == 0),
                "{touched} pages touched"
            );
        }
    }

    /// After a fork the page map is opened again (a handle opened before describes the
    /// parent), and clearing still works.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_page_map_is_opened_again_after_a_fork() {
        let page = linux::page_size();
        let mut map = Map::new(page * 8);
        map.bytes()[page * 2] = 9;
        // SAFETY: `map` is private anonymous memory.
        unsafe { zero_touched(map.bytes()) };
        let before = linux::opened_in().expect("opened on first use");
        linux::simulate_fork();
        map.bytes()[page * 5] = 9;
        // SAFETY: as above.
        unsafe { zero_touched(map.bytes()) };
        assert!(linux::opened_in().expect("opened") > before);
        assert!(map.bytes().iter().all(|b| *b == 0));
    }

    /// Several ranges of one span cleared with one question: the ranges read zero, the
    /// bytes between them keep what they held, pages only read (the shared zero page) are
    /// left alone, and a range with more than [`HOT_PAGES`] present pages is given back.
    #[cfg(target_os = "linux")]
    #[test]
    fn only_the_named_ranges_of_a_span_are_cleared() {
        let page = linux::page_size();
        let slot = (HOT_PAGES + 8) * page;
        let mut map = Map::new(slot * 4);
        let bytes = map.bytes();
        // Slot 0: a few pages written; slot 1: written and kept (in use elsewhere);
        // slot 2: every page written; slot 3: only read.
        for i in [0, page, 5 * page + 9, slot - 1] {
            bytes[i] = 0x11;
        }
        bytes[slot..2 * slot].fill(0x22);
        bytes[2 * slot..3 * slot].fill(0x33);
        let read: u32 = bytes[3 * slot..]
            .iter()
            .step_by(page)
            .map(|b| u32::from(*b))
            .sum();
        assert_eq!(read, 0);
        let span = bytes.as_mut_ptr();
        let clear = [0..slot, 2 * slot..3 * slot, 3 * slot..4 * slot];
        // SAFETY: `map` is private anonymous memory of `4 * slot` bytes, borrowed mutably
        // here; the ranges lie in it.
        unsafe { zero_touched_in(span, slot * 4, &clear) };
        let bytes = map.bytes();
        assert!(bytes[..slot].iter().all(|b| *b == 0));
        assert!(
            bytes[slot..2 * slot].iter().all(|b| *b == 0x22),
            "slot 1 is kept"
        );
        assert!(bytes[2 * slot..].iter().all(|b| *b == 0));
    }

    #[test]
    fn unaligned_or_heap_memory_is_written() {
        let mut heap = vec![0x5Au8; 10_000];
        // SAFETY: `zero_touched` falls back to writing for a range that is not whole pages;
        // a heap allocation is private anonymous memory either way.
        unsafe { zero_touched(&mut heap[3..9_000]) };
        assert!(heap[3..9_000].iter().all(|b| *b == 0));
        assert_eq!((heap[2], heap[9_000]), (0x5A, 0x5A));
    }
}
