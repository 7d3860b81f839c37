//! `Host::deploy` and `Host::invoke`: the API the daemon calls.

use std::sync::Arc;

use tos_engine_api::{
    Call, CallInput, EngineFault, ExitStatus, FeatureSet, Gas, GasMeter, Hash, Height, HostAbi,
    HostError, ModuleTag, Outcome, PreparedModule, Trap,
};
use tos_syscalls::limits;

use crate::cache::{CacheKey, ModuleCache};
use crate::envelope::{
    ContractModule, DEFAULT_MAX_MODULE_SIZE, EnvelopeError, asset_id, contract_address,
};
use crate::protocol::{ActiveProtocol, Protocols};
use crate::provider::{
    AssetInfo, ContractProvider, Journal, ProviderError, StoredContract, StoredEntries,
};
use crate::registry::{Engine, EngineRegistry, RegisteredEngine};
use crate::schedule::{ActivationError, ActivationSchedule, ScheduleError};

/// Gas every call costs before the contract runs, in gas schedule version 1 (the cost
/// `call.intrinsic`; the schedule in force decides): reading the contract, the journal and the
/// input. A gas limit below it is refused before anything happens.
pub const INTRINSIC_GAS: Gas = 1_000;

/// Largest params a call may carry, in bytes.
pub const MAX_PARAMS_LEN: usize = 64 * 1024;

/// The block and transaction a deploy or call executes in.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TxContext {
    /// Height of the block.
    pub height: Height,
    /// Hash of the block.
    pub block_hash: Hash,
    /// Hash of the transaction.
    pub tx_hash: Hash,
    /// The account that signed the transaction: the deployer, or the caller.
    pub source: Hash,
}

/// Why the host refused a deploy or a call before it ran. Nothing was executed or charged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The envelope is malformed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The schedule refuses the deploy.
    #[error(transparent)]
    Activation(#[from] ActivationError),
    /// No engine for the tag (not compiled in, or not the version the schedule names).
    #[error("no engine for {tag}{}", version.map(|v| format!(" version {v}")).unwrap_or_default())]
    EngineUnavailable {
        /// The tag.
        tag: ModuleTag,
        /// The version the schedule asks for, if it names one.
        version: Option<u32>,
    },
    /// The engine refused the module.
    #[error("{tag} module refused: {source}")]
    Load {
        /// The tag.
        tag: ModuleTag,
        /// The engine's error.
        source: tos_engine_api::LoadError,
    },
    /// Hook 0, the constructor, runs once, at deploy; it cannot be invoked afterwards.
    #[error("hook 0 is the constructor: it runs once, at deploy, and cannot be invoked")]
    ConstructorCall,
    /// A contract already exists at the address.
    #[error("a contract already exists at {}", hex32(.0))]
    ContractExists(Hash),
    /// No contract at the address.
    #[error("no contract at {}", hex32(.0))]
    UnknownContract(Hash),
    /// The gas limit does not cover the intrinsic cost.
    #[error("gas limit {limit} is below the {needed} gas every call costs")]
    GasTooLow {
        /// The limit given.
        limit: Gas,
        /// The intrinsic cost.
        needed: Gas,
    },
    /// The gas limit does not cover the deploy's own cost (before any constructor).
    #[error(
        "gas limit {limit} is below the {needed} gas a deploy of {code_len} bytes of code costs"
    )]
    DeployGasTooLow {
        /// The limit given.
        limit: Gas,
        /// The deploy's cost: base + per byte of code.
        needed: Gas,
        /// Bytes of (decompressed) code.
        code_len: usize,
    },
    /// The gas limit is above the per-transaction cap of the schedule in force.
    #[error("gas limit {limit} is above the cap of {cap} gas per transaction")]
    GasAboveCap {
        /// The limit given.
        limit: Gas,
        /// The cap (`tx.max_gas`).
        cap: Gas,
    },
    /// Params longer than [`MAX_PARAMS_LEN`].
    #[error("params are {len} bytes, over the limit of {limit}")]
    ParamsTooLarge {
        /// Their length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A deposit would overflow the contract's balance.
    #[error("deposit of {amount} would overflow the contract's balance of asset {}", hex32(.asset))]
    DepositOverflow {
        /// The asset.
        asset: Hash,
        /// The amount.
        amount: u64,
    },
    /// The state backend failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// An engine failed (a node fault).
    #[error(transparent)]
    Fault(#[from] EngineFault),
}

impl Error {
    /// A refusal of the module, or a node fault when the engine failed while preparing.
    fn from_load(tag: ModuleTag, source: tos_engine_api::LoadError) -> Error {
        match source {
            tos_engine_api::LoadError::Fault(fault) => Error::Fault(fault),
            source => Error::Load { tag, source },
        }
    }
}

fn hex32(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// An event a contract fired.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// The contract.
    pub contract: Hash,
    /// Contract-defined id.
    pub id: u64,
    /// Payload.
    pub data: Vec<u8>,
}

/// A balance move a contract made with `tos_transfer`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transfer {
    /// The contract paying.
    pub from: Hash,
    /// The receiver.
    pub to: Hash,
    /// The asset.
    pub asset: Hash,
    /// The amount.
    pub amount: u64,
}

