//! token: a fungible token kept in contract storage. See docs/EXAMPLES.md.
//! Storage: "owner" = 32-byte owner, "supply" = u64, "bal" ++ account = u64.
//!   hook 0    constructor: owner = caller, supply = 0
//!   entry 0   mint(to[32], amount u64)      1 bad length, 2 not owner, 4 overflow
//!   entry 1   transfer(to[32], amount u64)  1 bad length, 3 insufficient, 4 overflow
//!   entry 2   balance_of(account[32])       1 bad length
//!   entry 3   supply()
//! Every check happens before the first write.
#![no_std]

use tos_sdk::{Hash, storage};

const OWNER: &[u8] = b"owner";
const SUPPLY: &[u8] = b"supply";

tos_sdk::entrypoint! {
    hook 0 => init,
    entry 0 => mint,
    entry 1 => transfer,
    entry 2 => balance_of,
    entry 3 => supply,
}

/// The storage key of an account's balance: "bal" ++ account.
fn bal_key(account: &Hash) -> [u8; 35] {
    let mut key = [0u8; 35];
    key[..3].copy_from_slice(b"bal");
    key[3..].copy_from_slice(account);
    key
}

fn bal_get(account: &Hash) -> u64 {
    storage::get_u64(&bal_key(account))
}

fn bal_set(account: &Hash, value: u64) {
    storage::set_u64(&bal_key(account), value);
}

/// `to ++ amount` (40 bytes) of mint and transfer.
fn to_amount(params: &[u8]) -> Option<(&Hash, u64)> {
    let params: &[u8; 40] = params.try_into().ok()?;
    let (to, amount) = params.split_at(32);
    Some((
        to.try_into().ok()?,
        u64::from_le_bytes(amount.try_into().ok()?),
    ))
}

fn init(_params: &[u8]) -> u64 {
    storage::set(OWNER, &tos_sdk::tx_source());
    storage::set_u64(SUPPLY, 0);
    0
}

fn mint(params: &[u8]) -> u64 {
    let Some((to, amount)) = to_amount(params) else {
        return 1;
    };
    if storage::get_hash(OWNER) != Some(tos_sdk::tx_source()) {
        return 2;
    }
    let (Some(balance), Some(supply)) = (
        bal_get(to).checked_add(amount),
        storage::get_u64(SUPPLY).checked_add(amount),
    ) else {
        return 4;
    };
    bal_set(to, balance);
    storage::set_u64(SUPPLY, supply);
    tos_sdk::fire_event(1, params);
    0
}

fn transfer(params: &[u8]) -> u64 {
    let Some((to, amount)) = to_amount(params) else {
        return 1;
    };
    let from = tos_sdk::tx_source();
    let from_balance = bal_get(&from);
    let Some(from_left) = from_balance.checked_sub(amount) else {
        return 3;
    };
    // bal[from] -= amount happens first, so a transfer to oneself sees the reduced balance.
    let to_balance = if from == *to { from_left } else { bal_get(to) };
    let Some(to_new) = to_balance.checked_add(amount) else {
        return 4;
    };
    bal_set(&from, from_left);
    bal_set(to, to_new);
    let mut event = [0u8; 72];
    event[..32].copy_from_slice(&from);
    event[32..].copy_from_slice(params);
    tos_sdk::fire_event(2, &event);
    0
}

fn balance_of(params: &[u8]) -> u64 {
    let Ok(account) = <&Hash>::try_from(params) else {
        return 1;
    };
    tos_sdk::return_u64(bal_get(account));
    0
}

fn supply(_params: &[u8]) -> u64 {
    tos_sdk::return_u64(storage::get_u64(SUPPLY));
    0
}
