//! The contract's private key-value storage (keys at most 256 bytes, values at most 64 KiB).
//!
//! Writes are part of the call: they are committed only if the call exits 0.

use crate::{len, ptr, sys};

/// Copies the value under `key` into `out` (min(value length, `out.len()`) bytes) and
/// returns the value's full length, or `None` when the key is absent. Gas is charged for
/// the whole value, whatever `out`'s length.
#[inline]
pub fn get(key: &[u8], out: &mut [u8]) -> Option<usize> {
    // SAFETY: `key` is readable, `out` writable for its length.
    let n = unsafe {
        sys::tos_storage_load(
            ptr(key),
            len(key),
            out.as_mut_ptr() as u64,
            out.len() as u64,
        )
    };
    (n != u64::MAX).then_some(n as usize)
}

/// Whether `key` holds a value (the value is read and charged, not copied).
#[inline]
pub fn contains(key: &[u8]) -> bool {
    get(key, &mut []).is_some()
}

/// Stores `value` under `key`.
#[inline]
pub fn set(key: &[u8], value: &[u8]) {
    // SAFETY: the host only reads both slices.
    unsafe { sys::tos_storage_store(ptr(key), len(key), ptr(value), len(value)) };
}

/// Deletes `key`; true if it held a value.
#[inline]
pub fn delete(key: &[u8]) -> bool {
    // SAFETY: the host only reads `key`.
    unsafe { sys::tos_storage_delete(ptr(key), len(key)) == 1 }
}

/// The u64 under `key` (8 bytes little-endian); an absent key, or a shorter value, reads
/// as 0 in the bytes it lacks (as `tos_storage_load_u64` of the C SDK).
#[inline]
pub fn get_u64(key: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    get(key, &mut buf);
    u64::from_le_bytes(buf)
}

/// Stores `value` under `key` as 8 bytes little-endian.
#[inline]
pub fn set_u64(key: &[u8], value: u64) {
    set(key, &value.to_le_bytes());
}

/// The 32-byte value under `key`, when it holds exactly 32 bytes.
#[inline]
pub fn get_hash(key: &[u8]) -> Option<crate::Hash> {
    let mut out = [0u8; 32];
    match get(key, &mut out) {
        Some(32) => Some(out),
        _ => None,
    }
}