/// What a call did. Events and transfers are reported only when it succeeded (otherwise
/// they never happened); logs are kept either way, for diagnosis.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallReport {
    /// Exit code or trap, gas used (intrinsic gas included), return data.
    pub outcome: Outcome,
    /// Events fired.
    pub events: Vec<Event>,
    /// Log lines.
    pub logs: Vec<Vec<u8>>,
    /// Balance moves.
    pub transfers: Vec<Transfer>,
    /// The engine that ran the call.
    pub engine: &'static str,
    /// The engine version the schedule selected at the call's height.
    pub engine_version: u32,
}

impl CallReport {
    /// Whether the call succeeded (and its effects were committed).
    pub fn is_success(&self) -> bool {
        self.outcome.is_success()
    }
}

/// What a deploy did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeployResult {
    /// Gas the deploy itself cost (base + per byte of code), before the constructor.
    pub deploy_gas: Gas,
    /// The contract's address (see [`contract_address`]).
    pub address: Hash,
    /// blake3 of the code.
    pub code_hash: Hash,
    /// Tag of the module.
    pub tag: ModuleTag,
    /// The constructor's report, when the module has hook 0.
    pub constructor: Option<CallReport>,
    /// Whether the contract now exists: false when the constructor failed (then nothing
    /// of the deploy was stored).
    pub deployed: bool,
    /// Gas charged in all: the deploy's own cost plus the constructor's.
    pub gas_used: Gas,
}

/// A call to a deployed contract.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InvokeRequest {
    /// The contract.
    pub contract: Hash,
    /// Entry or hook.
    pub call: Call,
    /// Params (at most [`MAX_PARAMS_LEN`] bytes).
    pub params: Vec<u8>,
    /// Gas limit, intrinsic gas included.
    pub gas_limit: Gas,
    /// Assets credited to the contract before it runs; nothing is credited if the call fails.
    /// The caller's debit is the embedder's business (the daemon debits the transaction's
    /// sender when it builds the transaction).
    pub deposits: Vec<(Hash, u64)>,
}

/// The constructor arguments of a deploy.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeployRequest {
    /// The envelope bytes: plain (borsh `tag + code`) or zstd-compressed
    /// ([`ContractModule`](crate::ContractModule) describes both).
    pub envelope: Vec<u8>,
    /// Params of the constructor.
    pub params: Vec<u8>,
    /// Gas limit of the whole deploy: its own cost (base + per byte of code), then the
    /// constructor's intrinsic gas and execution.
    pub gas_limit: Gas,
}

/// Host configuration.
#[derive(Clone, Debug)]
pub struct HostConfig {
    max_module_size: usize,
    cache_capacity: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            max_module_size: DEFAULT_MAX_MODULE_SIZE,
            cache_capacity: crate::cache::DEFAULT_CACHE_CAPACITY,
        }
    }
}

impl HostConfig {
    /// Largest deploy envelope accepted, and largest decompressed code a compressed envelope
    /// may declare. Default: 1 MiB.
    pub fn set_max_module_size(&mut self, bytes: usize) -> &mut Self {
        self.max_module_size = bytes;
        self
    }

    /// Prepared modules kept in the cache. Default: 256.
    pub fn set_cache_capacity(&mut self, modules: usize) -> &mut Self {
        self.cache_capacity = modules;
        self
    }
}

