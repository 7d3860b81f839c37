//! `tos-sdk`: write TOS smart contracts in Rust, for the TBPF engine
//! (`bpfel-unknown-none`) and the wasm engine (`wasm32v1-none`), built with
//! `tosvm build --all` and Debian's own Rust toolchain (docs/RUST.md).
//!
//! ```ignore
//! #![no_std]
//!
//! use tos_sdk::{entrypoint, storage};
//!
//! tos_sdk::entrypoint! {
//!     hook 0 => init,        // the constructor, run once at deploy
//!     entry 0 => increment,
//!     entry 2 => add,
//! }
//!
//! fn init(_params: &[u8]) -> u64 {
//!     storage::set_u64(b"count", 0);
//!     0
//! }
//!
//! fn increment(_params: &[u8]) -> u64 {
//!     let Some(count) = storage::get_u64(b"count").checked_add(1) else { return 2 };
//!     storage::set_u64(b"count", count);
//!     tos_sdk::fire_event(1, &count.to_le_bytes());
//!     tos_sdk::return_u64(count);
//!     0 // the exit code: 0 commits, anything else rolls the call back
//! }
//!
//! fn add(params: &[u8]) -> u64 {
//!     let Ok(amount) = <[u8; 8]>::try_from(params) else { return 1 };
//!     let Some(sum) = storage::get_u64(b"count").checked_add(u64::from_le_bytes(amount)) else {
//!         return 2;
//!     };
//!     storage::set_u64(b"count", sum);
//!     tos_sdk::return_u64(sum);
//!     0
//! }
//! ```
//!
//! # Concepts
//! - **Entries and hooks**: [`entrypoint!`] maps ids to `fn(&[u8]) -> u64` handlers. A
//!   handler gets the call's params (without the 8-byte input header) and returns the exit
//!   code. On TBPF each becomes `entry_N(params_ptr, len)`, called by the dispatcher
//!   `tbpf-link` generates; on wasm an exported `entry_N() -> i64` that reads the input.
//! - **Syscalls**: [`sys`] has every syscall of docs/ABI.md under its ABI name; the
//!   functions of this crate wrap them with slices, arrays and typed results.
//! - **ABI v2** ([`call`], [`caller`], [`call_deposit`], [`abort`], [`hash`],
//!   [`ed25519_verify`], [`block_timestamp`], [`return_data`]) deploys only where the network
//!   has activated the feature `abi_v2` (devnet from genesis).
//! - **Panics**: with the default feature `panic-handler`, a panic aborts the call through
//!   `tos_abort` with `panicked at FILE:LINE` (an ABI v2 syscall, imported only when the
//!   contract can panic). Without it, provide a `#[panic_handler]`.
//! - **Memory**: no allocator. TBPF has no writable statics (`static mut`, atomics and
//!   `Cell` statics are refused by the linker): keep state on the stack (4 KiB per frame) or
//!   in [`scratch`], the 32 KiB TBPF heap.
//! - **TBPF limits** (docs/RUST.md): no floats, no function with more than five arguments
//!   that LLVM does not inline (a slice counts twice); `tosvm build` names the function.

// `cargo test` runs the pure parts (params, the call builder) on the host, with std.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

pub mod call;
mod entry;
#[cfg(all(feature = "panic-handler", not(test)))]
mod panic;
pub mod params;
pub mod storage;
pub mod sys;

pub use call::{CALL_REFUSED, CALL_TRAPPED, CallBuilder, CallResult};

/// A 32-byte hash: contract address, account key, transaction or block hash, asset id.
pub type Hash = [u8; 32];

/// The native TOS asset: 32 zero bytes.
pub const NATIVE: Hash = [0; 32];

/// Size of the input header that precedes the params (kind, reserved, id, params length).
pub const INPUT_HEADER_SIZE: usize = 8;

/// The pointer of a slice as a syscall argument.
#[inline(always)]
fn ptr(bytes: &[u8]) -> u64 {
    bytes.as_ptr() as u64
}

/// The length of a slice as a syscall argument.
#[inline(always)]
fn len(bytes: &[u8]) -> u64 {
    bytes.len() as u64
}

/// Calls a syscall that writes 32 bytes and returns them.
#[inline(always)]
fn hash_out(f: unsafe extern "C" fn(u64) -> u64) -> Hash {
    let mut out = [0u8; 32];
    // SAFETY: `out` is 32 writable bytes, which is what these syscalls write.
    unsafe { f(out.as_mut_ptr() as u64) };
    out
}

