//! The bodies of the syscalls of ABI.md, each declared once.
//!
//! Every body charges before it works: [`invoke`](crate::invoke) charges the base cost, and a
//! body charges the per-byte cost for the bytes it is about to move before moving them. Sizes
//! are checked against [`limits`] before anything is allocated.
//!
//! A body copies at most what it charges. Where the host hands over more than the contract
//! asked for (a stored value is returned whole by `HostAbi::storage_load`, whatever the
//! capacity of the contract's buffer), the body charges per byte of everything the host read,
//! as soon as the length is known and before any byte reaches the contract: the host's read is
//! bounded by [`limits::MAX_VALUE_LEN`], and a contract that cannot pay runs out of gas,
//! which charges its whole limit.

use tos_engine_api::{CallRequest, Hash, MAX_CALL_DESCRIPTOR};

use crate::{Cost, OutSize, Param, SyscallCtx, SyscallDef, SyscallError};
use Param::*;

/// Documented limits every engine enforces identically.
pub mod limits {
    /// Longest storage key, in bytes.
    pub const MAX_KEY_LEN: u64 = 256;
    /// Longest storage value, in bytes.
    pub const MAX_VALUE_LEN: u64 = 64 * 1024;
    /// Longest return data, in bytes.
    pub const MAX_RETURN_DATA_LEN: u64 = 64 * 1024;
    /// Longest log message, in bytes.
    pub const MAX_LOG_LEN: u64 = 1024;
    /// Most log messages one call may emit (enforced by the host).
    pub const MAX_LOGS_PER_CALL: u64 = 64;
    /// Longest event payload, in bytes.
    pub const MAX_EVENT_DATA_LEN: u64 = 4 * 1024;
    /// Most events one call may fire (enforced by the host).
    pub const MAX_EVENTS_PER_CALL: u64 = 64;
    /// Longest asset name, in bytes (at least 1 byte).
    pub const MAX_ASSET_NAME_LEN: u64 = 64;
    /// Largest number of decimals an asset may declare.
    pub const MAX_ASSET_DECIMALS: u64 = 18;
    /// Longest `tos_abort` message kept, in bytes (longer ones are cut there).
    pub const MAX_ABORT_MESSAGE_LEN: u64 = 1024;
    /// Longest input of `tos_hash` and message of `tos_ed25519_verify`, in bytes.
    pub const MAX_HASH_INPUT_LEN: u64 = 1024 * 1024;

    /// The per-call count check every host makes before recording one more log or event:
    /// refuses when `count` already reached `limit`.
    ///
    /// # Errors
    /// [`HostError::LimitExceeded`](tos_engine_api::HostError::LimitExceeded) naming `what`.
    pub fn check_count(
        what: &'static str,
        count: usize,
        limit: u64,
    ) -> Result<(), tos_engine_api::HostError> {
        if count as u64 >= limit {
            return Err(tos_engine_api::HostError::LimitExceeded { what, limit });
        }
        Ok(())
    }
}

use limits::*;

/// Value returned by `tos_storage_load` for an absent key.
pub const ABSENT: u64 = u64::MAX;

pub(crate) fn check_len(what: &str, len: u64, max: u64) -> Result<(), SyscallError> {
    if len > max {
        return Err(SyscallError::Invalid(format!(
            "{what} of {len} bytes exceeds the limit of {max}"
        )));
    }
    Ok(())
}

/// Reads `len` bytes after checking `len <= max` and charging for them.
pub(crate) fn read_bounded(
    ctx: &mut SyscallCtx<'_>,
    what: &str,
    ptr: u64,
    len: u64,
    max: u64,
) -> Result<Vec<u8>, SyscallError> {
    check_len(what, len, max)?;
    ctx.charge_bytes(len)?;
    Ok(ctx.memory.read_vec(ptr, len)?)
}

