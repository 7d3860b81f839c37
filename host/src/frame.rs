//! Running calls: one frame per contract on the call stack, each over a savepoint of the
//! transaction's journal, with nested frames (ABI v2 `tos_call`) run by the host while the
//! calling engine waits inside the syscall.

use std::sync::Arc;

use tos_engine_api::{
    Call, CallInput, CallRefusal, CallRequest, CallResult, EngineFault, ExitStatus, Gas, GasMeter,
    Hash, Height, HostAbi, HostError, Outcome, PreparedModule, Trap,
};
use tos_syscalls::limits;

use crate::envelope::asset_id;
use crate::host::{CallReport, Error, Event, Host, MAX_PARAMS_LEN, Transfer, TxContext};
use crate::protocol::ActiveProtocol;
use crate::provider::{AssetInfo, ContractProvider, Journal, ProviderError};

/// Native stack the host's own code in a frame may use on top of what the engine declares
/// ([`ExecutionEngine::native_stack`](tos_engine_api::ExecutionEngine::native_stack)).
pub(crate) const HOST_FRAME_STACK: usize = 256 * 1024;

/// A prepared module and the engine that prepared it.
pub(crate) struct Prepared {
    pub(crate) module: Arc<dyn PreparedModule>,
    pub(crate) engine: &'static str,
    pub(crate) version: u32,
    /// Native stack a frame of this engine needs (the engine's declaration plus the host's).
    pub(crate) native_stack: usize,
}

/// One item of a frame's trace, in execution order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FrameItem {
    /// An event the frame's contract fired.
    Event(Event),
    /// A log line of the frame's contract.
    Log(Vec<u8>),
    /// A balance move the frame's contract made with `tos_transfer`.
    Transfer(Transfer),
    /// A call the contract made that ran (whatever its outcome).
    Call(Box<CallFrame>),
    /// A call the contract made that the host refused: the callee did not run.
    Refused {
        /// The contract it tried to call.
        callee: Hash,
        /// The entry.
        entry: u16,
        /// Why it was refused.
        reason: CallRefusal,
    },
}

/// One contract frame of a call tree: the top-level call, or a call one contract made of
/// another (ABI v2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallFrame {
    /// The contract that ran.
    pub contract: Hash,
    /// What was called.
    pub call: Call,
    /// Who called: the calling contract, or the transaction's source at the top.
    pub caller: Hash,
    /// What the caller deposited with the call.
    pub deposits: Vec<(Hash, u64)>,
    /// The engine that ran it.
    pub engine: &'static str,
    /// The engine version the schedule selected.
    pub engine_version: u32,
    /// The gas the frame was given (the top frame's includes the intrinsic gas).
    pub gas_limit: Gas,
    /// Exit code or trap, gas used (for the top frame, the intrinsic gas included), return
    /// data.
    pub outcome: Outcome,
    /// Whether the frame's effects were thrown away: it failed, or a frame below it on the
    /// stack failed after it returned. Its events and transfers then never happened; they are
    /// kept here so an author can see what ran.
    pub discarded: bool,
    /// What the frame did, in execution order: events, logs, transfers and calls.
    pub trace: Vec<FrameItem>,
}

impl CallFrame {
    /// The frames this one called that ran, in order.
    pub fn calls(&self) -> impl Iterator<Item = &CallFrame> {
        self.trace.iter().filter_map(|item| match item {
            FrameItem::Call(frame) => Some(&**frame),
            _ => None,
        })
    }

    /// Marks the frame and everything under it discarded when it failed or `ancestor` says
    /// so.
    fn settle(&mut self, ancestor_discarded: bool) {
        self.discarded = ancestor_discarded || !self.outcome.is_success();
        let discarded = self.discarded;
        for item in &mut self.trace {
            if let FrameItem::Call(frame) = item {
                frame.settle(discarded);
            }
        }
    }

    /// Walks the tree in execution order.
    fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a CallFrame, &'a FrameItem)) {
        for item in &self.trace {
            visit(self, item);
            if let FrameItem::Call(frame) = item {
                frame.walk(visit);
            }
        }
    }

    /// The events of frames that were kept, in execution order.
    pub fn kept_events(&self) -> Vec<Event> {
        let mut out = Vec::new();
        self.walk(&mut |frame, item| {
            if let (false, FrameItem::Event(e)) = (frame.discarded, item) {
                out.push(e.clone());
            }
        });
        out
    }

    /// The transfers of frames that were kept, in execution order.
    pub fn kept_transfers(&self) -> Vec<Transfer> {
        let mut out = Vec::new();
        self.walk(&mut |frame, item| {
            if let (false, FrameItem::Transfer(t)) = (frame.discarded, item) {
                out.push(t.clone());
            }
        });
        out
    }

    /// Every log line of every frame, kept or not, in execution order.
    pub fn all_logs(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.walk(&mut |_, item| {
            if let FrameItem::Log(l) = item {
                out.push(l.clone());
            }
        });
        out
    }

    /// Number of frames in the tree, this one included.
    pub fn frame_count(&self) -> usize {
        1 + self.calls().map(CallFrame::frame_count).sum::<usize>()
    }
}

