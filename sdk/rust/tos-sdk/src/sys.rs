//! The raw syscalls of the TOS contract ABI (docs/ABI.md), under their ABI names.
//!
//! Every argument and result is a `u64`; pointers are guest addresses (`ptr as u64`).
//! On TBPF they are undefined functions that `tbpf-link` turns into syscall imports; on
//! wasm32 they are imports of module `env`. Prefer the safe wrappers of the crate root:
//! these functions are `unsafe` because the host reads and writes through the pointers
//! (a bad pointer traps the call, it never corrupts the host, but it may overwrite the
//! contract's own memory).
//!
//! The first 17 form ABI v1 (feature `abi_v1`, live everywhere); the last 8 form ABI v2
//! (feature `abi_v2`): a module importing one of those deploys only where the network has
//! activated it (devnet from genesis).

macro_rules! syscalls {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident),*);)*) => {
        #[cfg_attr(target_arch = "wasm32", link(wasm_import_module = "env"))]
        unsafe extern "C" {
            $($(#[$doc])* pub fn $name($($arg: u64),*) -> u64;)*
        }
    };
}

syscalls! {
    /// Logs `msg_len` bytes at `msg_ptr` (at most 1 KiB). Returns 0.
    fn tos_log(msg_ptr, msg_len);
    /// Copies min(len, cap) bytes of the call input to `out_ptr`; returns the input's length.
    fn tos_get_input(out_ptr, cap);
    /// Sets the call's return data (at most 64 KiB). Returns 0.
    fn tos_set_return_data(ptr, len);
    /// Writes this contract's 32-byte address. Returns 0.
    fn tos_get_contract_hash(out_ptr);
    /// Writes the transaction's 32-byte hash. Returns 0.
    fn tos_get_tx_hash(out_ptr);
    /// Writes the transaction's 32-byte signer. Returns 0.
    fn tos_get_tx_source(out_ptr);
    /// Writes the block's 32-byte hash. Returns 0.
    fn tos_get_block_hash(out_ptr);
    /// Returns the block height.
    fn tos_get_block_height();
    /// Writes the contract's balance of the asset (32 bytes at `asset_ptr`) as a u64 at
    /// `out_ptr`. Returns 0.
    fn tos_get_balance(asset_ptr, out_ptr);
    /// Moves `amount` of the asset from the contract to `dest_ptr`: 0, or 1 if too low.
    fn tos_transfer(dest_ptr, amount, asset_ptr);
    /// Burns `amount` of the contract's own asset: 0, or 1 if the balance is too low.
    fn tos_burn(asset_ptr, amount);
    /// Copies min(len, cap) bytes of the value under the key; returns its length, or
    /// `u64::MAX` when the key is absent.
    fn tos_storage_load(key_ptr, key_len, out_ptr, cap);
    /// Stores the value under the key (key at most 256 bytes, value at most 64 KiB).
    fn tos_storage_store(key_ptr, key_len, val_ptr, val_len);
    /// Deletes the key: 1 if it existed, else 0.
    fn tos_storage_delete(key_ptr, key_len);
    /// Creates an asset named by the bytes at `name_ptr`; writes its 32-byte id. 0, or 1 if
    /// it exists.
    fn tos_asset_create(name_ptr, name_len, decimals, out_asset_ptr);
    /// Mints `amount` of an asset this contract created, to itself. 0, or 1 on refusal.
    fn tos_asset_mint(asset_ptr, amount);
    /// Fires event `event_id` with the data (at most 4 KiB). Returns 0.
    fn tos_fire_event(event_id, data_ptr, data_len);
    /// ABI v2. Calls another contract with the call descriptor at `desc_ptr`; returns the
    /// callee's exit code, [`CALL_TRAPPED`](crate::CALL_TRAPPED) or
    /// [`CALL_REFUSED`](crate::CALL_REFUSED).
    fn tos_call(desc_ptr, desc_len);
    /// ABI v2. Copies min(len, cap) bytes of the last `tos_call`'s return data; returns its
    /// length, or `u64::MAX` when there is none.
    fn tos_get_return_data(out_ptr, cap);
    /// ABI v2. Writes the 32-byte caller (calling contract, or the transaction's source).
    fn tos_get_caller(out_ptr);
    /// ABI v2. Returns the amount of the asset deposited with this call (0 if none).
    fn tos_get_call_deposit(asset_ptr);
    /// ABI v2. Never returns: the call traps with the message (its first 1 KiB).
    fn tos_abort(msg_ptr, msg_len);
    /// ABI v2. Writes the 32-byte digest of the data (algo 0 blake3, 1 sha256, 2 keccak256).
    fn tos_hash(algo, data_ptr, data_len, out_ptr);
    /// ABI v2. Verifies an ed25519 signature (64 bytes): 0 if valid, 1 if not.
    fn tos_ed25519_verify(pubkey_ptr, msg_ptr, msg_len, sig_ptr);
    /// ABI v2. Returns the block's timestamp, seconds since the Unix epoch.
    fn tos_get_block_timestamp();
}
