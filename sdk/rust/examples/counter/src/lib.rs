//! counter: a u64 under "count". See docs/EXAMPLES.md for the exact behaviour.
//!   hook 0    constructor: count = 0
//!   entry 0   increment: count += 1 (absent = 0); store; event 1; return data;
//!             exit 2 if count is already u64::MAX
//!   entry 1   get: return data = count
//!   entry 2   add(amount u64): exit 1 if params are not 8 bytes, 2 on overflow
#![no_std]

use tos_sdk::storage;

const COUNT: &[u8] = b"count";

tos_sdk::entrypoint! {
    hook 0 => init,
    entry 0 => increment,
    entry 1 => get,
    entry 2 => add,
}

/// Stores the new count, fires event 1 with it and returns it as return data.
fn publish(count: u64) {
    let bytes = count.to_le_bytes();
    storage::set(COUNT, &bytes);
    tos_sdk::fire_event(1, &bytes);
    tos_sdk::set_return_data(&bytes);
}

fn init(_params: &[u8]) -> u64 {
    storage::set_u64(COUNT, 0);
    0
}

fn increment(_params: &[u8]) -> u64 {
    let Some(count) = storage::get_u64(COUNT).checked_add(1) else {
        return 2;
    };
    publish(count);
    0
}

fn get(_params: &[u8]) -> u64 {
    tos_sdk::return_u64(storage::get_u64(COUNT));
    0
}

fn add(params: &[u8]) -> u64 {
    let Ok(amount) = <[u8; 8]>::try_from(params) else {
        return 1;
    };
    let Some(sum) = storage::get_u64(COUNT).checked_add(u64::from_le_bytes(amount)) else {
        return 2;
    };
    publish(sum);
    0
}