/// What every frame of one transaction shares.
pub(crate) struct Env<'a> {
    pub(crate) host: &'a Host,
    pub(crate) protocol: &'a ActiveProtocol,
    pub(crate) tx: &'a TxContext,
}

/// The transaction-wide state of a call stack.
#[derive(Default)]
struct Shared {
    /// The contracts on the stack, the running one last.
    stack: Stack,
    /// Events fired so far, kept or not (the per-transaction limit counts them all).
    events: usize,
    /// Log lines so far.
    logs: usize,
}

/// The contracts of the frames on the stack, the running one last: kept inline (at most
/// [`MAX_DEPTH_LIMIT`] frames), so a call allocates nothing for it.
struct Stack {
    frames: [Hash; MAX_DEPTH_LIMIT],
    len: usize,
}

/// The deepest stack any schedule may allow (`call.max_depth` is refused past it).
const MAX_DEPTH_LIMIT: usize = crate::protocol::costs::MAX_CALL_DEPTH_LIMIT as usize;

impl Default for Stack {
    fn default() -> Stack {
        Stack {
            frames: [[0; 32]; MAX_DEPTH_LIMIT],
            len: 0,
        }
    }
}

impl Stack {
    /// Pushes `contract`, or says the stack is full (the depth limit, checked before a
    /// call is run, keeps it from happening).
    fn push(&mut self, contract: Hash) -> Result<(), Error> {
        let Some(slot) = self.frames.get_mut(self.len) else {
            return Err(Error::Fault(EngineFault::new(
                "host",
                format!("more than {MAX_DEPTH_LIMIT} frames on the call stack"),
            )));
        };
        *slot = contract;
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn contains(&self, contract: &Hash) -> bool {
        self.frames
            .get(..self.len)
            .is_some_and(|live| live.contains(contract))
    }
}

/// The top-level call of a transaction (or a deploy's constructor).
pub(crate) struct TopCall<'a> {
    pub(crate) contract: Hash,
    pub(crate) call: Call,
    pub(crate) params: &'a [u8],
    /// Gas limit, the intrinsic cost included.
    pub(crate) gas_limit: Gas,
    pub(crate) deposits: &'a [(Hash, u64)],
}

/// One frame to run.
struct FrameSpec<'a> {
    contract: Hash,
    caller: Hash,
    call: Call,
    params: &'a [u8],
    deposits: Vec<(Hash, u64)>,
    /// Gas for the engine.
    gas_limit: Gas,
}

fn frame_without_run(
    spec: &TopCall<'_>,
    prepared: &Prepared,
    caller: Hash,
    status: ExitStatus,
    gas_used: Gas,
) -> CallReport {
    let frame = CallFrame {
        contract: spec.contract,
        call: spec.call,
        caller,
        deposits: spec.deposits.to_vec(),
        engine: prepared.engine,
        engine_version: prepared.version,
        gas_limit: spec.gas_limit,
        outcome: Outcome {
            status,
            gas_used,
            return_data: Vec::new(),
        },
        discarded: true,
        trace: Vec::new(),
    };
    CallReport::from_frame(frame)
}

