//! [`LegacyEngine`]: the legacy VM behind [`ExecutionEngine`].

use std::sync::Arc;

use tos_engine_api::{
    Call, CallInput, EngineFault, ExecutionEngine, ExitStatus, Gas, HostAbi, LoadError, ModuleInfo,
    ModuleTag, Outcome, PreparedModule, Protocol, Trap,
};
use tos_syscalls::SyscallTable;

use crate::limits::{MAX_CALL_DEPTH, MAX_CALL_DEPTH_CAP, MAX_MODULE_SIZE};
use crate::program::Program;
use crate::vm::{VM, VmError};
use crate::{ENGINE_NAME, Module, ValueCell};

/// The version of the legacy engine's semantics (opcodes, gas, limits). Any change that
/// alters a result or a gas figure bumps it.
const ENGINE_VERSION: u32 = 1;

/// Configuration of a [`LegacyEngine`].
///
/// Both settings decide results (which modules deploy, where deep recursion traps), so the
/// nodes of one network must agree on them; the defaults are the network's values.
#[derive(Clone, Debug)]
pub struct LegacyConfig {
    max_module_size: usize,
    max_call_depth: u32,
}

impl Default for LegacyConfig {
    fn default() -> Self {
        LegacyConfig {
            max_module_size: MAX_MODULE_SIZE,
            max_call_depth: MAX_CALL_DEPTH,
        }
    }
}

impl LegacyConfig {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest module, in bytes, that `prepare` accepts; larger code is
    /// [`LoadError::TooLarge`]. Default: [`MAX_MODULE_SIZE`] (512 KiB).
    pub fn set_max_module_size(&mut self, bytes: usize) -> &mut Self {
        self.max_module_size = bytes;
        self
    }

    /// Deepest chunk call nesting, the entry chunk included; a deeper call traps with
    /// [`Trap::CallDepthExceeded`]. Must be within 1..=[`MAX_CALL_DEPTH_CAP`].
    /// Default: [`MAX_CALL_DEPTH`] (64).
    pub fn set_max_call_depth(&mut self, depth: u32) -> &mut Self {
        self.max_call_depth = depth;
        self
    }

    /// The engine version this configuration gives: [`ENGINE_VERSION`] for the defaults (the
    /// network's values), otherwise a version derived from every option — both options change
    /// results (which modules load, where recursion traps) — with the high bit set, so a node
    /// configured differently never shares prepared modules or a schedule slot with the
    /// defaults.
    pub(crate) fn version(&self) -> u32 {
        let default = LegacyConfig::default();
        if self.max_module_size == default.max_module_size
            && self.max_call_depth == default.max_call_depth
        {
            return ENGINE_VERSION;
        }
        tos_engine_api::derived_version(
            ENGINE_VERSION,
            &[self.max_module_size as u64, u64::from(self.max_call_depth)],
        )
    }
}

/// Why [`LegacyEngine::new`] refused a configuration or could not start.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ConfigError {
    /// An option is out of range (named in the message).
    #[error("invalid legacy engine configuration: {0}")]
    Invalid(String),
    /// The node failed: the syscall table cannot be frozen.
    #[error(transparent)]
    Fault(EngineFault),
}

/// The legacy engine: runs tag-0 modules (the stack VM of the contracts deployed before
/// TBPF). See the crate docs for the model and an example.
#[derive(Debug)]
pub struct LegacyEngine {
    config: LegacyConfig,
    table: &'static SyscallTable,
}

impl LegacyEngine {
    /// An engine with `config`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a call depth outside 1..=[`MAX_CALL_DEPTH_CAP`] or a zero
    /// module size; [`ConfigError::Fault`] when the syscall table cannot be frozen.
    pub fn new(config: LegacyConfig) -> Result<LegacyEngine, ConfigError> {
        if !(1..=MAX_CALL_DEPTH_CAP).contains(&config.max_call_depth) {
            return Err(ConfigError::Invalid(format!(
                "max call depth {} is outside 1..={MAX_CALL_DEPTH_CAP}",
                config.max_call_depth
            )));
        }
        if config.max_module_size == 0 {
            return Err(ConfigError::Invalid("max module size is 0".into()));
        }
        let table = SyscallTable::global()
            .map_err(|e| ConfigError::Fault(EngineFault::new(ENGINE_NAME, e.to_string())))?;
        Ok(LegacyEngine { config, table })
    }

    /// The engine's configuration.
    pub fn config(&self) -> &LegacyConfig {
        &self.config
    }
}

impl ExecutionEngine for LegacyEngine {
    fn name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn tag(&self) -> ModuleTag {
        ModuleTag::LEGACY
    }

    fn version(&self) -> u32 {
        self.config.version()
    }

    fn gas_costs(&self) -> Vec<(String, Gas)> {
        crate::program::gas_costs()
    }

    fn prepare(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        LoadError::check_size(code, self.config.max_module_size)?;
        let module = Module::from_bytes(code)?;
        let program = Program::new(module, self.table, protocol, code.len())?;
        Ok(Arc::new(LegacyModule {
            program: Arc::new(program),
            max_call_depth: self.config.max_call_depth,
        }))
    }
}

/// A validated legacy module.
#[derive(Debug)]
struct LegacyModule {
    program: Arc<Program>,
    max_call_depth: u32,
}

impl PreparedModule for LegacyModule {
    fn info(&self) -> &ModuleInfo {
        &self.program.info
    }

    fn run(
        &self,
        call: Call,
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault> {
        let params = CallInput::params_of(call, host.input()).map_err(|e| {
            EngineFault::new(
                ENGINE_NAME,
                format!("the host's input is not that of {call}: {e}"),
            )
        })?;
        let chunk = match call {
            Call::Entry(id) => self.program.module.entries.get(&id),
            Call::Hook(id) => self.program.module.hooks.get(&id),
        };
        let Some(&chunk) = chunk else {
            return Ok(Outcome::unknown_entry(call, host));
        };
        // The params become the entry's one argument: a bytes value, copied because the VM
        // holds the host mutably while it runs.
        let params = params.to_vec();
        let (status, meter) = {
            let mut vm = VM::with_program(host, Arc::clone(&self.program));
            vm.context_mut().set_gas_limit(gas_limit);
            vm.context_mut().set_max_call_depth(self.max_call_depth);
            let started = vm
                .invoke_chunk_id(chunk)
                .and_then(|()| vm.push_stack(ValueCell::Bytes(params)));
            let status = match started.and_then(|()| vm.run()) {
                Ok(code) => ExitStatus::Exit(code),
                Err(VmError::Trap(trap)) => ExitStatus::Trap(trap),
                // The params are the only outside value: too long for a bytes value.
                Err(VmError::Value(why)) => {
                    ExitStatus::Trap(Trap::Invalid(format!("call params refused: {why}")))
                }
                Err(VmError::Fault(fault)) => return Err(fault),
                Err(other) => {
                    return Err(EngineFault::new(
                        ENGINE_NAME,
                        format!("cannot run a prepared module: {other}"),
                    ));
                }
            };
            (status, *vm.context().meter())
        };
        Ok(Outcome::finish(status, &meter, host))
    }

    fn disassemble(&self) -> Option<String> {
        Some(crate::asm::disassemble(&self.program.module))
    }
}
