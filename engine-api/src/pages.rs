//! Clearing reused memory at a cost that follows what a call touched, for engines that keep
//! a call's memory (stack, heap, linear memory) for the next call instead of mapping it
//! afresh.
//!
//! [`TouchedPages::zero`] keeps, per mapping, the pages calls usually touch (the *hot*
//! pages) and writes zeros over them, so they stay mapped and the next call takes no page
//! fault there; every other page is given back to the kernel (`madvise(MADV_DONTNEED)`, one
//! system call per run of pages, next to free where nothing is mapped), after which it reads
//! as zeros. Both ways clear a page whatever happened to it (a page swapped out with its
//! contents included), so which pages are hot only decides the cost, never the result. The
//! hot pages are learned by asking the kernel which pages are resident (`mincore`) on the
//! first reset and every [`RELEARN`]th one after; past [`HOT_PAGES`] resident pages, none is
//! hot and the whole range is given back. Elsewhere than on Linux, or when a system call
//! fails, zeros are written over every byte.

/// Most hot pages a [`TouchedPages`] keeps (256 KiB with 4 KiB pages); past it, the whole
/// range is given back to the kernel.
pub const HOT_PAGES: usize = 64;

/// A [`TouchedPages`] learns its hot pages again every this many resets.
pub const RELEARN: u32 = 64;

/// What [`TouchedPages::zero`] knows about one mapping: its hot pages, as runs of page
/// indices, and how many resets it has done.
#[derive(Clone, Debug, Default)]
pub struct TouchedPages {
    /// Runs `(first page, pages)` cleared by writing, in order.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    hot: Vec<(usize, usize)>,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    resets: u32,
}

impl TouchedPages {
    /// Nothing learned yet.
    pub fn new() -> TouchedPages {
        TouchedPages::default()
    }

    /// Sets every byte of `bytes` (the same mapping each time) to zero, at a cost that
    /// follows the pages calls touch (see the module docs).
    ///
    /// # Safety
    /// As [`zero_touched`].
    pub unsafe fn zero(&mut self, bytes: &mut [u8]) {
        #[cfg(target_os = "linux")]
        // SAFETY: the caller's contract.
        if unsafe { linux::zero(self, bytes) } {
            return;
        }
        bytes.fill(0);
    }
}

