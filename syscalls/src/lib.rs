//! The one TOS syscall table.
//!
//! Every syscall of ABI.md is declared here exactly once, as data ([`SyscallDef`]: name, id,
//! parameters ([`Param`], from which the arity follows), cost, activating feature) plus one
//! body written against
//! `HostAbi` and `GuestMemory`.
//! Declarations are submitted with [`inventory::submit!`], so a crate that links this one can
//! add a syscall without editing it; [`SyscallTable::global`] freezes the registry once,
//! sorted by id, refusing duplicate names or ids.
//!
//! Each engine has a small adapter: TBPF registers [`SyscallTable::active`] in rbpf's function
//! registry under [`SyscallDef::id`] (the murmur3-32 hash sBPF uses for symbols), wasm binds
//! imports of module `env` by name, legacy calls by id. All of them call [`invoke`], which
//! charges the base cost and runs the body.
//!
//! # Consensus
//! Linking a crate that submits a syscall adds nothing to consensus: every syscall belongs to
//! a named feature ([`SyscallDef::feature`]; the syscalls of ABI v1 to [`ABI_V1`]), and is
//! live only where the network's activation schedule activates that feature. Its costs come
//! from the gas schedule in force ([`SyscallTable::active`] resolves them under a
//! [`Protocol`](tos_engine_api::Protocol)); [`SyscallDef::cost`] is only the value the cost
//! takes in a network's first gas schedule. [`ActiveSyscalls::digest`] identifies a live table:
//! every live syscall's name, id, parameters and costs, in id order.
//!
//! ```
//! use std::sync::Arc;
//! use tos_engine_api::{Call, FeatureSet, GasMeter, GasSchedule, Protocol, SliceMemory};
//! use tos_host::testing::{devnet_host, with_call_host};
//! use tos_host::{MemoryProvider, TxContext};
//! use tos_syscalls::{ABI_V1, SyscallTable, invoke, murmur3_32};
//!
//! let table = SyscallTable::global().expect("the built-in table is consistent");
//! let mut gas = GasSchedule::new(1);
//! gas.set("syscall.tos_log.base", 150);
//! let protocol = Protocol::new([ABI_V1].into_iter().collect(), Arc::new(gas));
//! let live = table.active(&protocol);
//! let log = live.by_name("tos_log").unwrap();
//! assert_eq!(log.def.id, murmur3_32(b"tos_log", 0));
//! assert_eq!((log.cost.base, log.cost.per_byte), (150, 1)); // re-priced base, default per byte
//!
//! // Run it against some guest memory and the node's host (crate `tos-host`), here in a call
//! // of contract [5; 32] over a state in memory.
//! let host = devnet_host();
//! let mut state = MemoryProvider::default();
//! let tx = TxContext { height: 1, ..TxContext::default() };
//! let mut meter = GasMeter::new(1_000);
//! let (result, frame) = with_call_host(&host, &mut state, &tx, [5; 32], Call::Entry(0), &[], |h| {
//!     let mut bytes = *b"hello";
//!     let mut memory = SliceMemory::new(0x1000, &mut bytes, false);
//!     invoke(log, h, &mut memory, &mut meter, [0x1000, 5, 0, 0, 0])
//! })?;
//! assert_eq!(result, Ok(0));
//! assert_eq!(frame.all_logs(), [b"hello".to_vec()]);
//! assert_eq!(meter.used(), 150 + 5);
//!
//! // Without the feature, nothing is live.
//! assert!(table.active(&Protocol::from(FeatureSet::new())).is_empty());
//! # Ok::<(), tos_host::Error>(())
//! ```

mod bodies;
mod hash;
pub mod profile;
mod table;
pub mod testing;

pub use bodies::{ABSENT, hash_algo, limits};
pub use hash::murmur3_32;

pub use table::{ActiveSyscalls, LiveSyscall, SyscallTable, TableError};

/// The feature of the syscalls of ABI v1 (ABI.md, "Syscalls"). Every preset activates it at
/// genesis; a schedule file must name it.
pub const ABI_V1: &str = "abi_v1";

/// The feature of the syscalls of ABI v2 (ABI.md, "ABI v2"): calls between contracts,
/// caller and deposits, abort, hashes, ed25519 and the block timestamp.
pub const ABI_V2: &str = "abi_v2";

/// The gas-schedule names of a syscall's base and per-byte costs:
/// `syscall.<name>.base` and `syscall.<name>.per_byte`.
pub fn cost_names(name: &str) -> (String, String) {
    (
        format!("syscall.{name}.base"),
        format!("syscall.{name}.per_byte"),
    )
}

use tos_engine_api::{
    EngineFault, Gas, GasMeter, GuestMemory, HostAbi, HostError, MemoryError, OutOfGas, Trap,
};

/// The body of a syscall: up to five u64 arguments in, one u64 out.
pub type SyscallFn = fn(&mut SyscallCtx<'_>, &[u64; 5]) -> Result<u64, SyscallError>;

/// A syscall's gas cost: `base + per_byte * bytes moved`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
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

/// What one parameter of a syscall is, and how many argument registers it takes. The list of
/// a syscall's parameters is its ABI signature as data: engines with registers and memory
/// (TBPF, wasm) need only the arity it implies; the legacy VM, which has values and no
/// memory, uses it to lay values out in scratch memory and read results back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Param {
    /// Bytes the syscall reads: two registers, pointer and length.
    Bytes,
    /// 32 bytes the syscall reads (a hash, an address, an asset id): one register, the pointer.
    Hash,
    /// An integer: one register.
    U64,
    /// 32 bytes the syscall writes: one register, the pointer.
    Out32,
    /// A u64 (LE) the syscall writes: one register, the pointer.
    OutU64,
    /// 64 bytes the syscall reads (a signature): one register, the pointer.
    Signature,
    /// A buffer the syscall fills, and its capacity: two registers, pointer and capacity. The
    /// syscall returns the full length of what it had to give (or `u64::MAX` for nothing).
    OutBuf(OutSize),
}