/// The contract host: runs deploys and calls on the engine the schedule picks, against a
/// journal of the state, committing only what succeeds.
#[derive(Debug)]
pub struct Host {
    registry: EngineRegistry,
    schedule: ActivationSchedule,
    protocols: Protocols,
    cache: ModuleCache,
    config: HostConfig,
}

impl Host {
    /// A host over `registry` following `schedule`.
    ///
    /// # Errors
    /// [`ScheduleError::Protocol`] when the schedule names a feature no linked syscall
    /// declares or a cost no syscall or engine declares, orders its gas schedules wrongly, or
    /// sets a cost an engine cannot take.
    pub fn new(
        registry: EngineRegistry,
        schedule: ActivationSchedule,
    ) -> Result<Self, ScheduleError> {
        Self::with_config(registry, schedule, HostConfig::default())
    }

    /// A host with an explicit configuration.
    ///
    /// # Errors
    /// As [`Host::new`].
    pub fn with_config(
        registry: EngineRegistry,
        schedule: ActivationSchedule,
        config: HostConfig,
    ) -> Result<Self, ScheduleError> {
        let protocols = Protocols::build(&schedule, &registry)?;
        Ok(Host {
            registry,
            schedule,
            protocols,
            cache: ModuleCache::new(config.cache_capacity),
            config,
        })
    }

    /// The protocol in force at `height`: live syscalls, gas schedule, digests, constants.
    pub fn protocol_at(&self, height: Height) -> &ActiveProtocol {
        self.protocols.at(height)
    }

    /// The engines.
    pub fn registry(&self) -> &EngineRegistry {
        &self.registry
    }

    /// The schedule.
    pub fn schedule(&self) -> &ActivationSchedule {
        &self.schedule
    }

    /// The prepared-module cache (for its counters).
    pub fn cache(&self) -> &ModuleCache {
        &self.cache
    }

    fn engine_at(&self, tag: ModuleTag, height: Height) -> Result<&RegisteredEngine, Error> {
        let version = self.schedule.engine_version(tag, height);
        match version {
            Some(v) => self
                .registry
                .get(tag, v)
                .ok_or(Error::EngineUnavailable { tag, version }),
            None => Err(Error::EngineUnavailable { tag, version: None }),
        }
    }

    /// Prepares `module` as the engine serving its tag at `height` would, through the cache.
    ///
    /// # Errors
    /// [`Error::EngineUnavailable`] or [`Error::Load`].
    pub fn prepare(
        &self,
        module: &ContractModule,
        height: Height,
    ) -> Result<Arc<dyn PreparedModule>, Error> {
        self.prepare_hashed(module, &module.code_hash(), height)
            .map(|p| p.module)
    }

    /// Prepares `module` as [`Host::prepare`] does but without the cache: for tools that
    /// measure preparation or must not fill the cache.
    ///
    /// # Errors
    /// [`Error::EngineUnavailable`] or [`Error::Load`].
    pub fn prepare_uncached(
        &self,
        module: &ContractModule,
        height: Height,
    ) -> Result<Arc<dyn PreparedModule>, Error> {
        let engine = self.engine_at(module.tag, height)?;
        guarded_prepare(engine, &module.code, self.protocol_at(height).protocol())
            .map_err(|source| Error::from_load(module.tag, source))
    }

    fn prepare_hashed(
        &self,
        module: &ContractModule,
        code_hash: &Hash,
        height: Height,
    ) -> Result<Prepared, Error> {
        self.prepare_with(module.tag, code_hash, height, || Ok(module.code.clone()))
    }

    /// The prepared module of the code with `code_hash`, from the cache, or prepared from the
    /// code `load` reads, which runs only on a cache miss.
    fn prepare_with(
        &self,
        tag: ModuleTag,
        code_hash: &Hash,
        height: Height,
        load: impl FnOnce() -> Result<Vec<u8>, Error>,
    ) -> Result<Prepared, Error> {
        let engine = self.engine_at(tag, height)?;
        let protocol = self.protocol_at(height);
        let key = CacheKey {
            code_hash: *code_hash,
            engine: engine.name(),
            version: engine.version(),
            protocol: protocol.digest(),
        };
        let module = self.cache.get_or_prepare(&key, || {
            let code = load()?;
            guarded_prepare(engine, &code, protocol.protocol())
                .map_err(|source| Error::from_load(tag, source))
        })?;
        Ok(Prepared {
            module,
            engine: key.engine,
            version: key.version,
        })
    }