/// Sets every byte of `bytes` to zero, learning its hot pages afresh (see the module docs);
/// for memory reset again and again, keep a [`TouchedPages`] instead.
///
/// # Safety
/// `bytes` must lie in a private anonymous mapping (`mmap` with `MAP_PRIVATE |
/// MAP_ANONYMOUS`, without a copy-on-write image behind it): giving such pages back makes
/// them read as zeros. In a file or shared mapping they would read back the file's contents.
pub unsafe fn zero_touched(bytes: &mut [u8]) {
    // SAFETY: the caller's contract.
    unsafe { TouchedPages::new().zero(bytes) }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;

    thread_local! {
        /// `mincore`'s answer, one byte per page, reused from call to call.
        static RESIDENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    /// The kernel's page size (4 KiB where it cannot be read).
    pub(super) fn page_size() -> usize {
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

    /// Gives `bytes` (page-aligned, whole pages) back to the kernel.
    ///
    /// # Safety
    /// As [`super::zero_touched`].
    unsafe fn give_back(bytes: &mut [u8]) -> bool {
        // SAFETY: the range is borrowed mutably, so nothing else reads or writes it, and it
        // lies in a private anonymous mapping (the caller's contract): MADV_DONTNEED keeps the
        // mapping and makes its pages read back as zeros, which is all writing zeros would do.
        unsafe { libc::madvise(bytes.as_mut_ptr().cast(), bytes.len(), libc::MADV_DONTNEED) == 0 }
    }

    /// The runs of pages `resident` marks (bit 0), or `None` past `HOT_PAGES` pages.
    fn runs(resident: &[u8]) -> Option<Vec<(usize, usize)>> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut total = 0usize;
        for (i, r) in resident.iter().enumerate() {
            if r & 1 == 0 {
                continue;
            }
            total = total.saturating_add(1);
            if total > super::HOT_PAGES {
                return None;
            }
            match runs.last_mut() {
                Some((start, n)) if start.saturating_add(*n) == i => *n = n.saturating_add(1),
                _ => runs.push((i, 1)),
            }
        }
        Some(runs)
    }

    /// Learns which pages of `bytes` are resident; `false` when the kernel would not say.
    ///
    /// # Safety
    /// As [`super::zero_touched`].
    unsafe fn learn(pages: &mut super::TouchedPages, bytes: &mut [u8], count: usize) -> bool {
        RESIDENT.with(|resident| {
            let Ok(mut resident) = resident.try_borrow_mut() else {
                return false;
            };
            resident.clear();
            resident.resize(count, 0);
            // SAFETY: the range is page-aligned and mapped (the caller's contract); `resident`
            // has one byte per page of it, which is all mincore writes.
            let ok = unsafe {
                libc::mincore(
                    bytes.as_mut_ptr().cast(),
                    bytes.len(),
                    resident.as_mut_ptr().cast(),
                ) == 0
            };
            if ok {
                pages.hot = runs(&resident).unwrap_or_default();
            }
            ok
        })
    }

    /// The Linux path of [`super::TouchedPages::zero`]; `false` when it could not run
    /// (nothing is then guaranteed about `bytes`, which the caller clears by writing).
    ///
    /// # Safety
    /// As [`super::zero_touched`].
    pub(super) unsafe fn zero(pages: &mut super::TouchedPages, bytes: &mut [u8]) -> bool {
        let page = page_size();
        let len = bytes.len();
        if len == 0 || !(bytes.as_ptr() as usize).is_multiple_of(page) || !len.is_multiple_of(page)
        {
            return false;
        }
        let count = len.checked_div(page).unwrap_or(0);
        // SAFETY: the caller's contract.
        if pages.resets.is_multiple_of(super::RELEARN) && !unsafe { learn(pages, bytes, count) } {
            return false;
        }
        pages.resets = pages.resets.wrapping_add(1);
        // Hot runs are cleared in place; the runs between them (and after the last) are given
        // back. Runs past the end (learned on another length) are cut to it.
        let mut at = 0usize;
        for &(start, n) in pages.hot.iter().chain(std::iter::once(&(count, 0))) {
            let (start, end) = (start.min(count), start.saturating_add(n).min(count));
            if start < at {
                return false;
            }
            if start > at {
                let Some(gone) = bytes.get_mut(at.saturating_mul(page)..start.saturating_mul(page))
                else {
                    return false;
                };
                // SAFETY: the caller's contract, for this page-aligned part.
                if !unsafe { give_back(gone) } {
                    gone.fill(0);
                }
            }
            if let Some(hot) = bytes.get_mut(start.saturating_mul(page)..end.saturating_mul(page)) {
                hot.fill(0);
            }
            at = end;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private anonymous mapping for the tests (Linux), unmapped on drop.
    #[cfg(target_os = "linux")]
    struct Map(*mut u8, usize);

    #[cfg(target_os = "linux")]
    impl Map {
        fn new(len: usize) -> Map {
            // SAFETY: a fresh anonymous private mapping touches no existing memory.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(ptr, libc::MAP_FAILED);
            Map(ptr.cast(), len)
        }

        fn bytes(&mut self) -> &mut [u8] {
            // SAFETY: the mapping is `len` readable, writable bytes owned by `self`.
            unsafe { std::slice::from_raw_parts_mut(self.0, self.1) }
        }
    }

    #[cfg(target_os = "linux")]
    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly what `new` mapped.
            unsafe {
                libc::munmap(self.0.cast(), self.1);
            }
        }
    }

    /// Few pages written, many written, every page written: all read back as zeros.
    #[cfg(target_os = "linux")]
    #[test]
    fn every_byte_reads_zero_afterwards() {
        let page = linux::page_size();
        let pages = HOT_PAGES * 3;
        let mut map = Map::new(page * pages);
        for touched in [1, 3, HOT_PAGES, HOT_PAGES + 1, pages] {
            let bytes = map.bytes();
            for p in (0..pages).step_by((pages / touched).max(1)).take(touched) {
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

    /// Hot pages learned on one reset, other pages touched on later ones (before the next
    /// learning): every reset still clears every byte.
    #[cfg(target_os = "linux")]
    #[test]
    fn pages_touched_after_learning_are_cleared_too() {
        let page = linux::page_size();
        let pages = 40;
        let mut map = Map::new(page * pages);
        let mut touched = TouchedPages::new();
        for round in 0..(RELEARN as usize * 2 + 5) {
            let bytes = map.bytes();
            bytes[page * 3] = 1;
            bytes[page * (round % pages) + round % page] = 0xEE;
            if round % 7 == 0 {
                bytes[page * 20..page * 30].fill(0x11);
            }
            // SAFETY: `map` is a private anonymous mapping.
            unsafe { touched.zero(map.bytes()) };
            assert!(map.bytes().iter().all(|b| *b == 0), "round {round}");
        }
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
