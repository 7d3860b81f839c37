use std::collections::BTreeSet;
use std::sync::Arc;

use crate::{Call, EngineFault, FeatureSet, Gas, HostAbi, LoadError, ModuleTag, Outcome};

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
    /// engine name, version), and the activation schedule can switch a tag to a newer version
    /// from a height on, so any change that alters results must bump it.
    fn version(&self) -> u32;

    /// Validates and compiles `code` once, with the syscalls that `features` make live.
    ///
    /// # Errors
    /// A [`LoadError`] naming what is wrong: the module must never reach the state then.
    fn prepare(
        &self,
        code: &[u8],
        features: &FeatureSet,
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

    /// Runs `call` with `params` under a gas limit, against `host`.
    ///
    /// `host.input()` holds the same call and params encoded per ABI.md. Everything the
    /// contract does wrong is reported in the [`Outcome`]; a call the module does not export is
    /// [`Trap::UnknownEntry`](crate::Trap::UnknownEntry) with no gas used.
    ///
    /// # Errors
    /// [`EngineFault`] only for faults of the node (an engine bug or a host fault).
    fn run(
        &self,
        call: Call,
        params: &[u8],
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault>;

    /// A human-readable disassembly, if the engine offers one (`tosvm inspect --disasm`).
    fn disassemble(&self) -> Option<String> {
        None
    }
}
