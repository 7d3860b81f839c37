//! The one TOS syscall table.
//!
//! Every syscall of ABI.md is declared here exactly once, as data ([`SyscallDef`]: name, id,
//! arity, cost, activating feature) plus one body written against
//! [`HostAbi`](tos_engine_api::HostAbi) and [`GuestMemory`](tos_engine_api::GuestMemory).
//! Declarations are submitted with [`inventory::submit!`], so a crate that links this one can
//! add a syscall without editing it; [`SyscallTable::global`] freezes the registry once,
//! sorted by id, refusing duplicate names or ids.
//!
//! Each engine has a small adapter: TBPF registers [`SyscallTable::active`] in rbpf's function
//! registry under [`SyscallDef::id`] (the murmur3-32 hash sBPF uses for symbols), wasm binds
//! imports of module `env` by name, legacy calls by id. All of them call [`invoke`], which
//! charges the base cost and runs the body.
//!
//! ```
//! use tos_engine_api::{FeatureSet, GasMeter, SliceMemory};
//! use tos_syscalls::{SyscallCtx, SyscallTable, invoke, murmur3_32};
//! # use tos_syscalls::testing::RecordingHost;
//!
//! let table = SyscallTable::global().expect("the built-in table is consistent");
//! let log = table.by_name("tos_log").unwrap();
//! assert_eq!(log.id, murmur3_32(b"tos_log", 0));
//!
//! // Run it against some guest memory and a host.
//! let mut host = RecordingHost::default();
//! let mut bytes = *b"hello";
//! let mut memory = SliceMemory::new(0x1000, &mut bytes, false);
//! let mut gas = GasMeter::new(1_000);
//! let mut ctx = SyscallCtx { host: &mut host, memory: &mut memory, gas: &mut gas };
//! assert_eq!(invoke(log, &mut ctx, [0x1000, 5, 0, 0, 0]), Ok(0));
//! assert_eq!(host.logs, vec![b"hello".to_vec()]);
//! assert_eq!(gas.used(), log.cost.charge(5));
//! # let _ = FeatureSet::new();
//! ```

mod bodies;
mod hash;
mod table;
pub mod testing;

pub use bodies::{ABSENT, limits};
pub use hash::murmur3_32;
pub use table::{ActiveSyscalls, SyscallTable, TableError};

use tos_engine_api::{
    EngineFault, Gas, GasMeter, GuestMemory, HostAbi, HostError, MemoryError, OutOfGas, Trap,
};

/// The body of a syscall: up to five u64 arguments in, one u64 out.
pub type SyscallFn = fn(&mut SyscallCtx<'_>, &[u64; 5]) -> Result<u64, SyscallError>;

/// A syscall's gas cost: `base + per_byte * bytes moved`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cost {
    /// Charged on every call, before the body runs.
    pub base: Gas,
    /// Charged for each byte the syscall reads from or writes to guest memory or state,
    /// before the bytes move.
    pub per_byte: Gas,
}

impl Cost {
    /// A cost of `base` plus `per_byte` for each byte moved.
    pub const fn new(base: Gas, per_byte: Gas) -> Self {
        Cost { base, per_byte }
    }

    /// What a call moving `bytes` bytes costs in all, saturating at `u64::MAX`.
    pub const fn charge(&self, bytes: u64) -> Gas {
        self.base
            .saturating_add(self.per_byte.saturating_mul(bytes))
    }
}

/// One syscall, declared once. Submit it with `inventory::submit!` to add it to the table.
#[derive(Debug)]
pub struct SyscallDef {
    /// The name contracts import (`tos_log`).
    pub name: &'static str,
    /// The id: murmur3-32 of the name with seed 0, the hash sBPF uses for symbols.
    pub id: u32,
    /// How many of the five argument registers the syscall reads.
    pub arity: u8,
    /// Gas cost.
    pub cost: Cost,
    /// The feature that makes it live; `None` for syscalls live from genesis.
    pub feature: Option<&'static str>,
    /// The body.
    pub body: SyscallFn,
}

impl SyscallDef {
    /// Declares a syscall; the id is computed from the name at compile time.
    pub const fn new(
        name: &'static str,
        arity: u8,
        cost: Cost,
        feature: Option<&'static str>,
        body: SyscallFn,
    ) -> Self {
        SyscallDef {
            name,
            id: murmur3_32(name.as_bytes(), 0),
            arity,
            cost,
            feature,
            body,
        }
    }
}

inventory::collect!(SyscallDef);

/// What a syscall body works with: the host, the guest's memory and the call's gas meter.
pub struct SyscallCtx<'a> {
    /// The chain, as the running contract may see it.
    pub host: &'a mut dyn HostAbi,
    /// The contract's memory.
    pub memory: &'a mut dyn GuestMemory,
    /// The call's gas meter (the same meter that meters instructions).
    pub gas: &'a mut GasMeter,
}

impl std::fmt::Debug for SyscallCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyscallCtx")
            .field("gas", &self.gas)
            .finish_non_exhaustive()
    }
}

impl SyscallCtx<'_> {
    /// Charges `per_byte * bytes` for bytes about to move.
    ///
    /// # Errors
    /// [`SyscallError::OutOfGas`].
    pub fn charge_bytes(&mut self, cost: Cost, bytes: u64) -> Result<(), SyscallError> {
        self.gas.consume(cost.per_byte.saturating_mul(bytes))?;
        Ok(())
    }
}

/// Why a syscall stopped the contract.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SyscallError {
    /// The gas meter could not pay.
    #[error("out of gas")]
    OutOfGas,
    /// A pointer argument is out of bounds or not writable.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// An argument breaks a documented rule (a key too long, a bad decimals value, ...).
    #[error("{0}")]
    Invalid(String),
    /// The host refused or failed.
    #[error(transparent)]
    Host(#[from] HostError),
}

impl From<OutOfGas> for SyscallError {
    fn from(_: OutOfGas) -> Self {
        SyscallError::OutOfGas
    }
}

impl SyscallError {
    /// The trap this error means for the contract, or the fault it means for the node.
    ///
    /// # Errors
    /// [`EngineFault`] for [`HostError::Fault`]: the node failed, not the contract.
    pub fn into_trap(self, syscall: &str, engine: &'static str) -> Result<Trap, EngineFault> {
        Ok(match self {
            SyscallError::OutOfGas => Trap::OutOfGas,
            SyscallError::Memory(e) => Trap::from(e),
            SyscallError::Host(HostError::Fault(msg)) => {
                return Err(EngineFault::new(engine, format!("{syscall}: {msg}")));
            }
            SyscallError::Host(e) => Trap::Syscall {
                name: syscall.to_owned(),
                reason: e.to_string(),
            },
            SyscallError::Invalid(reason) => Trap::Syscall {
                name: syscall.to_owned(),
                reason,
            },
        })
    }
}

/// Runs a syscall: charges its base cost, then runs the body (which charges per byte before
/// moving bytes). Every engine adapter calls this and nothing else.
///
/// # Errors
/// The body's [`SyscallError`].
#[inline]
pub fn invoke(
    def: &SyscallDef,
    ctx: &mut SyscallCtx<'_>,
    args: [u64; 5],
) -> Result<u64, SyscallError> {
    ctx.gas.consume(def.cost.base)?;
    (def.body)(ctx, &args)
}