/// How large an [`Param::OutBuf`] needs to be to hold everything the syscall may write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutSize {
    /// The call input's length.
    Input,
    /// At most this many bytes.
    Max(u64),
}

impl Param {
    /// Argument registers the parameter takes.
    pub const fn registers(self) -> u8 {
        match self {
            Param::Bytes | Param::OutBuf(_) => 2,
            _ => 1,
        }
    }

    /// Whether the syscall reads the parameter (as opposed to writing it).
    pub const fn is_input(self) -> bool {
        matches!(
            self,
            Param::Bytes | Param::Hash | Param::Signature | Param::U64
        )
    }
}

const fn registers(params: &[Param]) -> u8 {
    let mut n: u8 = 0;
    let mut i = 0;
    while i < params.len() {
        n = n.saturating_add(params[i].registers());
        i += 1;
    }
    n
}

/// One syscall, declared once. Submit it with `inventory::submit!` to add it to the table.
#[derive(Debug)]
pub struct SyscallDef {
    /// The name contracts import (`tos_log`).
    pub name: &'static str,
    /// The id: murmur3-32 of the name with seed 0, the hash sBPF uses for symbols.
    pub id: u32,
    /// Its parameters, in register order.
    pub params: &'static [Param],
    /// How many of the five argument registers the syscall reads (from `params`).
    pub arity: u8,
    /// Its cost in a network's first gas schedule (version 1). Later versions may re-price
    /// it; the cost in force is [`LiveSyscall::cost`].
    pub cost: Cost,
    /// The feature that makes it live: a network runs the syscall only from the height its
    /// schedule activates this feature.
    pub feature: &'static str,
    /// The body.
    pub body: SyscallFn,
}

impl SyscallDef {
    /// Declares a syscall; the id and the arity are computed at compile time.
    pub const fn new(
        name: &'static str,
        params: &'static [Param],
        cost: Cost,
        feature: &'static str,
        body: SyscallFn,
    ) -> Self {
        SyscallDef {
            name,
            id: murmur3_32(name.as_bytes(), 0),
            params,
            arity: registers(params),
            cost,
            feature,
            body,
        }
    }
}

inventory::collect!(SyscallDef);

/// What a syscall body works with: the host, the guest's memory, the call's gas meter and
/// the syscall's cost in force.
pub struct SyscallCtx<'a> {
    /// The chain, as the running contract may see it.
    pub host: &'a mut dyn HostAbi,
    /// The contract's memory.
    pub memory: &'a mut dyn GuestMemory,
    /// The call's gas meter (the same meter that meters instructions).
    pub gas: &'a mut GasMeter,
    /// The running syscall's cost under the gas schedule in force.
    pub cost: Cost,
}

impl std::fmt::Debug for SyscallCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyscallCtx")
            .field("gas", &self.gas)
            .finish_non_exhaustive()
    }
}

impl SyscallCtx<'_> {
    /// Charges the running syscall's per-byte cost for `bytes` bytes about to move.
    ///
    /// # Errors
    /// [`SyscallError::OutOfGas`].
    pub fn charge_bytes(&mut self, bytes: u64) -> Result<(), SyscallError> {
        self.gas.consume(self.cost.per_byte.saturating_mul(bytes))?;
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
    /// The contract aborted itself (`tos_abort`) with this message.
    #[error("aborted: {0}")]
    Abort(String),
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
            SyscallError::Abort(message) => Trap::Aborted(message),
        })
    }
}

/// Runs a live syscall: charges its base cost in force, then runs the body (which charges the
/// per-byte cost in force before moving bytes). Every engine adapter calls this and nothing
/// else.
///
/// # Errors
/// The body's [`SyscallError`].
#[inline]
pub fn invoke(
    syscall: &LiveSyscall,
    host: &mut dyn HostAbi,
    memory: &mut dyn GuestMemory,
    gas: &mut GasMeter,
    args: [u64; 5],
) -> Result<u64, SyscallError> {
    let tracing = tos_engine_api::trace::is_open();
    if profile::is_open() || tracing {
        let before = gas.used();
        let result = run_body(syscall, host, memory, gas, args);
        let charged = gas.used().saturating_sub(before);
        profile::record(syscall.def.name, charged);
        if tracing {
            let name = syscall.def.name;
            let arity = usize::from(syscall.def.arity);
            tos_engine_api::trace::line(|| {
                let shown: Vec<String> =
                    args.iter().take(arity).map(|a| format!("{a:#x}")).collect();
                let result = match &result {
                    Ok(v) => format!("{v:#x}"),
                    Err(e) => format!("stops the call: {e}"),
                };
                format!(
                    "syscall {name}({}) -> {result}, {charged} gas",
                    shown.join(", ")
                )
            });
        }
        return result;
    }
    run_body(syscall, host, memory, gas, args)
}

#[inline]
fn run_body(
    syscall: &LiveSyscall,
    host: &mut dyn HostAbi,
    memory: &mut dyn GuestMemory,
    gas: &mut GasMeter,
    args: [u64; 5],
) -> Result<u64, SyscallError> {
    gas.consume(syscall.cost.base)?;
    let mut ctx = SyscallCtx {
        host,
        memory,
        gas,
        cost: syscall.cost,
    };
    (syscall.def.body)(&mut ctx, &args)
}
