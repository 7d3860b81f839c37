//! [`VM`] and [`Context`]: the old API's shape over [`Host::deploy`](tos_host::Host::deploy)
//! and [`Host::invoke`](tos_host::Host::invoke).

use tos_engine_api::{Call, ExitStatus, Gas};
use tos_engine_legacy::ValueCell;
use tos_engine_legacy::limits::MAX_STACK_SIZE;
use tos_host::{CallReport, DeployRequest, DeployResult, Event, InvokeRequest, Transfer};

use crate::params::params_for;
use crate::{Environment, Module, VmError};

/// What the next [`VM::run`] does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Invoked {
    Deploy,
    Call(Call),
}

/// The gas limit of a [`VM`] and what its runs left behind: gas charged, the call report
/// (exit status, return data, events, logs, transfers) and, after a deploy, its result.
#[derive(Clone, Debug, Default)]
pub struct Context {
    gas_limit: Gas,
    gas_used: Gas,
    report: Option<CallReport>,
    deploy: Option<DeployResult>,
}

impl Context {
    /// Sets the gas limit of the VM's runs, all together: a run may use what the earlier runs
    /// left (`limit - current_gas_usage()`). Default: 0, so a VM whose limit was never set
    /// runs nothing (the host refuses a limit below a call's intrinsic gas).
    pub fn set_gas_limit(&mut self, limit: Gas) -> &mut Self {
        self.gas_limit = limit;
        self
    }

    /// The gas limit.
    pub fn gas_limit(&self) -> Gas {
        self.gas_limit
    }

    /// Gas charged by every run of the VM so far: for each, exactly what
    /// [`Host::invoke`](tos_host::Host::invoke) reports as `outcome.gas_used` (intrinsic gas
    /// included; the whole limit after running out), or for a deploy what
    /// [`Host::deploy`](tos_host::Host::deploy) reports as `gas_used` (the deploy's own cost
    /// plus its constructor's). A run the host refused charged nothing.
    pub fn current_gas_usage(&self) -> Gas {
        self.gas_used
    }

    /// Gas still available to the next run.
    pub fn remaining_gas(&self) -> Gas {
        self.gas_limit.saturating_sub(self.gas_used)
    }

    /// The report of the last call that ran: its outcome (exit code or trap, gas, return
    /// data), events, logs, transfers and engine. After a deploy, its constructor's report
    /// (`None` when the module has no constructor). `None` before any run and after a run
    /// the host refused.
    pub fn report(&self) -> Option<&CallReport> {
        self.report.as_ref()
    }

    /// The result of the last run when it was a deploy: address, code hash, whether the
    /// contract now exists, gas. `None` otherwise.
    pub fn deploy_result(&self) -> Option<&DeployResult> {
        self.deploy.as_ref()
    }

    /// The exit status of the last call that ran (see [`Context::report`]).
    pub fn exit_status(&self) -> Option<&ExitStatus> {
        self.report.as_ref().map(|r| &r.outcome.status)
    }

    /// The return data the last call set with `tos_set_return_data` (empty when none).
    pub fn return_data(&self) -> &[u8] {
        self.report
            .as_ref()
            .map_or(&[][..], |r| &r.outcome.return_data)
    }

    /// Events the last call fired; empty unless it succeeded (a failed call's events never
    /// happened).
    pub fn events(&self) -> &[Event] {
        self.report.as_ref().map_or(&[][..], |r| &r.events)
    }

    /// Log lines of the last call, kept whether it succeeded or not (for diagnosis).
    pub fn logs(&self) -> &[Vec<u8>] {
        self.report.as_ref().map_or(&[][..], |r| &r.logs)
    }

    /// Balance moves the last call made; empty unless it succeeded.
    pub fn transfers(&self) -> &[Transfer] {
        self.report.as_ref().map_or(&[][..], |r| &r.transfers)
    }

    fn charge(&mut self, gas: Gas) {
        self.gas_used = self.gas_used.saturating_add(gas);
    }
}

