//! The writable memory of a call (stack, heap, room for its input), taken from a per-thread pool and handed
//! back zeroed at a cost proportional to what the call touched.
//!
//! A fresh call needs `stack_size + heap_size` bytes of zeros (256 KiB + 32 KiB by default).
//! Allocating and zeroing them on every call was half of a warm trivial call. Instead each
//! thread keeps a few private anonymous mappings; when a call ends, the mapping is cleared by
//! `tos_engine_api::pages::zero_touched`: the pages the call touched are written with zeros
//! (or, past a few dozen, all pages are given back to the kernel). So a call that used one
//! page of stack pays for one page, and no call can observe anything an earlier one wrote.
//! Nested calls (ABI v2) take their own arena from the same pool. Where mappings are
//! unavailable (not unix, or `mmap` failed) the memory is a zeroed heap allocation, as before.
//! An arena may end in a scratch part that is never cleared (see [`Arena`]).

use std::cell::RefCell;

use solana_rbpf::aligned_memory::AlignedMemory;
use solana_rbpf::ebpf;

/// Arenas of one size kept per thread once released; more are unmapped.
const MAX_POOLED: usize = 16;

#[cfg(unix)]
mod mapping {
    use std::ptr::NonNull;

    /// A private anonymous read-write mapping of `len` bytes.
    pub(super) struct Mapping {
        ptr: NonNull<u8>,
        len: usize,
    }

    impl Mapping {
        /// Maps `len` bytes of zeros, or `None` when the kernel refuses.
        pub(super) fn new(len: usize) -> Option<Mapping> {
            if len == 0 {
                return None;
            }
            // SAFETY: an anonymous private mapping at an address the kernel chooses touches no
            // existing memory; the result is checked before use.
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
            if ptr == libc::MAP_FAILED {
                return None;
            }
            NonNull::new(ptr.cast::<u8>()).map(|ptr| Mapping { ptr, len })
        }

        pub(super) fn len(&self) -> usize {
            self.len
        }

        /// Zeroes the first `zeroed` bytes of the mapping again, at a cost that follows the
        /// pages the last user touched.
        pub(super) fn reset(&mut self, zeroed: usize) {
            let zeroed = zeroed.min(self.len);
            // SAFETY: the mapping is `len >= zeroed` readable and writable bytes, alive as
            // long as `self`, and `&mut self` makes this the only reference to them.
            let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), zeroed) };
            // SAFETY: the mapping is private and anonymous (`new`).
            unsafe { tos_engine_api::pages::zero_touched(bytes) };
        }

        pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
            // SAFETY: the mapping is `len` readable and writable bytes, alive as long as
            // `self`, and `&mut self` makes this the only reference to them.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the range `new` mapped; no reference to it outlives
            // `self`. A failure leaks the range, which is all that can be done in a drop.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
            }
        }
    }

    // SAFETY: the mapping is plain memory owned by one value at a time; nothing in it is tied
    // to the thread that mapped it.
    unsafe impl Send for Mapping {}
}

#[cfg(not(unix))]
mod mapping {
    /// No mappings here: every call gets a zeroed heap allocation.
    pub(super) struct Mapping(std::convert::Infallible);

    impl Mapping {
        pub(super) fn new(_len: usize) -> Option<Mapping> {
            None
        }
        pub(super) fn len(&self) -> usize {
            match self.0 {}
        }
        pub(super) fn reset(&mut self, _zeroed: usize) {
            match self.0 {}
        }
        pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
            match self.0 {}
        }
    }
}

use mapping::Mapping;

thread_local! {
    /// Released mappings, each with the length of its prefix that is zero.
    static POOL: RefCell<Vec<(Mapping, usize)>> = const { RefCell::new(Vec::new()) };
}

/// The writable memory of one call, returned to the pool when dropped: `zeroed` bytes of
/// zeros, then `scratch` bytes holding whatever an earlier call left (the call writes them
/// before the guest can read them: the copy of its input, in a region exactly as long).
pub(crate) struct Arena {
    /// A pooled mapping, or `None` when the memory is on the heap.
    mapped: Option<Mapping>,
    /// The length of the prefix that is zero when taken.
    zeroed: usize,
    /// The heap allocation when no mapping could be had.
    heap: Option<AlignedMemory<{ ebpf::HOST_ALIGN }>>,
}

impl Arena {
    /// `zeroed` bytes of zeros followed by `scratch` bytes of anything: a pooled mapping of
    /// that size if the thread has one, else a new one, else the heap.
    pub(crate) fn take(zeroed: usize, scratch: usize) -> Arena {
        let len = zeroed.saturating_add(scratch);
        let pooled = POOL
            .try_with(|pool| {
                let mut pool = pool.borrow_mut();
                let i = pool
                    .iter()
                    .position(|(m, z)| m.len() == len && *z >= zeroed)?;
                Some(pool.swap_remove(i).0)
            })
            .ok()
            .flatten();
        match pooled.or_else(|| Mapping::new(len)) {
            Some(m) => Arena {
                mapped: Some(m),
                zeroed,
                heap: None,
            },
            None => Arena {
                mapped: None,
                zeroed,
                heap: Some(AlignedMemory::zero_filled(len)),
            },
        }
    }

    /// The bytes: the `zeroed` prefix is all zero when taken.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        match (&mut self.mapped, &mut self.heap) {
            (Some(m), _) => m.as_mut_slice(),
            (None, Some(h)) => h.as_slice_mut(),
            (None, None) => &mut [],
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let Some(mut m) = self.mapped.take() else {
            return;
        };
        m.reset(self.zeroed);
        let (len, zeroed) = (m.len(), self.zeroed);
        // Kept when the pool has room; otherwise (or when the thread is exiting) dropped with
        // the closure, which unmaps it.
        let _ = POOL.try_with(move |pool| {
            let mut pool = pool.borrow_mut();
            if pool.iter().filter(|(p, _)| p.len() == len).count() < MAX_POOLED {
                pool.push((m, zeroed));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_arena_comes_back_zeroed_and_reused() {
        let len = 80 * 4096;
        // A few pages written (cleared in place), then every page (given back); each on a
        // thread of its own, so the pool starts empty.
        for all in [false, true] {
            std::thread::spawn(move || round(len, all)).join().unwrap();
        }
        fn round(len: usize, all: bool) {
            let first = {
                let mut a = Arena::take(len, 0);
                let bytes = a.as_mut_slice();
                assert!(bytes.iter().all(|b| *b == 0));
                if all {
                    bytes.fill(0xAB);
                } else {
                    for i in [0, 4095, 4096, 8192, 9000, len - 1] {
                        bytes[i] = 0xAB;
                    }
                }
                bytes.as_ptr() as usize
            };
            let mut again = Arena::take(len, 0);
            let bytes = again.as_mut_slice();
            if cfg!(unix) {
                assert_eq!(
                    bytes.as_ptr() as usize,
                    first,
                    "the pooled mapping is reused"
                );
            }
            assert!(
                bytes.iter().all(|b| *b == 0),
                "and nothing of the last call is left"
            );
            // A nested call on the same thread gets its own arena.
            let mut nested = Arena::take(len, 0);
            assert_ne!(nested.as_mut_slice().as_ptr(), bytes.as_ptr());
        }
    }
}
