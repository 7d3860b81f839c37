//! The kernels of `kernels/kernels.c` compiled natively by clang with the flags of the
//! contract builds (`-O2`), linked into this crate: the 1.0 of the suite's ratios.

/// Bytes of scratch memory a kernel may use (`KERNEL_SCRATCH_SIZE` in kernels.c: the TBPF
/// heap region's size).
pub const SCRATCH_SIZE: usize = 32 * 1024;

/// Scratch memory for [`run`]: 32 KiB, 8-byte aligned, as the TBPF heap region is.
#[repr(C, align(8))]
#[derive(Debug)]
pub struct Scratch(pub [u8; SCRATCH_SIZE]);

impl Scratch {
    /// Zeroed scratch memory, on the heap.
    pub fn new() -> Box<Scratch> {
        Box::new(Scratch([0; SCRATCH_SIZE]))
    }
}

/// The checksum `kernel_run` returns for an unknown id or an n out of range.
pub const BAD_ARGS: u64 = u64::MAX;

#[cfg(tos_bench_native)]
mod ffi {
    unsafe extern "C" {
        /// `uint64_t kernel_run(uint64_t id, uint64_t n, uint8_t *scratch)` of kernels.c.
        pub(super) fn kernel_run(id: u64, n: u64, scratch: *mut u8) -> u64;
    }
}

/// Whether this build has the native kernels (clang found, not a cross build).
pub const AVAILABLE: bool = cfg!(tos_bench_native);

/// Runs kernel `id` with `n` natively; `None` when this build has no native kernels.
pub fn run(id: u32, n: u32, scratch: &mut Scratch) -> Option<u64> {
    #[cfg(tos_bench_native)]
    {
        // SAFETY: kernel_run reads and writes only the first KERNEL_SCRATCH_SIZE (32 KiB)
        // bytes of `scratch` (every kernel bounds its buffers by it, and rejects an n that
        // would exceed it), which `Scratch` provides, 8-byte aligned, borrowed exclusively for
        // the call; it touches no other memory, keeps no pointer and calls nothing.
        Some(unsafe { ffi::kernel_run(u64::from(id), u64::from(n), scratch.0.as_mut_ptr()) })
    }
    #[cfg(not(tos_bench_native))]
    {
        let _ = (id, n, scratch);
        None
    }
}