/// The daemon's old VM, running any module — legacy, TBPF, wasm or a plug-in engine's —
/// through [`Host`](tos_host::Host).
///
/// One VM serves one module. Each run is a deploy of the module ([`VM::invoke_deploy`]) or a
/// call of the deployed contract ([`VM::invoke_entry_chunk`], [`VM::invoke_hook_id`]) with the
/// values pushed since, under the gas left in the [`Context`]. The host picks the engine by
/// the module's tag and the schedule at the environment's height, prepares the module once
/// through its cache, credits the deposits, runs the contract against a journal of the state
/// and commits the journal only when the contract exits with 0.
///
/// ```
/// use tos_vm::host::{ActivationSchedule, BuiltinConfig, EngineRegistry, MemoryProvider};
/// use tos_vm::{Environment, Host, Module, TxContext, VM, ValueCell};
///
/// let host = Host::new(EngineRegistry::builtin(&BuiltinConfig::default())?, ActivationSchedule::devnet())?;
/// let mut state = MemoryProvider::default();
/// let tx = TxContext { height: 1, source: [7; 32], ..TxContext::default() };
/// let module = Module::new(std::fs::read("../sdk/examples/build/counter.so")?)?;
/// let contract = module.address(&tx.source);
///
/// // Deploy: stores the module and runs its constructor (hook 0).
/// let mut vm = VM::new(Environment::new(&host, &mut state, tx.clone(), contract));
/// vm.append_module(module.clone())?;
/// vm.invoke_deploy()?;
/// vm.context_mut().set_gas_limit(1_000_000);
/// assert_eq!(vm.run()?, 0);
///
/// // Call entry 0 (increment), in the daemon's shape.
/// let (entry, max_gas, parameters) = (0, 100_000, Vec::<ValueCell>::new());
/// let mut vm = VM::new(Environment::new(&host, &mut state, tx, contract));
/// vm.append_module(module)?;
/// vm.invoke_entry_chunk(entry)?;
/// for constant in parameters.into_iter().rev() {
///     vm.push_stack(constant)?;
/// }
/// vm.context_mut().set_gas_limit(max_gas);
/// let result = vm.run()?;
/// let gas_usage = vm.context().current_gas_usage().min(max_gas);
/// assert_eq!(result, 0);
/// assert_eq!(vm.context().return_data(), 1u64.to_le_bytes());
/// assert_eq!(vm.context().events()[0].id, 1);
/// assert!(gas_usage > 1_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct VM<'a> {
    env: Environment<'a>,
    module: Option<Module>,
    invoked: Option<Invoked>,
    stack: Vec<ValueCell>,
    context: Context,
}

impl std::fmt::Debug for VM<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VM")
            .field("env", &self.env)
            .field(
                "module",
                &self.module.as_ref().map(|m| (m.tag(), m.code().len())),
            )
            .field("invoked", &self.invoked)
            .field("stack", &self.stack)
            .field("context", &self.context)
            .finish()
    }
}

impl<'a> VM<'a> {
    /// A VM over `environment` (see [`Environment`] for what it bundles).
    pub fn new(environment: Environment<'a>) -> Self {
        VM {
            env: environment,
            module: None,
            invoked: None,
            stack: Vec::new(),
            context: Context::default(),
        }
    }

    /// Makes `module` the VM's module. A VM runs one module: for a call it must be the
    /// contract deployed at the environment's address (checked by `run`); for a deploy, the
    /// module to deploy.
    ///
    /// # Errors
    /// [`VmError::ModuleAlreadyAppended`].
    pub fn append_module(&mut self, module: Module) -> Result<(), VmError> {
        if self.module.is_some() {
            return Err(VmError::ModuleAlreadyAppended);
        }
        self.module = Some(module);
        Ok(())
    }

    fn module(&self) -> Result<&Module, VmError> {
        self.module.as_ref().ok_or(VmError::NoModule)
    }

    fn invoke(&mut self, what: Invoked) {
        self.stack.clear();
        self.invoked = Some(what);
    }

    /// Prepares a call of entry `id` of the contract at the environment's address; push its
    /// parameters next.
    ///
    /// Whether the contract has the entry is the host's decision, as on every node: a call to
    /// an entry the module lacks makes `run` return [`VmError::Trap`] with
    /// `Trap::UnknownEntry`, charged the intrinsic gas.
    ///
    /// # Errors
    /// [`VmError::NoModule`].
    pub fn invoke_entry_chunk(&mut self, id: u16) -> Result<(), VmError> {
        self.module()?;
        self.invoke(Invoked::Call(Call::Entry(id)));
        Ok(())
    }

    /// Prepares a call of hook `id` of the contract at the environment's address when its
    /// module has that hook, and returns whether it has (read from the entry table the state
    /// kept at deploy; a self-dispatching module accepts every hook). When it returns `false`
    /// nothing is invoked.
    ///
    /// # Errors
    /// [`VmError::ConstructorHook`] for hook 0 (use [`VM::invoke_deploy`]);
    /// [`VmError::NoModule`]; [`VmError::Host`] when no contract is at the address or the
    /// state fails.
    pub fn invoke_hook_id(&mut self, id: u8) -> Result<bool, VmError> {
        if Call::Hook(id) == Call::CONSTRUCTOR {
            return Err(VmError::ConstructorHook);
        }
        self.module()?;
        let contract = self.env.contract;
        let header = self
            .env
            .state
            .contract_header(&contract)
            .map_err(tos_host::Error::from)?
            .ok_or(tos_host::Error::UnknownContract(contract))?;
        if !header.entries.accepts(Call::Hook(id)) {
            self.stack.clear();
            self.invoked = None;
            return Ok(false);
        }
        self.invoke(Invoked::Call(Call::Hook(id)));
        Ok(true)
    }