/// Runs the top-level call in a savepoint of `journal`; rolls the savepoint back unless it
/// succeeded. The caller has credited the deposits.
pub(crate) fn run_call<P: ContractProvider + ?Sized>(
    env: &Env<'_>,
    journal: &mut Journal<'_, P>,
    prepared: &Prepared,
    spec: &TopCall<'_>,
) -> Result<CallReport, Error> {
    let intrinsic = env.protocol.intrinsic();
    let caller = env.tx.source;
    if spec.gas_limit < intrinsic {
        // Only a constructor can get here (a call's limit is checked before it is accepted):
        // the deploy's own cost left too little; it runs out of gas before starting.
        let mut meter = GasMeter::new(spec.gas_limit);
        meter.exhaust();
        let status = ExitStatus::Trap(Trap::OutOfGas);
        return Ok(frame_without_run(
            spec,
            prepared,
            caller,
            status,
            meter.used(),
        ));
    }
    if !prepared.module.info().entries.accepts(spec.call) {
        let status = ExitStatus::Trap(Trap::UnknownEntry(spec.call));
        return Ok(frame_without_run(spec, prepared, caller, status, intrinsic));
    }
    let savepoint = journal.savepoint();
    let mut shared = Shared::default();
    let frame_spec = FrameSpec {
        contract: spec.contract,
        caller,
        call: spec.call,
        params: spec.params,
        deposits: spec.deposits.to_vec(),
        gas_limit: spec.gas_limit.saturating_sub(intrinsic),
    };
    let mut frame = run_frame(env, journal, &mut shared, prepared, frame_spec)?;
    frame.gas_limit = spec.gas_limit;
    frame.outcome.gas_used = frame
        .outcome
        .gas_used
        .saturating_add(intrinsic)
        .min(spec.gas_limit);
    if frame.outcome.is_success() {
        journal.release();
    } else {
        journal.rollback_to(savepoint);
    }
    frame.settle(false);
    Ok(CallReport::from_frame(frame))
}

/// Runs one frame's engine on a native stack with room for it. The caller opened the
/// savepoint and decides what to keep.
fn run_frame<P: ContractProvider + ?Sized>(
    env: &Env<'_>,
    journal: &mut Journal<'_, P>,
    shared: &mut Shared,
    prepared: &Prepared,
    spec: FrameSpec<'_>,
) -> Result<CallFrame, Error> {
    let input = call_input(spec.call, spec.params)?;
    shared.stack.push(spec.contract)?;
    let mut host = CallHost::new(
        env,
        journal,
        shared,
        (spec.contract, spec.caller),
        &spec.deposits,
        input,
    );
    let module = &*prepared.module;
    // Every frame starts with the stack its engine declares it may need: when less is left,
    // it runs on a fresh segment, so no chain of nested calls overflows the node's stack,
    // whatever the contracts do.
    let need = prepared.native_stack;
    let result = stacker::maybe_grow(need, need.saturating_add(HOST_FRAME_STACK), || {
        guarded_run(
            module,
            prepared.engine,
            spec.call,
            &mut host,
            spec.gas_limit,
        )
    });
    let CallHost { trace, fault, .. } = host;
    shared.stack.pop();
    if let Some(fault) = fault {
        return Err(fault);
    }
    let outcome = result?;
    Ok(CallFrame {
        contract: spec.contract,
        call: spec.call,
        caller: spec.caller,
        deposits: spec.deposits,
        engine: prepared.engine,
        engine_version: prepared.version,
        gas_limit: spec.gas_limit,
        discarded: !outcome.is_success(),
        outcome,
        trace,
    })
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Native stack preparing a module may use (an optimizing compiler's recursion over a module
/// within the engine's structural limits); less left means a fresh segment of twice this.
pub(crate) const PREPARE_STACK: usize = 4 * 1024 * 1024;

/// `engine.prepare`, on a native stack with room for it, with a panic inside the engine (a
/// bug a hostile module found) caught and reported as a fault of the node for this module,
/// never a dead process.
pub(crate) fn guarded_prepare(
    engine: &crate::registry::RegisteredEngine,
    code: &[u8],
    protocol: &tos_engine_api::Protocol,
) -> Result<Arc<dyn PreparedModule>, tos_engine_api::LoadError> {
    use crate::registry::Engine;
    stacker::maybe_grow(PREPARE_STACK, 2 * PREPARE_STACK, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.prepare(code, protocol)
        }))
    })
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
    host: &mut dyn HostAbi,
    gas_limit: Gas,
) -> Result<Outcome, EngineFault> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        module.run(call, host, gas_limit)
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

/// The [`HostAbi`] of one frame, over the journal.
struct CallHost<'e, 'j, 'p, P: ContractProvider + ?Sized> {
    env: &'e Env<'e>,
    journal: &'j mut Journal<'p, P>,
    shared: &'j mut Shared,
    contract: Hash,
    caller: Hash,
    deposits: &'j [(Hash, u64)],
    input: Vec<u8>,
    return_data: Vec<u8>,
    /// The return data of the last call this frame made, when it exited.
    last_return: Option<Vec<u8>>,
    trace: Vec<FrameItem>,
    /// A node failure (provider, engine), kept so the host reports it as a fault even if the
    /// engine turned it into something else.
    fault: Option<Error>,
}

