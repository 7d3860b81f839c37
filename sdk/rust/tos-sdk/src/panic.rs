//! The default panic handler (feature `panic-handler`): aborts the call through
//! `tos_abort` with `panicked at FILE:LINE`.
//!
//! It formats by hand instead of through `core::fmt`: `core::fmt` adds ~11 KB to a TBPF
//! module and brings functions of six arguments, which TBPF cannot call.

/// Copies `src` into `buf` at `*at`, as far as it fits.
#[inline(always)]
fn put(buf: &mut [u8], at: &mut usize, src: &[u8]) {
    for &b in src {
        if let Some(slot) = buf.get_mut(*at) {
            *slot = b;
            *at += 1;
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut buf = [0u8; 160];
    let mut at = 0;
    put(&mut buf, &mut at, b"panicked at ");
    match info.location() {
        Some(loc) => {
            put(&mut buf, &mut at, loc.file().as_bytes());
            put(&mut buf, &mut at, b":");
            let mut digits = [0u8; 10];
            let mut line = loc.line();
            let mut i = digits.len();
            loop {
                i -= 1;
                digits[i] = b'0' + (line % 10) as u8;
                line /= 10;
                if line == 0 || i == 0 {
                    break;
                }
            }
            put(&mut buf, &mut at, &digits[i..]);
        }
        None => put(&mut buf, &mut at, b"an unknown place"),
    }
    crate::abort(&buf[..at])
}
