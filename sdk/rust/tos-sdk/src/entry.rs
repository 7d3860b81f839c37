//! [`entrypoint!`](crate::entrypoint) and what its expansion calls.

/// Defines the contract's entries and hooks: each id maps to a handler
/// `fn(&[u8]) -> u64` that receives the call's params and returns the exit code
/// (0 = success).
///
/// ```ignore
/// tos_sdk::entrypoint! {
///     hook 0 => init,      // hook 0 is the constructor, run once at deploy
///     entry 0 => increment,
///     entry 1 => get,
/// }
/// ```
///
/// Ids are literals: entries 0..=65535, hooks 0..=255. Each pair becomes, in an anonymous
/// `const`, an `extern "C"` function exported as `entry_N` / `hook_N`:
/// - **TBPF**: `entry_N(params_ptr, len) -> u64`, called by the dispatcher that `tbpf-link`
///   generates; the params are a slice of the read-only input.
/// - **wasm**: `entry_N() -> i64`, which reads the input with `tos_get_input` into a 1 KiB
///   stack buffer (into freshly grown memory when larger), checks the 8-byte header and
///   passes the params.
///
/// Calls to an id the module does not define are refused by the host without running.
#[macro_export]
macro_rules! entrypoint {
    ($($kind:ident $id:literal => $handler:path),* $(,)?) => {
        $($crate::__tos_export!($kind $id $handler);)*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tos_export {
    (entry $id:literal $handler:path) => {
        const _: () = {
            const _ID: u16 = $id;
    $crate::__tos_export!(@fn ::core::concat!("entry_", $id), $handler);
        };
    };
    (hook $id:literal $handler:path) => {
        const _: () = {
            const _ID: u8 = $id;
    $crate::__tos_export!(@fn ::core::concat!("hook_", $id), $handler);
        };
    };
    (@fn $name:expr, $handler:path) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[unsafe(export_name = $name)]
        extern "C" fn __tos_entry(params: *const u8, len: u64) -> u64 {
            // SAFETY: the dispatcher passes the params inside the call's input, which stays
            // mapped (read-only) for the whole call.
            let params = unsafe { $crate::__private::params_slice(params, len) };
            $handler(params)
        }
        #[cfg(target_arch = "wasm32")]
        #[unsafe(export_name = $name)]
        extern "C" fn __tos_entry() -> i64 {
            $crate::__private::wasm_run($handler) as i64
        }
    };
    ($other:ident $id:literal $handler:path) => {
        ::core::compile_error!(::core::concat!(
            "entrypoint!: `",
            stringify!($other),
            "` is neither `entry` nor `hook`"
        ));
    };
}

/// The params slice of a TBPF entry.
///
/// # Safety
/// `ptr` must be valid for `len` bytes for the rest of the call.
#[inline(always)]
pub unsafe fn params_slice(ptr: *const u8, len: u64) -> &'static [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(ptr, len as usize) }
}

/// Reads the call input and runs `handler` on its params (wasm).
#[cfg(target_arch = "wasm32")]
#[inline(always)]
pub fn wasm_run(handler: fn(&[u8]) -> u64) -> u64 {
    const BUF: usize = 1024;
    let mut buf = core::mem::MaybeUninit::<[u8; BUF]>::uninit();
    let mut at = buf.as_mut_ptr() as *mut u8;
    // SAFETY: `at` is BUF writable bytes; the host copies at most BUF.
    let mut n = unsafe { crate::sys::tos_get_input(at as u64, BUF as u64) } as usize;
    if n > BUF {
        let pages = n.div_ceil(65536);
        let old = core::arch::wasm32::memory_grow(0, pages);
        if old == usize::MAX {
            core::arch::wasm32::unreachable();
        }
        at = (old * 65536) as *mut u8;
        // SAFETY: the pages just grown are ours and hold n bytes.
        n = unsafe { crate::sys::tos_get_input(at as u64, n as u64) } as usize;
    }
    if n < crate::INPUT_HEADER_SIZE {
        core::arch::wasm32::unreachable();
    }
    // SAFETY: the host wrote n bytes at `at` (n <= the room there).
    let input = unsafe { core::slice::from_raw_parts(at, n) };
    let len = u32::from_le_bytes([input[4], input[5], input[6], input[7]]) as usize;
    let params = &input[crate::INPUT_HEADER_SIZE..];
    handler(&params[..len.min(params.len())])
}