    /// The features live at `height`.
    pub fn features_at(&self, height: Height) -> FeatureSet {
        self.protocol_at(height).features().clone()
    }

    /// Refuses a gas limit above the per-transaction cap in force.
    fn check_cap(protocol: &ActiveProtocol, limit: Gas) -> Result<(), Error> {
        if limit > protocol.max_tx_gas() {
            return Err(Error::GasAboveCap {
                limit,
                cap: protocol.max_tx_gas(),
            });
        }
        Ok(())
    }

    /// Deploys a module: checks the envelope, the schedule and that the gas limit covers the
    /// deploy's cost (all before any compilation), prepares the module (so a broken one never
    /// reaches the state), stores it at its address and runs the constructor (hook 0) when the
    /// module has one, with the gas left. If the constructor fails nothing is stored.
    ///
    /// # Errors
    /// An [`Error`] when the deploy is refused before anything ran.
    pub fn deploy(
        &self,
        state: &mut dyn ContractProvider,
        tx: &TxContext,
        request: &DeployRequest,
    ) -> Result<DeployResult, Error> {
        let protocol = self.protocol_at(tx.height);
        Self::check_cap(protocol, request.gas_limit)?;
        let module = ContractModule::decode(&request.envelope, self.config.max_module_size)?;
        self.schedule.check_deploy(module.tag, tx.height)?;
        let engine = self.engine_at(module.tag, tx.height)?;
        let deploy_gas = protocol.deploy_cost_for(engine.name(), module.code.len());
        if request.gas_limit < deploy_gas {
            return Err(Error::DeployGasTooLow {
                limit: request.gas_limit,
                needed: deploy_gas,
                code_len: module.code.len(),
            });
        }
        if request.params.len() > MAX_PARAMS_LEN {
            return Err(Error::ParamsTooLarge {
                len: request.params.len(),
                limit: MAX_PARAMS_LEN,
            });
        }
        let code_hash = module.code_hash();
        let prepared = self.prepare_hashed(&module, &code_hash, tx.height)?;
        let address = contract_address(&tx.source, module.tag, &code_hash);
        if state.contract(&address)?.is_some() {
            return Err(Error::ContractExists(address));
        }
        let tag = module.tag;
        let stored = StoredContract {
            module,
            code_hash,
            deployer: tx.source,
            deployed_at: tx.height,
            entries: StoredEntries::from(&prepared.module.info().entries),
        };
        let has_constructor = prepared.module.info().entries.has_constructor();
        let (changes, constructor) = {
            let mut journal = Journal::new(&*state);
            journal.set_contract(address, Some(stored));
            if has_constructor {
                let call = CallSpec {
                    contract: address,
                    call: Call::CONSTRUCTOR,
                    params: &request.params,
                    gas_limit: request.gas_limit - deploy_gas,
                    intrinsic: protocol.intrinsic(),
                };
                let report = run_call(&mut journal, &prepared, tx, &call)?;
                let ok = report.is_success();
                (ok.then(|| journal.into_changes()), Some(report))
            } else {
                (Some(journal.into_changes()), None)
            }
        };
        let deployed = changes.is_some();
        if let Some(changes) = changes {
            state.apply(&changes)?;
        }
        let gas_used = constructor
            .as_ref()
            .map_or(0, |r| r.outcome.gas_used)
            .saturating_add(deploy_gas);
        Ok(DeployResult {
            deploy_gas,
            address,
            code_hash,
            tag,
            constructor,
            deployed,
            gas_used,
        })
    }

    fn check_call_limits(
        protocol: &ActiveProtocol,
        params_len: usize,
        gas_limit: Gas,
    ) -> Result<(), Error> {
        Self::check_cap(protocol, gas_limit)?;
        if params_len > MAX_PARAMS_LEN {
            return Err(Error::ParamsTooLarge {
                len: params_len,
                limit: MAX_PARAMS_LEN,
            });
        }
        if gas_limit < protocol.intrinsic() {
            return Err(Error::GasTooLow {
                limit: gas_limit,
                needed: protocol.intrinsic(),
            });
        }
        Ok(())
    }

