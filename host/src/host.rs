//! `Host::deploy` and `Host::invoke`: the API the daemon calls.

use std::sync::Arc;

use tos_engine_api::{
    Call, EngineFault, ExitStatus, FeatureSet, Gas, Hash, Height, ModuleTag, Outcome,
    PreparedModule, Trap,
};

use crate::cache::{CacheKey, ModuleCache};
use crate::envelope::{ContractModule, DEFAULT_MAX_MODULE_SIZE, EnvelopeError, contract_address};
use crate::frame::{CallFrame, Env, Prepared, TopCall, guarded_prepare, run_call};
use crate::protocol::{ActiveProtocol, Protocols};
use crate::provider::{ContractProvider, Journal, ProviderError, StoredContract, StoredEntries};
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
    /// The block's timestamp, seconds since the Unix epoch (ABI v2 `tos_get_block_timestamp`).
    pub timestamp: u64,
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

/// What a call did: the call tree, and its kept effects flattened in execution order.
///
/// Events and transfers are those of frames that were kept (a failed frame's never happened;
/// a failed top-level call keeps none); logs are kept either way, for diagnosis. The whole
/// tree, failed frames included, is in [`CallReport::frame`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallReport {
    /// The top-level call's exit code or trap, gas used (intrinsic gas and every nested call
    /// included), return data.
    pub outcome: Outcome,
    /// Events fired by kept frames, in execution order.
    pub events: Vec<Event>,
    /// Log lines of every frame, in execution order.
    pub logs: Vec<Vec<u8>>,
    /// Balance moves of kept frames (`tos_transfer`), in execution order.
    pub transfers: Vec<Transfer>,
    /// The engine that ran the top-level call.
    pub engine: &'static str,
    /// The engine version the schedule selected at the call's height.
    pub engine_version: u32,
    /// The call tree: the top-level frame, and under it every call it made (refused ones
    /// too), in execution order.
    pub frame: CallFrame,
}

impl CallReport {
    /// Whether the call succeeded (and its effects were committed).
    pub fn is_success(&self) -> bool {
        self.outcome.is_success()
    }

    /// The report of a call tree whose frames are settled (`discarded` set): the top frame's
    /// outcome and engine, with the kept events and transfers and all logs flattened.
    pub fn from_frame(frame: CallFrame) -> CallReport {
        CallReport {
            outcome: frame.outcome.clone(),
            events: frame.kept_events(),
            logs: frame.all_logs(),
            transfers: frame.kept_transfers(),
            engine: frame.engine,
            engine_version: frame.engine_version,
            frame,
        }
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

    pub(crate) fn prepare_hashed(
        &self,
        module: &ContractModule,
        code_hash: &Hash,
        height: Height,
    ) -> Result<Prepared, Error> {
        self.prepare_with(module.tag, code_hash, height, || Ok(module.code.clone()))
    }

    /// The prepared module of the code with `code_hash`, from the cache, or prepared from the
    /// code `load` reads, which runs only on a cache miss.
    pub(crate) fn prepare_with(
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
            native_stack: engine
                .native_stack()
                .saturating_add(crate::frame::HOST_FRAME_STACK),
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
                let call = TopCall {
                    contract: address,
                    call: Call::CONSTRUCTOR,
                    params: &request.params,
                    gas_limit: request.gas_limit - deploy_gas,
                    deposits: &[],
                };
                let env = Env {
                    host: self,
                    protocol,
                    tx,
                };
                let report = run_call(&env, &mut journal, &prepared, &call)?;
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
            return Ok(CallReport::from_frame(CallFrame {
                contract: request.contract,
                call: request.call,
                caller: tx.source,
                deposits: request.deposits.clone(),
                engine: engine.name(),
                engine_version: engine.version(),
                gas_limit: request.gas_limit,
                outcome: Outcome {
                    status: ExitStatus::Trap(Trap::UnknownEntry(request.call)),
                    gas_used: protocol.intrinsic(),
                    return_data: Vec::new(),
                },
                discarded: true,
                trace: Vec::new(),
            }));
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
            let call = TopCall {
                contract: request.contract,
                call: request.call,
                params: &request.params,
                gas_limit: request.gas_limit,
                deposits: &request.deposits,
            };
            let env = Env {
                host: self,
                protocol,
                tx,
            };
            let report = run_call(&env, &mut journal, &prepared, &call)?;
            (report.is_success().then(|| journal.into_changes()), report)
        };
        if let Some(changes) = changes {
            state.apply(&changes)?;
        }
        Ok(report)
    }
}