/// Reads a storage key (at most [`limits::MAX_KEY_LEN`] bytes, checked and charged) into
/// `buf`, without allocating; returns the key.
pub(crate) fn read_key<'b>(
    ctx: &mut SyscallCtx<'_>,
    buf: &'b mut [u8; MAX_KEY_LEN as usize],
    ptr: u64,
    len: u64,
) -> Result<&'b [u8], SyscallError> {
    check_len("storage key", len, MAX_KEY_LEN)?;
    ctx.charge_bytes(len)?;
    // `len <= MAX_KEY_LEN` was just checked.
    let key = buf.get_mut(..len as usize).unwrap_or_default();
    ctx.memory.read(ptr, key)?;
    Ok(key)
}

pub(crate) fn read_hash(ctx: &mut SyscallCtx<'_>, ptr: u64) -> Result<Hash, SyscallError> {
    Ok(ctx.memory.read_hash(ptr)?)
}

/// How many bytes of `len` fit a buffer of `cap` bytes.
pub(crate) fn capped(len: usize, cap: u64) -> usize {
    usize::try_from(cap).map_or(len, |cap| cap.min(len))
}

macro_rules! syscall {
    ($(#[$doc:meta])* $name:ident, params [$($param:expr),*], cost($base:expr, $per:expr), |$ctx:ident, $a:ident| $body:block) => {
        syscall!($(#[$doc])* $name, feature crate::ABI_V1, params [$($param),*], cost($base, $per), |$ctx, $a| $body);
    };
    ($(#[$doc:meta])* $name:ident, feature $feature:expr, params [$($param:expr),*], cost($base:expr, $per:expr), |$ctx:ident, $a:ident| $body:block) => {
        $(#[$doc])*
        #[allow(non_upper_case_globals)]
        pub(crate) mod $name {
            use super::*;
            pub(crate) const COST: Cost = Cost::new($base, $per);
            pub(crate) fn body($ctx: &mut SyscallCtx<'_>, $a: &[u64; 5]) -> Result<u64, SyscallError> {
                let _ = &$a;
                $body
            }
            inventory::submit! { SyscallDef::new(stringify!($name), &[$($param),*], COST, $feature, body) }
        }
    };
}

syscall!(
    /// `tos_log(msg_ptr, msg_len) -> 0`: records a log line (at most `MAX_LOG_LEN` bytes).
    tos_log, params [Bytes], cost(100, 1), |ctx, a| {
        let msg = read_bounded(ctx, "log message", a[0], a[1], MAX_LOG_LEN)?;
        ctx.host.log(&msg)?;
        Ok(0)
    }
);

syscall!(
    /// `tos_get_input(out_ptr, cap) -> input length`: copies `min(len, cap)` bytes of the input.
    /// Charges for and copies only those bytes, straight from the host's input.
    tos_get_input, params [OutBuf(OutSize::Input)], cost(50, 1), |ctx, a| {
        let len = ctx.host.input().len();
        let n = capped(len, a[1]);
        ctx.charge_bytes(n as u64)?;
        let input = ctx.host.input();
        ctx.memory.write(a[0], input.get(..n).unwrap_or(input))?;
        Ok(len as u64)
    }
);

syscall!(
    /// `tos_set_return_data(ptr, len) -> 0`: replaces the call's return data.
    tos_set_return_data, params [Bytes], cost(50, 1), |ctx, a| {
        let data = read_bounded(ctx, "return data", a[0], a[1], MAX_RETURN_DATA_LEN)?;
        ctx.host.set_return_data(data)?;
        Ok(0)
    }
);

macro_rules! hash_getter {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        syscall!($(#[$doc])* $name, params [Out32], cost(50, 0), |ctx, a| {
            let h = ctx.host.$method();
            ctx.memory.write(a[0], &h)?;
            Ok(0)
        });
    };
}

hash_getter!(
    /// `tos_get_contract_hash(out_ptr) -> 0`: the running contract's address (32 bytes).
    tos_get_contract_hash, contract_hash
);
hash_getter!(
    /// `tos_get_tx_hash(out_ptr) -> 0`: the transaction hash (32 bytes).
    tos_get_tx_hash, tx_hash
);
hash_getter!(
    /// `tos_get_tx_source(out_ptr) -> 0`: the caller's account (32 bytes).
    tos_get_tx_source, tx_source
);
hash_getter!(
    /// `tos_get_block_hash(out_ptr) -> 0`: the block hash (32 bytes).
    tos_get_block_hash, block_hash
);

syscall!(
    /// `tos_get_block_height() -> height`.
    tos_get_block_height, params [], cost(20, 0), |ctx, a| {
        Ok(ctx.host.block_height())
    }
);

syscall!(
    /// `tos_get_balance(asset_ptr, out_ptr) -> 0`: writes the contract's balance (u64 LE).
    tos_get_balance, params [Hash, OutU64], cost(200, 0), |ctx, a| {
        let asset = read_hash(ctx, a[0])?;
        let balance = ctx.host.balance(&asset)?;
        ctx.memory.write(a[1], &balance.to_le_bytes())?;
        Ok(0)
    }
);

syscall!(
    /// `tos_transfer(dest_ptr, amount, asset_ptr) -> 0, or 1 if the balance is too low`.
    tos_transfer, params [Hash, U64, Hash], cost(500, 0), |ctx, a| {
        let dest = read_hash(ctx, a[0])?;
        let asset = read_hash(ctx, a[2])?;
        Ok(u64::from(!ctx.host.transfer(&dest, &asset, a[1])?))
    }
);

syscall!(
    /// `tos_burn(asset_ptr, amount) -> 0, or 1 if the balance is too low`.
    tos_burn, params [Hash, U64], cost(500, 0), |ctx, a| {
        let asset = read_hash(ctx, a[0])?;
        Ok(u64::from(!ctx.host.burn(&asset, a[1])?))
    }
);

syscall!(
    /// `tos_storage_load(key_ptr, key_len, out_ptr, cap) -> value length, or u64::MAX if absent`.
    /// Copies `min(len, cap)` bytes of the value. Charges per byte of the key and of the whole
    /// value (the host reads all of it), whatever `cap`.
    tos_storage_load, params [Bytes, OutBuf(OutSize::Max(MAX_VALUE_LEN))], cost(500, 1), |ctx, a| {
        let mut buf = [0u8; MAX_KEY_LEN as usize];
        let key = read_key(ctx, &mut buf, a[0], a[1])?;
        match ctx.host.storage_load(key)? {
            Some(value) => {
                ctx.charge_bytes(value.len() as u64)?;
                let n = capped(value.len(), a[3]);
                ctx.memory.write(a[2], value.get(..n).unwrap_or(&value))?;
                Ok(value.len() as u64)
            }
            None => Ok(ABSENT),
        }
    }
);

syscall!(
    /// `tos_storage_store(key_ptr, key_len, val_ptr, val_len) -> 0`.
    tos_storage_store, params [Bytes, Bytes], cost(1000, 5), |ctx, a| {
        check_len("storage value", a[3], MAX_VALUE_LEN)?;
        let key = read_bounded(ctx, "storage key", a[0], a[1], MAX_KEY_LEN)?;
        let value = read_bounded(ctx, "storage value", a[2], a[3], MAX_VALUE_LEN)?;
        ctx.host.storage_store(key, value)?;
        Ok(0)
    }
);

syscall!(
    /// `tos_storage_delete(key_ptr, key_len) -> 1 if the key existed, else 0`. Charges per byte
    /// of the key and of the deleted value (a host reads the value to learn whether it exists),
    /// before deleting it.
    tos_storage_delete, params [Bytes], cost(500, 1), |ctx, a| {
        let mut buf = [0u8; MAX_KEY_LEN as usize];
        let key = read_key(ctx, &mut buf, a[0], a[1])?;
        // `HostAbi::storage_delete` does not say how long the value was; reading it first
        // does, and is the same bounded work the host does to delete it.
        let Some(value) = ctx.host.storage_load(key)? else {
            return Ok(0);
        };
        ctx.charge_bytes(value.len() as u64)?;
        drop(value);
        Ok(u64::from(ctx.host.storage_delete(key)?))
    }
);

syscall!(
    /// `tos_asset_create(name_ptr, name_len, decimals, out_asset_ptr) -> 0, or 1 if it exists`.
    /// The asset id is written in both cases.
    tos_asset_create, params [Bytes, U64, Out32], cost(5000, 1), |ctx, a| {
        if a[1] == 0 {
            return Err(SyscallError::Invalid("asset name is empty".into()));
        }
        if a[2] > MAX_ASSET_DECIMALS {
            return Err(SyscallError::Invalid(format!(
                "asset decimals {} exceed the limit of {MAX_ASSET_DECIMALS}", a[2]
            )));
        }
        let name = read_bounded(ctx, "asset name", a[0], a[1], MAX_ASSET_NAME_LEN)?;
        // `a[2] <= 18` was checked above.
        let (id, created) = ctx.host.asset_create(&name, a[2] as u8)?;
        ctx.memory.write(a[3], &id)?;
        Ok(u64::from(!created))
    }
);

syscall!(
    /// `tos_asset_mint(asset_ptr, amount) -> 0, or 1 if the caller is not the asset's creator
    /// or the supply would overflow`.
    tos_asset_mint, params [Hash, U64], cost(1000, 0), |ctx, a| {
        let asset = read_hash(ctx, a[0])?;
        Ok(u64::from(!ctx.host.asset_mint(&asset, a[1])?))
    }
);

syscall!(
    /// `tos_fire_event(event_id, data_ptr, data_len) -> 0`.
    tos_fire_event, params [U64, Bytes], cost(200, 2), |ctx, a| {
        let data = read_bounded(ctx, "event data", a[1], a[2], MAX_EVENT_DATA_LEN)?;
        ctx.host.fire_event(a[0], &data)?;
        Ok(0)
    }
);

// ABI v2 (ABI.md, "ABI v2"): calls between contracts and what every contract platform offers.

syscall!(
    /// `tos_call(desc_ptr, desc_len) -> the callee's exit code, or CALL_TRAPPED / CALL_REFUSED`.
    /// Decodes the call descriptor (a malformed one traps the caller), caps the callee's gas at
    /// what the caller has left after this syscall's own cost, asks the host to run the callee,
    /// and charges the caller the gas the callee used. Charges per byte of the descriptor.
    tos_call, feature crate::ABI_V2, params [Bytes], cost(10_000, 1), |ctx, a| {
        let len = a[1];
        check_len("call descriptor", len, MAX_CALL_DESCRIPTOR as u64)?;
        ctx.charge_bytes(len)?;
        let bytes = ctx.memory.read_vec(a[0], len)?;
        let request = CallRequest::decode(&bytes).map_err(|e| SyscallError::Invalid(e.to_string()))?;
        drop(bytes);
        let left = ctx.gas.remaining();
        let limit = if request.gas_limit == 0 { left } else { request.gas_limit.min(left) };
        let result = ctx.host.call(&request, limit)?;
        // The callee used at most `limit`, which the meter holds.
        ctx.gas.consume(result.gas_used())?;
        Ok(result.code())
    }
);

syscall!(
    /// `tos_get_return_data(out_ptr, cap) -> length, or u64::MAX if none`: the return data of
    /// this frame's last `tos_call` (none before any, or when the last one was refused or
    /// trapped). Copies and charges for `min(len, cap)` bytes.
    tos_get_return_data, feature crate::ABI_V2, params [OutBuf(OutSize::Max(MAX_RETURN_DATA_LEN))], cost(50, 1), |ctx, a| {
        let Some(data) = ctx.host.last_return_data() else {
            return Ok(ABSENT);
        };
        let n = capped(data.len(), a[1]);
        ctx.gas.consume(ctx.cost.per_byte.saturating_mul(n as u64))?;
        ctx.memory.write(a[0], data.get(..n).unwrap_or(data))?;
        Ok(data.len() as u64)
    }
);

syscall!(
    /// `tos_get_caller(out_ptr) -> 0`: the calling contract, or the transaction's source for a
    /// top-level call (32 bytes).
    tos_get_caller, feature crate::ABI_V2, params [Out32], cost(50, 0), |ctx, a| {
        let caller = ctx.host.caller();
        ctx.memory.write(a[0], &caller)?;
        Ok(0)
    }
);

syscall!(
    /// `tos_get_call_deposit(asset_ptr) -> amount`: what the caller deposited of the asset with
    /// this call (0 if nothing).
    tos_get_call_deposit, feature crate::ABI_V2, params [Hash], cost(50, 0), |ctx, a| {
        let asset = read_hash(ctx, a[0])?;
        Ok(ctx.host.call_deposit(&asset))
    }
);

syscall!(
    /// `tos_abort(msg_ptr, msg_len)`: never returns; the call traps with the message (its first
    /// `MAX_ABORT_MESSAGE_LEN` bytes, read as lossy UTF-8). Charges per byte kept.
    tos_abort, feature crate::ABI_V2, params [Bytes], cost(100, 1), |ctx, a| {
        let len = a[1].min(MAX_ABORT_MESSAGE_LEN);
        ctx.charge_bytes(len)?;
        let msg = ctx.memory.read_vec(a[0], len)?;
        Err(SyscallError::Abort(String::from_utf8_lossy(&msg).into_owned()))
    }
);

/// The hash functions of `tos_hash`, by their `algo` number.
pub mod hash_algo {
    /// BLAKE3 (32-byte output).
    pub const BLAKE3: u64 = 0;
    /// SHA-256 (FIPS 180-4).
    pub const SHA256: u64 = 1;
    /// Keccak-256 (the original Keccak padding, as Ethereum uses; not SHA3-256).
    pub const KECCAK256: u64 = 2;
}

syscall!(
    /// `tos_hash(algo, data_ptr, data_len, out_ptr) -> 0`: writes the 32-byte digest of the
    /// data; `algo` is one of [`hash_algo`], another traps. Charges per byte hashed (one price
    /// for every algorithm: the slowest one's).
    tos_hash, feature crate::ABI_V2, params [U64, Bytes, Out32], cost(1_500, 20), |ctx, a| {
        if a[0] > hash_algo::KECCAK256 {
            return Err(SyscallError::Invalid(format!(
                "unknown hash algorithm {} (0 = blake3, 1 = sha256, 2 = keccak256)", a[0]
            )));
        }
        let data = read_bounded(ctx, "hash input", a[1], a[2], MAX_HASH_INPUT_LEN)?;
        let digest: [u8; 32] = match a[0] {
            hash_algo::BLAKE3 => *blake3::hash(&data).as_bytes(),
            hash_algo::SHA256 => {
                use sha2::Digest;
                sha2::Sha256::digest(&data).into()
            }
            _ => {
                use sha3::Digest;
                sha3::Keccak256::digest(&data).into()
            }
        };
        ctx.memory.write(a[3], &digest)?;
        Ok(0)
    }
);

syscall!(
    /// `tos_ed25519_verify(pubkey_ptr, msg_ptr, msg_len, sig_ptr) -> 0 if valid, 1 if not`.
    /// The strict rule of RFC 8032 as ed25519-dalek's `verify_strict` applies it: the key and
    /// the signature's R must be canonical encodings of points that are not of small order,
    /// S must be below the group order, and the equation is checked without the cofactor.
    /// Charges a fixed price for the check plus per byte of the message.
    tos_ed25519_verify, feature crate::ABI_V2, params [Hash, Bytes, Signature], cost(270_000, 10), |ctx, a| {
        let key = read_hash(ctx, a[0])?;
        let msg = read_bounded(ctx, "signed message", a[1], a[2], MAX_HASH_INPUT_LEN)?;
        let mut sig = [0u8; 64];
        ctx.memory.read(a[3], &mut sig)?;
        let valid = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .is_ok_and(|key| key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok());
        Ok(u64::from(!valid))
    }
);

syscall!(
    /// `tos_get_block_timestamp() -> seconds since the Unix epoch` of the block being built.
    tos_get_block_timestamp, feature crate::ABI_V2, params [], cost(20, 0), |ctx, a| {
        Ok(ctx.host.block_timestamp())
    }
);