    /// Calls a deployed contract. Its writes, balance moves and events are committed only
    /// when it exits with 0; otherwise the state is untouched and only gas is charged.
    ///
    /// # Errors
    /// An [`Error`] when the call is refused before it ran.
    pub fn invoke(
        &self,
        state: &mut dyn ContractProvider,
        tx: &TxContext,
        request: &InvokeRequest,
    ) -> Result<CallReport, Error> {
        if request.call == Call::CONSTRUCTOR {
            return Err(Error::ConstructorCall);
        }
        let protocol = self.protocol_at(tx.height);
        Self::check_call_limits(protocol, request.params.len(), request.gas_limit)?;
        let header = state
            .contract_header(&request.contract)?
            .ok_or(Error::UnknownContract(request.contract))?;
        if !header.entries.accepts(request.call) {
            // Refused from the entry table kept at deploy: nothing is read, prepared or run.
            let engine = self.engine_at(header.tag, tx.height)?;
            return Ok(CallReport {
                outcome: Outcome {
                    status: ExitStatus::Trap(Trap::UnknownEntry(request.call)),
                    gas_used: protocol.intrinsic(),
                    return_data: Vec::new(),
                },
                events: Vec::new(),
                logs: Vec::new(),
                transfers: Vec::new(),
                engine: engine.name(),
                engine_version: engine.version(),
            });
        }
        let address = request.contract;
        let prepared = self.prepare_with(header.tag, &header.code_hash, tx.height, || {
            let contract = state
                .contract(&address)?
                .ok_or(Error::UnknownContract(address))?;
            Ok(contract.module.code)
        })?;
        let (changes, report) = {
            let mut journal = Journal::new(&*state);
            for (asset, amount) in &request.deposits {
                let balance = journal.balance(&request.contract, asset)?;
                let credited = balance.checked_add(*amount).ok_or(Error::DepositOverflow {
                    asset: *asset,
                    amount: *amount,
                })?;
                journal.set_balance(request.contract, *asset, credited);
            }
            let call = CallSpec {
                contract: request.contract,
                call: request.call,
                params: &request.params,
                gas_limit: request.gas_limit,
                intrinsic: protocol.intrinsic(),
            };
            let report = run_call(&mut journal, &prepared, tx, &call)?;
            (report.is_success().then(|| journal.into_changes()), report)
        };
        if let Some(changes) = changes {
            state.apply(&changes)?;
        }
        Ok(report)
    }
}

/// A prepared module and the engine that prepared it.
struct Prepared {
    module: Arc<dyn PreparedModule>,
    engine: &'static str,
    version: u32,
}

/// One call to run: which contract, what, with which params and gas.
struct CallSpec<'a> {
    contract: Hash,
    call: Call,
    params: &'a [u8],
    /// Gas limit, the intrinsic cost included.
    gas_limit: Gas,
    /// The intrinsic cost in force.
    intrinsic: Gas,
}