/// The input a call's engine reads (ABI.md, "A call"): the header, then the params.
fn call_input(call: Call, params: &[u8]) -> Result<Vec<u8>, Error> {
    CallInput::header(call, params.len())
        .map(|h| [h.as_slice(), params].concat())
        .map_err(|_| Error::ParamsTooLarge {
            len: params.len(),
            limit: MAX_PARAMS_LEN,
        })
}

impl<'e, 'j, 'p, P: ContractProvider + ?Sized> CallHost<'e, 'j, 'p, P> {
    /// The host of a frame of `contract` called by `caller`, that has made no call yet.
    fn new(
        env: &'e Env<'e>,
        journal: &'j mut Journal<'p, P>,
        shared: &'j mut Shared,
        (contract, caller): (Hash, Hash),
        deposits: &'j [(Hash, u64)],
        input: Vec<u8>,
    ) -> Self {
        CallHost {
            env,
            journal,
            shared,
            contract,
            caller,
            deposits,
            input,
            return_data: Vec::new(),
            last_return: None,
            trace: Vec::new(),
            fault: None,
        }
    }
}

impl<P: ContractProvider + ?Sized> CallHost<'_, '_, '_, P> {
    fn state<T>(&mut self, r: Result<T, ProviderError>) -> Result<T, HostError> {
        r.map_err(|e| {
            let msg = e.to_string();
            self.fault = Some(Error::Provider(e));
            HostError::Fault(msg)
        })
    }

    fn height(&self) -> Height {
        self.env.tx.height
    }

    fn refuse(&mut self, request: &CallRequest, reason: CallRefusal) -> CallResult {
        self.last_return = None;
        self.trace.push(FrameItem::Refused {
            callee: request.callee,
            entry: request.entry,
            reason: reason.clone(),
        });
        CallResult::Refused(reason)
    }

    /// A nested call: checks, savepoint, deposits, the callee's frame, keep or discard.
    fn nested(&mut self, request: &CallRequest, gas_limit: Gas) -> Result<CallResult, Error> {
        let limit = self.env.protocol.max_call_depth();
        if self.shared.stack.len() as u64 >= limit {
            return Ok(self.refuse(request, CallRefusal::DepthExceeded { limit }));
        }
        if self.shared.stack.contains(&request.callee) {
            return Ok(self.refuse(request, CallRefusal::Reentrancy));
        }
        let Some(header) = self.journal.contract_header(&request.callee)? else {
            return Ok(self.refuse(request, CallRefusal::UnknownContract));
        };
        let call = Call::Entry(request.entry);
        if !header.entries.accepts(call) {
            return Ok(self.refuse(request, CallRefusal::UnknownEntry(request.entry)));
        }
        let journal = &*self.journal;
        let prepared =
            match self
                .env
                .host
                .prepare_with(header.tag, &header.code_hash, self.height(), || {
                    let contract = journal
                        .contract(&request.callee)?
                        .ok_or(Error::UnknownContract(request.callee))?;
                    Ok(contract.module.code)
                }) {
                Ok(prepared) => prepared,
                Err(Error::Fault(fault)) => return Err(Error::Fault(fault)),
                Err(Error::Provider(e)) => return Err(Error::Provider(e)),
                Err(e) => {
                    return Ok(self.refuse(request, CallRefusal::EngineUnavailable(e.to_string())));
                }
            };

        let savepoint = self.journal.savepoint();
        for (asset, amount) in &request.deposits {
            if *amount == 0 {
                continue;
            }
            let from = self.journal.balance(&self.contract, asset)?;
            let to = self.journal.balance(&request.callee, asset)?;
            match (from.checked_sub(*amount), to.checked_add(*amount)) {
                (Some(left), Some(credited)) => {
                    self.journal.set_balance(self.contract, *asset, left);
                    self.journal.set_balance(request.callee, *asset, credited);
                }
                (None, _) => {
                    self.journal.rollback_to(savepoint);
                    return Ok(
                        self.refuse(request, CallRefusal::InsufficientBalance { asset: *asset })
                    );
                }
                (Some(_), None) => {
                    self.journal.rollback_to(savepoint);
                    return Ok(self.refuse(request, CallRefusal::DepositOverflow { asset: *asset }));
                }
            }
        }
        let spec = FrameSpec {
            contract: request.callee,
            caller: self.contract,
            call,
            params: &request.params,
            deposits: request.deposits.clone(),
            gas_limit,
        };
        let frame = run_frame(
            self.env,
            &mut *self.journal,
            &mut *self.shared,
            &prepared,
            spec,
        )?;
        if frame.outcome.is_success() {
            self.journal.release();
        } else {
            self.journal.rollback_to(savepoint);
        }
        self.last_return = match frame.outcome.status {
            ExitStatus::Exit(_) => Some(frame.outcome.return_data.clone()),
            ExitStatus::Trap(_) => None,
        };
        let result = CallResult::Ran {
            status: frame.outcome.status.clone(),
            gas_used: frame.outcome.gas_used.min(gas_limit),
        };
        self.trace.push(FrameItem::Call(Box::new(frame)));
        Ok(result)
    }
}