/// Logs a message (at most 1 KiB, 64 logs per call; more traps).
#[inline]
pub fn log(msg: &[u8]) {
    // SAFETY: the host only reads `msg`.
    unsafe { sys::tos_log(ptr(msg), len(msg)) };
}

/// Sets the call's return data (at most 64 KiB); the last call wins.
#[inline]
pub fn set_return_data(data: &[u8]) {
    // SAFETY: the host only reads `data`.
    unsafe { sys::tos_set_return_data(ptr(data), len(data)) };
}

/// Sets the call's return data to a u64, 8 bytes little-endian.
#[inline]
pub fn return_u64(value: u64) {
    set_return_data(&value.to_le_bytes());
}

/// Fires event `id` with `data` (at most 4 KiB, 64 events per call).
#[inline]
pub fn fire_event(id: u64, data: &[u8]) {
    // SAFETY: the host only reads `data`.
    unsafe { sys::tos_fire_event(id, ptr(data), len(data)) };
}

/// This contract's address.
#[inline]
pub fn contract_hash() -> Hash {
    hash_out(sys::tos_get_contract_hash)
}

/// The transaction's hash.
#[inline]
pub fn tx_hash() -> Hash {
    hash_out(sys::tos_get_tx_hash)
}

/// The transaction's signer (the same in every frame of a chain of calls).
#[inline]
pub fn tx_source() -> Hash {
    hash_out(sys::tos_get_tx_source)
}

/// The block's hash.
#[inline]
pub fn block_hash() -> Hash {
    hash_out(sys::tos_get_block_hash)
}

/// The block's height.
#[inline]
pub fn block_height() -> u64 {
    // SAFETY: no pointer.
    unsafe { sys::tos_get_block_height() }
}

/// ABI v2: the block's timestamp, seconds since the Unix epoch.
#[inline]
pub fn block_timestamp() -> u64 {
    // SAFETY: no pointer.
    unsafe { sys::tos_get_block_timestamp() }
}

/// ABI v2: the caller: the calling contract, or the transaction's source for a top-level
/// call.
#[inline]
pub fn caller() -> Hash {
    hash_out(sys::tos_get_caller)
}

/// This contract's balance of `asset`.
#[inline]
pub fn balance(asset: &Hash) -> u64 {
    let mut out = [0u8; 8];
    // SAFETY: `asset` is 32 readable bytes, `out` 8 writable ones.
    unsafe { sys::tos_get_balance(asset.as_ptr() as u64, out.as_mut_ptr() as u64) };
    u64::from_le_bytes(out)
}

/// This contract's balance of the native asset.
#[inline]
pub fn balance_native() -> u64 {
    balance(&NATIVE)
}

/// The balance is too low for a transfer or a burn; nothing moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceTooLow;

/// Moves `amount` of `asset` from this contract's balance to `dest`.
#[inline]
pub fn transfer(dest: &Hash, amount: u64, asset: &Hash) -> Result<(), BalanceTooLow> {
    // SAFETY: both pointers are 32 readable bytes.
    match unsafe { sys::tos_transfer(dest.as_ptr() as u64, amount, asset.as_ptr() as u64) } {
        0 => Ok(()),
        _ => Err(BalanceTooLow),
    }
}

/// Moves `amount` of the native asset from this contract's balance to `dest`.
#[inline]
pub fn transfer_native(dest: &Hash, amount: u64) -> Result<(), BalanceTooLow> {
    transfer(dest, amount, &NATIVE)
}

/// Burns `amount` of this contract's own balance of `asset`.
#[inline]
pub fn burn(asset: &Hash, amount: u64) -> Result<(), BalanceTooLow> {
    // SAFETY: `asset` is 32 readable bytes.
    match unsafe { sys::tos_burn(asset.as_ptr() as u64, amount) } {
        0 => Ok(()),
        _ => Err(BalanceTooLow),
    }
}

/// Creates the asset `name` (1–64 bytes) with `decimals` (at most 18), owned by this
/// contract; returns its id, or `None` if it already exists.
#[inline]
pub fn asset_create(name: &[u8], decimals: u8) -> Option<Hash> {
    let mut out = [0u8; 32];
    // SAFETY: `name` is readable, `out` 32 writable bytes.
    let r = unsafe {
        sys::tos_asset_create(
            ptr(name),
            len(name),
            u64::from(decimals),
            out.as_mut_ptr() as u64,
        )
    };
    (r == 0).then_some(out)
}

/// Mints `amount` of an asset this contract created, to its own balance. False when this
/// contract is not its creator or the supply would overflow.
#[inline]
pub fn asset_mint(asset: &Hash, amount: u64) -> bool {
    // SAFETY: `asset` is 32 readable bytes.
    unsafe { sys::tos_asset_mint(asset.as_ptr() as u64, amount) == 0 }
}