    /// Prepares a deploy of the module at the environment's address; push the constructor's
    /// parameters next. `run` stores the module (the old daemon did this itself) and runs its
    /// constructor, hook 0, when it has one; the deploy is undone if the constructor fails.
    ///
    /// # Errors
    /// [`VmError::NoModule`].
    pub fn invoke_deploy(&mut self) -> Result<(), VmError> {
        self.module()?;
        self.invoke(Invoked::Deploy);
        Ok(())
    }

    /// Pushes a parameter of the invoked call. The daemon pushes `parameters.rev()`: the last
    /// value pushed is the first parameter ([`ParamsEncoding`](crate::ParamsEncoding) says how
    /// the values reach the contract).
    ///
    /// # Errors
    /// [`VmError::Params`] when the value breaks a limit of [`tos_engine_legacy::limits`] or
    /// [`MAX_STACK_SIZE`] values are already pushed.
    pub fn push_stack(&mut self, value: ValueCell) -> Result<(), VmError> {
        if self.stack.len() >= MAX_STACK_SIZE {
            return Err(VmError::Params(format!(
                "the stack is full ({MAX_STACK_SIZE} values)"
            )));
        }
        value.check_limits().map_err(|e| {
            VmError::Params(format!(
                "value pushed #{} ({}): {e}",
                self.stack.len(),
                value.type_name()
            ))
        })?;
        self.stack.push(value);
        Ok(())
    }

    /// The context: gas limit and usage, and what the last run left behind.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The context, to set the gas limit.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// The environment.
    pub fn environment(&self) -> &Environment<'a> {
        &self.env
    }

    /// The environment, to change the transaction, the address or the deposits between runs.
    pub fn environment_mut(&mut self) -> &mut Environment<'a> {
        &mut self.env
    }

    /// Runs what was invoked with the values pushed since, under the gas left in the
    /// [`Context`]; returns the contract's exit code, as the old API did (0 is success and
    /// commits; any other code is the contract's failure: its effects were rolled back and its
    /// gas charged). A deploy without a constructor returns 0.
    ///
    /// The invocation and the pushed values are consumed, whatever the result.
    ///
    /// # Errors
    /// - [`VmError::Trap`] when the contract trapped (gas charged, effects rolled back; the
    ///   report is in the context);
    /// - [`VmError::Host`] when the host refused the deploy or call before running it, and
    ///   [`VmError::Params`], [`VmError::ModuleMismatch`], [`VmError::AddressMismatch`]: nothing
    ///   ran or was charged;
    /// - [`VmError::NoModule`], [`VmError::NothingInvoked`].
    pub fn run(&mut self) -> Result<u64, VmError> {
        let invoked = self.invoked.take();
        let pushed = std::mem::take(&mut self.stack);
        let module = self.module.as_ref().ok_or(VmError::NoModule)?;
        let invoked = invoked.ok_or(VmError::NothingInvoked)?;
        let params = params_for(module.tag(), self.env.params, &pushed)?;
        let gas_limit = self.context.remaining_gas();
        self.context.report = None;
        self.context.deploy = None;
        match invoked {
            Invoked::Deploy => {
                let deployed = module.address(&self.env.tx.source);
                if deployed != self.env.contract {
                    return Err(VmError::AddressMismatch {
                        environment: self.env.contract,
                        deployed,
                    });
                }
                let request = DeployRequest {
                    envelope: module.envelope(),
                    params,
                    gas_limit,
                };
                let result = self
                    .env
                    .host
                    .deploy(self.env.state, &self.env.tx, &request)?;
                self.context.charge(result.gas_used);
                self.context.report = result.constructor.clone();
                self.context.deploy = Some(result);
            }
            Invoked::Call(call) => {
                let contract = self.env.contract;
                let header = self
                    .env
                    .state
                    .contract_header(&contract)
                    .map_err(tos_host::Error::from)?
                    .ok_or(tos_host::Error::UnknownContract(contract))?;
                if header.tag != module.tag() || header.code_hash != *module.code_hash() {
                    return Err(VmError::ModuleMismatch {
                        contract,
                        stored_tag: header.tag,
                        stored_code_hash: header.code_hash,
                        found_tag: module.tag(),
                        found_code_hash: *module.code_hash(),
                    });
                }
                let request = InvokeRequest {
                    contract,
                    call,
                    params,
                    gas_limit,
                    deposits: self.env.deposits.clone(),
                };
                let report = self
                    .env
                    .host
                    .invoke(self.env.state, &self.env.tx, &request)?;
                self.context.charge(report.outcome.gas_used);
                self.context.report = Some(report);
            }
        }
        match self.context.exit_status() {
            None => Ok(0),
            Some(ExitStatus::Exit(code)) => Ok(*code),
            Some(ExitStatus::Trap(trap)) => Err(VmError::Trap(trap.clone())),
        }
    }
}