impl<P: ContractProvider + ?Sized> HostAbi for CallHost<'_, '_, '_, P> {
    fn input(&self) -> &[u8] {
        &self.input
    }
    fn contract_hash(&self) -> Hash {
        self.contract
    }
    fn tx_hash(&self) -> Hash {
        self.env.tx.tx_hash
    }
    fn tx_source(&self) -> Hash {
        self.env.tx.source
    }
    fn block_hash(&self) -> Hash {
        self.env.tx.block_hash
    }
    fn block_height(&self) -> Height {
        self.env.tx.height
    }
    fn block_timestamp(&self) -> u64 {
        self.env.tx.timestamp
    }
    fn caller(&self) -> Hash {
        self.caller
    }
    fn call_deposit(&self, asset: &Hash) -> u64 {
        self.deposits
            .iter()
            .filter(|(a, _)| a == asset)
            .fold(0u64, |sum, (_, amount)| sum.saturating_add(*amount))
    }
    fn call(&mut self, request: &CallRequest, gas_limit: Gas) -> Result<CallResult, HostError> {
        self.nested(request, gas_limit).map_err(|e| {
            let msg = e.to_string();
            self.fault = Some(e);
            HostError::Fault(msg)
        })
    }
    fn last_return_data(&self) -> Option<&[u8]> {
        self.last_return.as_deref()
    }
    fn log(&mut self, message: &[u8]) -> Result<(), HostError> {
        limits::check_count("logs per call", self.shared.logs, limits::MAX_LOGS_PER_CALL)?;
        self.shared.logs += 1;
        self.trace.push(FrameItem::Log(message.to_vec()));
        Ok(())
    }
    fn set_return_data(&mut self, data: Vec<u8>) -> Result<(), HostError> {
        if data.len() as u64 > limits::MAX_RETURN_DATA_LEN {
            return Err(HostError::LimitExceeded {
                what: "return data bytes",
                limit: limits::MAX_RETURN_DATA_LEN,
            });
        }
        self.return_data = data;
        Ok(())
    }
    fn take_return_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.return_data)
    }
    fn storage_load(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        let r = self.journal.storage(&self.contract, key);
        self.state(r)
    }
    fn storage_store(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), HostError> {
        self.journal.set_storage(self.contract, key, Some(value));
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
        self.trace.push(FrameItem::Transfer(Transfer {
            from: self.contract,
            to: *to,
            asset: *asset,
            amount,
        }));
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
            self.shared.events,
            limits::MAX_EVENTS_PER_CALL,
        )?;
        self.shared.events += 1;
        self.trace.push(FrameItem::Event(Event {
            contract: self.contract,
            id,
            data: data.to_vec(),
        }));
        Ok(())
    }
}

/// Runs `f` with the [`HostAbi`] a call of `contract` gets, over `state`, and applies what `f`
/// staged through it to `state` (see [`crate::testing::with_call_host`]).
pub(crate) fn with_call_host<R>(
    env: &Env<'_>,
    state: &mut dyn ContractProvider,
    contract: Hash,
    call: Call,
    params: &[u8],
    f: impl FnOnce(&mut dyn HostAbi) -> R,
) -> Result<(R, CallFrame), Error> {
    let input = call_input(call, params)?;
    let (r, trace, changes) = {
        let mut journal = Journal::new(&*state);
        let mut shared = Shared::default();
        shared.stack.push(contract)?;
        let mut host = CallHost::new(
            env,
            &mut journal,
            &mut shared,
            (contract, env.tx.source),
            &[],
            input,
        );
        let r = f(&mut host);
        let CallHost {
            trace,
            fault,
            return_data,
            ..
        } = host;
        if let Some(fault) = fault {
            return Err(fault);
        }
        (r, (trace, return_data), journal.into_changes())
    };
    state.apply(&changes)?;
    let (trace, return_data) = trace;
    let frame = CallFrame {
        contract,
        call,
        caller: env.tx.source,
        deposits: Vec::new(),
        engine: "none",
        engine_version: 0,
        gas_limit: 0,
        outcome: Outcome {
            status: ExitStatus::Exit(0),
            gas_used: 0,
            return_data,
        },
        discarded: false,
        trace,
    };
    Ok((r, frame))
}
