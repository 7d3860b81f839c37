//! router: forwards one call to another contract. See docs/EXAMPLES.md.
//!   entry 0   params = callee (32) | entry u16 | amount u64 | gas u64 | callee params (rest)
//!             Calls entry `entry` of `callee` with the callee params and gas limit `gas`
//!             (0 = all gas left), depositing `amount` of the native asset from the router's
//!             own balance (0 = no deposit). Fires event 1 with the 8-byte result; sets its
//!             return data to the callee's (empty if none).
//!             exit 0 if the result is 0, else 1; 2 if params are shorter than 50 bytes;
//!             3 if the descriptor would exceed 32 KiB (callee params over 32,680 bytes:
//!             nothing is called) or the callee's return data exceeds 32 KiB.
//! The descriptor and the return data go through one 32 KiB buffer, `tos_sdk::scratch()`:
//! the TBPF heap, or a static buffer on wasm.
#![no_std]

use tos_sdk::{CallBuilder, Hash, SCRATCH_SIZE, call};

/// callee 32, entry 2, amount 8, gas 8.
const HEADER: usize = 50;
const MAX_CALLEE_PARAMS: usize = SCRATCH_SIZE - call::DESC_HEADER - call::DESC_DEPOSIT;

tos_sdk::entrypoint! {
    entry 0 => route,
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(v)
}

fn route(params: &[u8]) -> u64 {
    if params.len() < HEADER {
        return 2;
    }
    let (head, callee_params) = params.split_at(HEADER);
    let callee: &Hash = head[..32].try_into().unwrap_or(&[0; 32]);
    let entry = u16::from_le_bytes([head[32], head[33]]);
    let amount = le_u64(&head[34..42]);
    let gas = le_u64(&head[42..50]);
    if callee_params.len() > MAX_CALLEE_PARAMS {
        return 3;
    }

    // SAFETY: the only borrow of the scratch buffer in this call.
    let buf = unsafe { tos_sdk::scratch() };
    let mut desc = CallBuilder::new(buf, callee, entry, gas);
    if amount != 0 {
        desc = desc.deposit_native(amount);
    }
    let result = desc.params(callee_params).call();

    tos_sdk::fire_event(1, &result.raw().to_le_bytes());

    // SAFETY: the builder (the previous borrow) is gone.
    let buf = unsafe { tos_sdk::scratch() };
    let n = tos_sdk::return_data(buf).unwrap_or(0);
    if n > SCRATCH_SIZE {
        return 3;
    }
    tos_sdk::set_return_data(&buf[..n]);
    if result.is_success() { 0 } else { 1 }
}