/// Runs one call in a savepoint of `journal`; rolls the savepoint back unless it succeeded.
fn run_call<P: ContractProvider + ?Sized>(
    journal: &mut Journal<'_, P>,
    prepared: &Prepared,
    tx: &TxContext,
    spec: &CallSpec<'_>,
) -> Result<CallReport, Error> {
    let &CallSpec {
        contract,
        call,
        params,
        gas_limit,
        intrinsic,
    } = spec;
    let module = &*prepared.module;
    let report = |outcome, events, logs, transfers| CallReport {
        outcome,
        events,
        logs,
        transfers,
        engine: prepared.engine,
        engine_version: prepared.version,
    };
    if gas_limit < intrinsic {
        // Only a constructor can get here (a call's limit is checked before it is accepted):
        // the deploy's own cost left too little; it runs out of gas before starting.
        let mut meter = GasMeter::new(gas_limit);
        meter.exhaust();
        let outcome = Outcome {
            status: ExitStatus::Trap(Trap::OutOfGas),
            gas_used: meter.used(),
            return_data: Vec::new(),
        };
        return Ok(report(outcome, vec![], vec![], vec![]));
    }
    if !module.info().entries.accepts(call) {
        let outcome = Outcome {
            status: ExitStatus::Trap(Trap::UnknownEntry(call)),
            gas_used: intrinsic,
            return_data: Vec::new(),
        };
        return Ok(report(outcome, vec![], vec![], vec![]));
    }
    let input = CallInput::header(call, params.len())
        .map(|h| [h.as_slice(), params].concat())
        .map_err(|_| Error::ParamsTooLarge {
            len: params.len(),
            limit: MAX_PARAMS_LEN,
        })?;
    let savepoint = journal.savepoint();
    let mut host = CallHost {
        journal: &mut *journal,
        contract,
        tx,
        input,
        return_data: Vec::new(),
        events: Vec::new(),
        logs: Vec::new(),
        transfers: Vec::new(),
        fault: None,
    };
    let result = guarded_run(
        module,
        prepared.engine,
        call,
        params,
        &mut host,
        gas_limit.saturating_sub(intrinsic),
    );
    let CallHost {
        events,
        logs,
        transfers,
        fault,
        ..
    } = host;
    if let Some(fault) = fault {
        return Err(fault.into());
    }
    let mut outcome = result?;
    outcome.gas_used = outcome.gas_used.saturating_add(intrinsic).min(gas_limit);
    if outcome.is_success() {
        journal.release();
        Ok(report(outcome, events, logs, transfers))
    } else {
        journal.rollback_to(savepoint);
        Ok(report(outcome, vec![], logs, vec![]))
    }
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// `engine.prepare`, with a panic inside the engine (a bug a hostile module found) caught and
/// reported as a fault of the node for this module, never a dead process.
fn guarded_prepare(
    engine: &RegisteredEngine,
    code: &[u8],
    protocol: &tos_engine_api::Protocol,
) -> Result<Arc<dyn PreparedModule>, tos_engine_api::LoadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.prepare(code, protocol)
    }))
    .unwrap_or_else(|panic| {
        Err(tos_engine_api::LoadError::Fault(EngineFault::new(
            engine.name(),
            format!(
                "the engine panicked while preparing: {}",
                panic_message(&*panic)
            ),
        )))
    })
}

/// `module.run`, with a panic caught and reported as a fault of the node (the transaction's
/// writes are then discarded: the host applies nothing after a fault).
fn guarded_run(
    module: &dyn PreparedModule,
    engine: &'static str,
    call: Call,
    params: &[u8],
    host: &mut dyn HostAbi,
    gas_limit: Gas,
) -> Result<Outcome, EngineFault> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        module.run(call, params, host, gas_limit)
    }))
    .unwrap_or_else(|panic| {
        Err(EngineFault::new(
            engine,
            format!(
                "the engine panicked while running: {}",
                panic_message(&*panic)
            ),
        ))
    })
}

/// The [`HostAbi`] of one call, over the journal.
struct CallHost<'j, 'p, P: ContractProvider + ?Sized> {
    journal: &'j mut Journal<'p, P>,
    contract: Hash,
    tx: &'j TxContext,
    input: Vec<u8>,
    return_data: Vec<u8>,
    events: Vec<Event>,
    logs: Vec<Vec<u8>>,
    transfers: Vec<Transfer>,
    /// A provider failure, kept so the host reports it as a fault even if the engine
    /// turned it into something else.
    fault: Option<ProviderError>,
}

impl<P: ContractProvider + ?Sized> CallHost<'_, '_, P> {
    fn state<T>(&mut self, r: Result<T, ProviderError>) -> Result<T, HostError> {
        r.map_err(|e| {
            let msg = e.to_string();
            self.fault = Some(e);
            HostError::Fault(msg)
        })
    }
}