/// ABI v2: the amount of `asset` deposited with this call (0 if none). Deposits are
/// credited before the contract runs and returned if the call fails.
#[inline]
pub fn call_deposit(asset: &Hash) -> u64 {
    // SAFETY: `asset` is 32 readable bytes.
    unsafe { sys::tos_get_call_deposit(asset.as_ptr() as u64) }
}

/// ABI v2: the amount of the native asset deposited with this call.
#[inline]
pub fn call_deposit_native() -> u64 {
    call_deposit(&NATIVE)
}

/// ABI v2: aborts the call: it traps with `msg` (its first 1 KiB, shown in the outcome);
/// everything it did is rolled back and its gas is charged.
#[inline]
pub fn abort(msg: &[u8]) -> ! {
    // SAFETY: the host only reads `msg`; tos_abort does not return.
    unsafe { sys::tos_abort(ptr(msg), len(msg)) };
    trap()
}

/// Ends the call with a trap and no message (ABI v1 only; prefer [`abort`]). On wasm this
/// is `unreachable`; on TBPF a log from an address no module maps, which the host refuses.
#[inline]
pub fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    loop {
        // SAFETY: address 8 is outside every mapped region: the host traps the call
        // without touching memory.
        unsafe { sys::tos_log(8, 1) };
    }
}

/// ABI v2: the hash algorithms of [`hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum HashAlgo {
    /// BLAKE3 (algo 0).
    Blake3 = 0,
    /// SHA-256 (algo 1).
    Sha256 = 1,
    /// Keccak-256 (algo 2).
    Keccak256 = 2,
}

/// ABI v2: the 32-byte digest of `data` (at most 1 MiB).
#[inline]
pub fn hash(algo: HashAlgo, data: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    // SAFETY: `data` is readable, `out` 32 writable bytes.
    unsafe { sys::tos_hash(algo as u64, ptr(data), len(data), out.as_mut_ptr() as u64) };
    out
}

/// ABI v2: whether `sig` is a valid ed25519 signature of `msg` (at most 1 MiB) under
/// `pubkey` (strict RFC 8032 rules).
#[inline]
pub fn ed25519_verify(pubkey: &Hash, msg: &[u8], sig: &[u8; 64]) -> bool {
    // SAFETY: the host only reads the three buffers.
    unsafe {
        sys::tos_ed25519_verify(
            pubkey.as_ptr() as u64,
            ptr(msg),
            len(msg),
            sig.as_ptr() as u64,
        ) == 0
    }
}

/// ABI v2: copies the return data of this frame's last [`call`](CallBuilder::call) into
/// `out` (min(len, `out.len()`) bytes) and returns its full length; `None` when there was
/// no call yet or the last one was refused or trapped.
#[inline]
pub fn return_data(out: &mut [u8]) -> Option<usize> {
    // SAFETY: `out` is writable for its length.
    let n = unsafe { sys::tos_get_return_data(out.as_mut_ptr() as u64, out.len() as u64) };
    (n != u64::MAX).then_some(n as usize)
}

/// ABI v2: the last call's return data as a u64, when it is exactly 8 bytes.
#[inline]
pub fn return_data_u64() -> Option<u64> {
    let mut buf = [0u8; 8];
    match return_data(&mut buf) {
        Some(8) => Some(u64::from_le_bytes(buf)),
        _ => None,
    }
}

/// Size of [`scratch`]: 32 KiB.
pub const SCRATCH_SIZE: usize = 32 * 1024;

/// A 32 KiB scratch buffer for large data (call descriptors, return data): the TBPF heap
/// region (`0x3_0000_0000`), or a static buffer on wasm.
///
/// # Safety
/// Every call returns the same memory: the caller must not hold two of these borrows at
/// once (one per entry, or drop the first before asking again).
#[inline]
pub unsafe fn scratch() -> &'static mut [u8] {
    #[cfg(target_arch = "wasm32")]
    {
        static mut SCRATCH: [u8; SCRATCH_SIZE] = [0; SCRATCH_SIZE];
        // SAFETY: wasm contracts are single-threaded and the caller promises not to hold
        // two borrows at once.
        unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // SAFETY: TBPF maps a 32 KiB writable heap at 0x3_0000_0000 for every call; the
        // caller promises not to hold two borrows at once.
        unsafe { core::slice::from_raw_parts_mut(0x3_0000_0000u64 as *mut u8, SCRATCH_SIZE) }
    }
}

#[doc(hidden)]
pub mod __private {
    pub use crate::entry::*;
}
