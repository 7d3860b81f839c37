//! Clearing reused memory at a cost that follows what a call touched, for engines that keep
//! a call's memory (stack, heap, linear memory) for the next call instead of mapping it
//! afresh.
//!
//! [`zero_touched`] reads, from the kernel's page map of the process
//! (`/proc/self/pagemap`), which pages of the range are present and which are swapped out.
//! Present pages get zeros written over them, so they stay mapped and the next call takes no
//! page fault there; a swapped-out page is given back to the kernel
//! (`madvise(MADV_DONTNEED)`), after which it reads as zeros; every other page was never
//! touched since it was last given back, and reads as zeros already. Past [`HOT_PAGES`]
//! present pages the whole range is given back instead.
//!
//! Why not give everything back every time: `madvise` that unmaps pages makes the kernel
//! flush the TLB of every core running a thread of the process (inter-processor interrupts,
//! costly in a virtual machine), and two threads doing so at once forced full flushes on each
//! other: two threads made fewer calls per second than one. Reading the page map takes no
//! lock other threads wait for and sends no interrupt. Where the page map cannot be read
//! (not Linux, no `/proc`), the range is given back, or written with zeros, as before. Each
//! thread keeps its own handle on the page map, opened again in a forked child (a handle
//! opened before a fork still describes the parent).

/// Most present pages [`zero_touched`] clears by writing (256 KiB with 4 KiB pages); past
/// it, the whole range is given back to the kernel.
pub const HOT_PAGES: usize = 64;

/// Sets every byte of `bytes` to zero, at a cost that follows the pages in it that are
/// present (see the module docs).
///
/// # Safety
/// `bytes` must lie in a private anonymous mapping (`mmap` with `MAP_PRIVATE |
/// MAP_ANONYMOUS`, without a copy-on-write image behind it): giving such pages back makes
/// them read as zeros, and untouched pages of it read as zeros. In a file or shared mapping
/// they would read back the file's contents.
pub unsafe fn zero_touched(bytes: &mut [u8]) {
    #[cfg(target_os = "linux")]
    // SAFETY: the caller's contract.
    if unsafe { linux::zero_touched(bytes) } {
        return;
    }
    bytes.fill(0);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Page map entry bit: the page is present in RAM.
    const PRESENT: u64 = 1 << 63;
    /// Page map entry bit: the page is swapped out.
    const SWAPPED: u64 = 1 << 62;

    thread_local! {
        /// The page map entries of the range being cleared, reused from call to call.
        static ENTRIES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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

    /// The kernel's page size (4 KiB where it cannot be read).
    pub(super) fn page_size() -> usize {
        static PAGE: OnceLock<usize> = OnceLock::new();
        *PAGE.get_or_init(|| {
            // SAFETY: sysconf only reads a constant of the system.
            let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            usize::try_from(size)
                .ok()
                .filter(|s| s.is_power_of_two())
                .unwrap_or(4096)
        })
    }

    /// Gives `bytes` (page-aligned, whole pages) back to the kernel, or writes zeros over them
    /// if it refuses.
    ///
    /// # Safety
    /// As [`super::zero_touched`].
    unsafe fn give_back(bytes: &mut [u8]) {
        // SAFETY: the range is borrowed mutably, so nothing else reads or writes it, and it
        // lies in a private anonymous mapping (the caller's contract): MADV_DONTNEED keeps the
        // mapping and makes its pages read back as zeros, which is all writing zeros would do.
        let done =
            unsafe { libc::madvise(bytes.as_mut_ptr().cast(), bytes.len(), libc::MADV_DONTNEED) };
        if done != 0 {
            bytes.fill(0);
        }
    }

    /// The Linux path of [`super::zero_touched`]; `false` when it could not run (nothing
    /// is then guaranteed about `bytes`, which the caller clears by writing).
    ///
    /// # Safety
    /// As [`super::zero_touched`].
    pub(super) unsafe fn zero_touched(bytes: &mut [u8]) -> bool {
        let page = page_size();
        let len = bytes.len();
        let start = bytes.as_ptr() as usize;
        if len == 0 || !start.is_multiple_of(page) || !len.is_multiple_of(page) {
            return false;
        }
        with_pagemap(|map| {
            let Some(map) = map else {
                // SAFETY: the caller's contract.
                unsafe { give_back(bytes) };
                return true;
            };
            let pages = len.checked_div(page).unwrap_or(0);
            let offset = (start.checked_div(page).unwrap_or(0) as u64).saturating_mul(8);
            ENTRIES.with(|entries| {
                let Ok(mut entries) = entries.try_borrow_mut() else {
                    return false;
                };
                entries.clear();
                entries.resize(pages.saturating_mul(8), 0);
                if map.read_exact_at(&mut entries, offset).is_err() {
                    // SAFETY: the caller's contract.
                    unsafe { give_back(bytes) };
                    return true;
                }
                // An entry that cannot be decoded counts as present: it is cleared by writing.
                let decode = |e: &[u8]| <[u8; 8]>::try_from(e).map_or(PRESENT, u64::from_ne_bytes);
                let present = entries
                    .chunks_exact(8)
                    .filter(|e| decode(e) & PRESENT != 0)
                    .count();
                if present > super::HOT_PAGES {
                    // SAFETY: the caller's contract.
                    unsafe { give_back(bytes) };
                    return true;
                }
                for (chunk, e) in bytes.chunks_exact_mut(page).zip(entries.chunks_exact(8)) {
                    let e = decode(e);
                    if e & PRESENT != 0 {
                        chunk.fill(0);
                    } else if e & SWAPPED != 0 {
                        // SAFETY: the caller's contract, for this page.
                        unsafe { give_back(chunk) };
                    }
                }
                true
            })
        })
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
