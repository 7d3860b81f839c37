//! Deploys and calls through the real [`Host`] over a [`MemoryProvider`]: what a node does
//! for a transaction, minus the database.

use tos_engine_api::{Call, Hash, ModuleTag};
use tos_host::{
    ActivationSchedule, BuiltinConfig, CallReport, ContractModule, DeployRequest, DeployResult,
    EngineRegistry, Host, HostConfig, InvokeRequest, MemoryProvider, StoredContract, StoredEntries,
    TxContext,
};

use crate::{BenchError, GAS_LIMIT};

/// An engine configuration a case runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// TBPF, JIT-compiled.
    TbpfJit,
    /// TBPF, interpreted.
    TbpfInterp,
    /// wasm (wasmtime, Cranelift).
    Wasm,
    /// The legacy stack VM.
    Legacy,
}

impl EngineKind {
    /// Every engine configuration, in the order of the tables.
    pub const ALL: [EngineKind; 4] = [
        EngineKind::TbpfJit,
        EngineKind::TbpfInterp,
        EngineKind::Wasm,
        EngineKind::Legacy,
    ];

    /// The engine an example's command-line argument names: `jit`, `interp`, `legacy`, and
    /// anything else for wasm.
    pub fn from_arg(arg: &str) -> EngineKind {
        match arg {
            "jit" => EngineKind::TbpfJit,
            "interp" => EngineKind::TbpfInterp,
            "legacy" => EngineKind::Legacy,
            _ => EngineKind::Wasm,
        }
    }

    /// The label of the tables.
    pub fn label(self) -> &'static str {
        match self {
            EngineKind::TbpfJit => "tbpf-jit",
            EngineKind::TbpfInterp => "tbpf-interp",
            EngineKind::Wasm => "wasm",
            EngineKind::Legacy => "legacy",
        }
    }

    /// The module tag the engine runs.
    pub fn tag(self) -> ModuleTag {
        match self {
            EngineKind::TbpfJit | EngineKind::TbpfInterp => ModuleTag::TBPF,
            EngineKind::Wasm => ModuleTag::WASM,
            EngineKind::Legacy => ModuleTag::LEGACY,
        }
    }

    /// Whether TBPF runs JIT-compiled on this engine's host.
    fn jit(self) -> bool {
        self != EngineKind::TbpfInterp
    }
}

/// A devnet host (every engine, ABI v1 and v2 live) with TBPF's JIT on or off and a module
/// cache of `cache_capacity` modules (the default when `None`).
///
/// # Errors
/// When the engines cannot start or the schedule is refused.
pub fn make_host(jit: bool, cache_capacity: Option<usize>) -> Result<Host, BenchError> {
    let mut builtin = BuiltinConfig::default();
    builtin.set_tbpf_jit(jit);
    let registry = EngineRegistry::builtin(&builtin)
        .map_err(|e| BenchError::new(format!("cannot start the engines: {e}")))?;
    let mut config = HostConfig::default();
    if let Some(capacity) = cache_capacity {
        config.set_cache_capacity(capacity);
    }
    Host::with_config(registry, ActivationSchedule::devnet(), config)
        .map_err(|e| BenchError::new(format!("the devnet schedule: {e}")))
}

/// The hosts of the suite: one with TBPF's JIT (it also runs wasm and legacy) and one with
/// TBPF's interpreter.
#[derive(Debug)]
pub struct Hosts {
    jit: Host,
    interp: Host,
}

impl Hosts {
    /// Both hosts, with the default module cache.
    ///
    /// # Errors
    /// As [`make_host`].
    pub fn new() -> Result<Self, BenchError> {
        Ok(Hosts {
            jit: make_host(true, None)?,
            interp: make_host(false, None)?,
        })
    }

    /// The host that runs `engine`.
    pub fn of(&self, engine: EngineKind) -> &Host {
        if engine.jit() {
            &self.jit
        } else {
            &self.interp
        }
    }
}

/// The transaction context of every deploy and call: devnet height 1, where every engine
/// accepts deploys.
pub fn tx() -> TxContext {
    TxContext {
        height: 1,
        block_hash: [1; 32],
        tx_hash: [2; 32],
        source: [3; 32],
        timestamp: 1_700_000_000,
    }
}