impl<P: ContractProvider + ?Sized> HostAbi for CallHost<'_, '_, P> {
    fn input(&self) -> &[u8] {
        &self.input
    }
    fn contract_hash(&self) -> Hash {
        self.contract
    }
    fn tx_hash(&self) -> Hash {
        self.tx.tx_hash
    }
    fn tx_source(&self) -> Hash {
        self.tx.source
    }
    fn block_hash(&self) -> Hash {
        self.tx.block_hash
    }
    fn block_height(&self) -> Height {
        self.tx.height
    }
    fn log(&mut self, message: &[u8]) -> Result<(), HostError> {
        limits::check_count("logs per call", self.logs.len(), limits::MAX_LOGS_PER_CALL)?;
        self.logs.push(message.to_vec());
        Ok(())
    }
    fn set_return_data(&mut self, data: &[u8]) -> Result<(), HostError> {
        if data.len() as u64 > limits::MAX_RETURN_DATA_LEN {
            return Err(HostError::LimitExceeded {
                what: "return data bytes",
                limit: limits::MAX_RETURN_DATA_LEN,
            });
        }
        self.return_data = data.to_vec();
        Ok(())
    }
    fn take_return_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.return_data)
    }
    fn storage_load(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        let r = self.journal.storage(&self.contract, key);
        self.state(r)
    }
    fn storage_store(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        self.journal
            .set_storage(self.contract, key.to_vec(), Some(value.to_vec()));
        Ok(())
    }
    fn storage_delete(&mut self, key: &[u8]) -> Result<bool, HostError> {
        let r = self.journal.storage(&self.contract, key);
        let existed = self.state(r)?.is_some();
        if existed {
            self.journal.set_storage(self.contract, key.to_vec(), None);
        }
        Ok(existed)
    }
    fn balance(&mut self, asset: &Hash) -> Result<u64, HostError> {
        let r = self.journal.balance(&self.contract, asset);
        self.state(r)
    }
    fn transfer(&mut self, to: &Hash, asset: &Hash, amount: u64) -> Result<bool, HostError> {
        if amount == 0 {
            // Moves nothing and creates no balance record: a zero transfer costs its syscall
            // gas and stores nothing.
            return Ok(true);
        }
        let from_balance = self.balance(asset)?;
        let Some(left) = from_balance.checked_sub(amount) else {
            return Ok(false);
        };
        if *to != self.contract {
            let r = self.journal.balance(to, asset);
            let to_balance = self.state(r)?;
            let credited = to_balance
                .checked_add(amount)
                .ok_or(HostError::LimitExceeded {
                    what: "receiver balance",
                    limit: u64::MAX,
                })?;
            self.journal.set_balance(self.contract, *asset, left);
            self.journal.set_balance(*to, *asset, credited);
        }
        self.transfers.push(Transfer {
            from: self.contract,
            to: *to,
            asset: *asset,
            amount,
        });
        Ok(true)
    }
    fn burn(&mut self, asset: &Hash, amount: u64) -> Result<bool, HostError> {
        let balance = self.balance(asset)?;
        let Some(left) = balance.checked_sub(amount) else {
            return Ok(false);
        };
        if amount > 0 {
            // Burning the native asset only lowers the balance; assets also lower their supply.
            let r = self.journal.asset(asset);
            if let Some(mut info) = self.state(r)? {
                info.supply = info.supply.saturating_sub(amount);
                self.journal.set_asset(*asset, info);
            }
            self.journal.set_balance(self.contract, *asset, left);
        }
        Ok(true)
    }
    fn asset_create(&mut self, name: &[u8], decimals: u8) -> Result<(Hash, bool), HostError> {
        let id = asset_id(&self.contract, name);
        if id == tos_engine_api::NATIVE_ASSET {
            return Err(HostError::InvalidArgument(
                "asset id collides with the native asset".into(),
            ));
        }
        let r = self.journal.asset(&id);
        if self.state(r)?.is_some() {
            return Ok((id, false));
        }
        self.journal.set_asset(
            id,
            AssetInfo {
                creator: self.contract,
                name: name.to_vec(),
                decimals,
                supply: 0,
            },
        );
        Ok((id, true))
    }
    fn asset_mint(&mut self, asset: &Hash, amount: u64) -> Result<bool, HostError> {
        let r = self.journal.asset(asset);
        let Some(mut info) = self.state(r)? else {
            return Ok(false);
        };
        if info.creator != self.contract {
            return Ok(false);
        }
        let balance = self.balance(asset)?;
        let (Some(supply), Some(balance)) =
            (info.supply.checked_add(amount), balance.checked_add(amount))
        else {
            return Ok(false);
        };
        info.supply = supply;
        self.journal.set_asset(*asset, info);
        self.journal.set_balance(self.contract, *asset, balance);
        Ok(true)
    }
    fn fire_event(&mut self, id: u64, data: &[u8]) -> Result<(), HostError> {
        limits::check_count(
            "events per call",
            self.events.len(),
            limits::MAX_EVENTS_PER_CALL,
        )?;
        self.events.push(Event {
            contract: self.contract,
            id,
            data: data.to_vec(),
        });
        Ok(())
    }
}
