use std::collections::BTreeSet;
use std::sync::Arc;

use crate::{Call, EngineFault, Gas, HostAbi, LoadError, ModuleTag, Outcome, Protocol};

/// An execution engine: turns code of one [`ModuleTag`] into [`PreparedModule`]s.
///
/// Engines are built once per node with their configuration and shared across threads.
/// Built-in engines are dispatched statically by the host; third-party engines register a
/// factory with the host's plug-in registry and are used through this trait alone.
pub trait ExecutionEngine: Send + Sync + 'static {
    /// A short, stable name (`tbpf`, `legacy`, `wasm`).
    fn name(&self) -> &'static str;

    /// The module tag this engine runs.
    fn tag(&self) -> ModuleTag;

    /// The engine configuration's version. The host caches prepared modules by (code hash,
    /// engine name, version, protocol digest), and the activation schedule can switch a tag to
    /// a newer version from a height on, so every configuration option that can change an
    /// outcome or a gas figure must change it (costs are not options: they come from the
    /// [`Protocol`]).
    fn version(&self) -> u32;

    /// The costs the engine reads from the gas schedule, with their values in the first gas
    /// schedule (version 1) of a network. Names start with the engine's name and a dot
    /// (`wasm.memory_page`). The host puts them into version 1, refuses schedules that name a
    /// cost no engine or syscall declares, and hands engines a complete schedule; an engine
    /// reads its costs with [`GasSchedule::cost_or`](crate::GasSchedule::cost_or) in
    /// [`prepare`](Self::prepare). Default: none (an engine whose gas is fixed by its version).
    fn gas_costs(&self) -> Vec<(String, Gas)> {
        Vec::new()
    }

    /// The most native stack one call of a module of this engine may use, in bytes: its
    /// generated or interpreted frames plus the host functions it calls, but not the frames of
    /// nested contract calls (the host gives each of those room of its own). Before running a
    /// frame the host makes sure at least this much stack is left, switching to a fresh stack
    /// segment otherwise, so no chain of calls overflows the node's stack. Default: 512 KiB.
    fn native_stack(&self) -> usize {
        512 * 1024
    }

    /// Whether the engine can run under `schedule`'s costs (a cost may not fit the engine's
    /// metering: wasmtime's fuel table holds at most 255 per operator). The host asks this for
    /// every gas schedule of a network when it loads the schedule, so a bad schedule is
    /// refused at start-up, never met by a deploy. Default: every schedule is fine.
    ///
    /// # Errors
    /// A message naming the cost and why.
    fn check_gas(&self, schedule: &crate::GasSchedule) -> Result<(), String> {
        let _ = schedule;
        Ok(())
    }

    /// Validates and compiles `code` once, under `protocol`: the syscalls its features make
    /// live, and the costs of its gas schedule.
    ///
    /// # Errors
    /// A [`LoadError`] naming what is wrong: the module must never reach the state then.
    fn prepare(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError>;
}

/// Which calls a module answers.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct EntryTable {
    /// Entry ids the module exports.
    pub entries: BTreeSet<u16>,
    /// Hook ids the module exports.
    pub hooks: BTreeSet<u8>,
    /// The module dispatches every call itself (one `entrypoint`, no table): any call is run.
    pub self_dispatch: bool,
}

impl EntryTable {
    /// A table that accepts every call and leaves dispatch to the module.
    pub fn self_dispatch() -> Self {
        EntryTable {
            self_dispatch: true,
            ..Self::default()
        }
    }

    /// Whether the module may be run for `call`. A module with a table refuses ids it lacks
    /// without running; a self-dispatching module accepts every call.
    pub fn accepts(&self, call: Call) -> bool {
        self.self_dispatch
            || match call {
                Call::Entry(id) => self.entries.contains(&id),
                Call::Hook(id) => self.hooks.contains(&id),
            }
    }

    /// Whether the module declares a constructor (hook 0). A self-dispatching module declares
    /// none, so the host runs no constructor for it.
    pub fn has_constructor(&self) -> bool {
        self.hooks.contains(&0)
    }
}

/// What the host and tools may learn about a prepared module without running it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ModuleInfo {
    /// Entries and hooks.
    pub entries: EntryTable,
    /// Names of the syscalls the module imports, sorted.
    pub imports: Vec<String>,
    /// Size of the code in bytes.
    pub code_size: usize,
}

/// A module validated and compiled once, ready to run any number of calls, from any thread.
pub trait PreparedModule: Send + Sync {
    /// Entries, hooks and imports.
    fn info(&self) -> &ModuleInfo;

    /// Runs `call` under a gas limit, against `host`.
    ///
    /// The call's input reaches the engine once: [`HostAbi::input`] holds `call` and its params
    /// encoded per ABI.md (an [`INPUT_HEADER_LEN`](crate::INPUT_HEADER_LEN)-byte header, then
    /// the params), and the engine reads the params from there
    /// ([`CallInput::params_of`](crate::CallInput::params_of)). `call` is what the host
    /// dispatches on; an input that does not encode it is a bug of the host, reported as an
    /// [`EngineFault`] (the check reads only the 8-byte header).
    ///
    /// Everything the contract does wrong is reported in the [`Outcome`]; a call the module
    /// does not export is [`Trap::UnknownEntry`](crate::Trap::UnknownEntry) with no gas used.
    ///
    /// # Errors
    /// [`EngineFault`] only for faults of the node (an engine bug, a host fault, an input
    /// that does not encode `call`).
    fn run(
        &self,
        call: Call,
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault>;

    /// A human-readable disassembly, if the engine offers one (`tosvm inspect --disasm`).
    fn disassemble(&self) -> Option<String> {
        None
    }
}

/// The version of a non-default engine configuration: FNV-1a over `revision` and every option
/// that can change results (as u64 LE), with the high bit set.
///
/// An engine reports its plain revision for the network's default configuration and this for
/// any other, so a node configured differently never shares prepared modules, or a version
/// slot of the activation schedule, with the defaults (the high bit keeps derived versions
/// apart from plain revisions).
///
/// ```
/// let a = tos_engine_api::derived_version(1, &[64, 4096]);
/// assert_ne!(a, tos_engine_api::derived_version(1, &[65, 4096]));
/// assert_ne!(a, tos_engine_api::derived_version(2, &[64, 4096]));
/// assert!(a >= 0x8000_0000);
/// ```
pub fn derived_version(revision: u32, options: &[u64]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let words = std::iter::once(u64::from(revision)).chain(options.iter().copied());
    for b in words.flat_map(u64::to_le_bytes) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h | 0x8000_0000
}
