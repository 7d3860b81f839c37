//! vault: keeps native deposits per caller. See docs/EXAMPLES.md.
//! Storage: caller (32-byte key) = u64 total deposited (absent = 0).
//!   entry 0   deposit: amount = native deposit of this call; 1 if 0; 3 if the total would
//!             overflow; total += amount; event 1 = caller ++ amount; return data = total
//!   entry 1   withdraw: 1 if nothing recorded; delete the record; transfer the total back
//!             to the caller (2 if that fails); event 2 = caller ++ total; return data = total
//!   entry 2   balance_of(address[32]): return data = recorded total (0 if none); 1 if
//!             params are not 32 bytes
//! "caller" is tos_get_caller: the calling contract, or the transaction's source.
#![no_std]

use tos_sdk::{Hash, storage};

tos_sdk::entrypoint! {
    entry 0 => deposit,
    entry 1 => withdraw,
    entry 2 => balance_of,
}

fn publish(event: u64, caller: &Hash, amount: u64, total: u64) {
    let mut ev = [0u8; 40];
    ev[..32].copy_from_slice(caller);
    ev[32..].copy_from_slice(&amount.to_le_bytes());
    tos_sdk::fire_event(event, &ev);
    tos_sdk::return_u64(total);
}

fn deposit(_params: &[u8]) -> u64 {
    let amount = tos_sdk::call_deposit_native();
    if amount == 0 {
        return 1;
    }
    let caller = tos_sdk::caller();
    let Some(total) = storage::get_u64(&caller).checked_add(amount) else {
        return 3;
    };
    storage::set_u64(&caller, total);
    publish(1, &caller, amount, total);
    0
}

fn withdraw(_params: &[u8]) -> u64 {
    let caller = tos_sdk::caller();
    let total = storage::get_u64(&caller);
    if total == 0 {
        return 1;
    }
    storage::delete(&caller);
    if tos_sdk::transfer_native(&caller, total).is_err() {
        return 2;
    }
    publish(2, &caller, total, total);
    0
}

fn balance_of(params: &[u8]) -> u64 {
    if params.len() != 32 {
        return 1;
    }
    tos_sdk::return_u64(storage::get_u64(params));
    0
}