/// A contract deployed on a host into a state of its own.
#[derive(Debug)]
pub struct Contract<'h> {
    host: &'h Host,
    /// The chain state the contract lives in.
    pub state: MemoryProvider,
    tx: TxContext,
    /// Its address.
    pub address: Hash,
    /// What the deploy did (`None` for a module [installed](Contract::install) without one).
    pub deployed: Option<DeployResult>,
}

impl<'h> Contract<'h> {
    /// Deploys `code` as a module of `tag` on `host` into an empty state (with no
    /// constructor params).
    ///
    /// # Errors
    /// When the host refuses the deploy or the constructor fails.
    pub fn deploy(host: &'h Host, tag: ModuleTag, code: &[u8]) -> Result<Self, BenchError> {
        let mut state = MemoryProvider::default();
        let tx = tx();
        let request = DeployRequest {
            envelope: ContractModule::new(tag, code.to_vec()).encode(),
            params: Vec::new(),
            gas_limit: GAS_LIMIT,
        };
        let deployed = host
            .deploy(&mut state, &tx, &request)
            .map_err(|e| BenchError::new(format!("deploy of a {tag} module refused: {e}")))?;
        if !deployed.deployed {
            return Err(BenchError::new(format!(
                "the constructor of a {tag} module failed"
            )));
        }
        Ok(Contract {
            host,
            state,
            tx,
            address: deployed.address,
            deployed: Some(deployed),
        })
    }

    /// Puts `code` as a module of `tag` straight into an empty state, as a genesis state
    /// would hold it, without a deploy (so without its gas, and without a constructor): for
    /// a module whose deploy costs more gas than a transaction may use (a 1 MiB wasm
    /// module), to measure what its size costs a warm call all the same.
    ///
    /// # Errors
    /// When the engine refuses the module.
    pub fn install(host: &'h Host, tag: ModuleTag, code: &[u8]) -> Result<Self, BenchError> {
        let tx = tx();
        let module = ContractModule::new(tag, code.to_vec());
        let prepared = host
            .prepare(&module, tx.height)
            .map_err(|e| BenchError::new(format!("a {tag} module refused: {e}")))?;
        let code_hash = module.code_hash();
        // Any address will do in a state of its own: the code hash.
        let address = code_hash;
        let mut state = MemoryProvider::default();
        state.contracts.insert(
            address,
            StoredContract {
                module,
                code_hash,
                deployer: tx.source,
                deployed_at: tx.height,
                entries: StoredEntries::from(&prepared.info().entries),
            },
        );
        Ok(Contract {
            host,
            state,
            tx,
            address,
            deployed: None,
        })
    }

    /// Calls `call` with `params`, whatever the outcome.
    ///
    /// # Errors
    /// When the host refuses the call before running it.
    pub fn call(&mut self, call: Call, params: &[u8]) -> Result<CallReport, BenchError> {
        let request = InvokeRequest {
            contract: self.address,
            call,
            params: params.to_vec(),
            gas_limit: GAS_LIMIT,
            deposits: Vec::new(),
        };
        self.host
            .invoke(&mut self.state, &self.tx, &request)
            .map_err(|e| BenchError::new(format!("call {call} refused: {e}")))
    }

    /// Calls entry `entry` with `params` and returns its report, which must be a success.
    ///
    /// # Errors
    /// When the host refuses the call or it does not exit with 0.
    pub fn call_ok(&mut self, entry: u16, params: &[u8]) -> Result<CallReport, BenchError> {
        let report = self.call(Call::Entry(entry), params)?;
        if !report.is_success() {
            return Err(BenchError::new(format!(
                "entry {entry} on {} failed: {} after {} gas",
                report.engine, report.outcome.status, report.outcome.gas_used
            )));
        }
        Ok(report)
    }

    /// Runs kernel call `params` (entry 0 of `contract.c`) and returns the checksum and the
    /// gas used.
    ///
    /// # Errors
    /// When the call fails or its return data is not 8 bytes.
    pub fn kernel(&mut self, params: &[u8]) -> Result<(u64, u64), BenchError> {
        let report = self.call_ok(0, params)?;
        let sum = <[u8; 8]>::try_from(report.outcome.return_data.as_slice())
            .map_err(|_| BenchError::new("the kernel's return data is not 8 bytes"))?;
        Ok((u64::from_le_bytes(sum), report.outcome.gas_used))
    }
}
