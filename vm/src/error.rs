//! [`VmError`]: why the VM refused, or how a run failed.

use tos_engine_api::{Hash, ModuleTag, Trap};

/// Why a [`VM`](crate::VM) refused to go on, why a [`Module`](crate::Module) could not be
/// built, or how a run failed.
///
/// Three kinds, as in the old API:
/// - **misuse of the VM** ([`NoModule`](Self::NoModule), [`NothingInvoked`](Self::NothingInvoked),
///   ...): nothing ran, nothing was charged;
/// - **refusals** before anything ran ([`Params`](Self::Params), [`Host`](Self::Host),
///   [`ModuleMismatch`](Self::ModuleMismatch), ...): nothing ran, nothing was charged, the
///   state is untouched;
/// - **the contract trapped** ([`Trap`](Self::Trap)): the gas it used is charged (read it from
///   [`Context::current_gas_usage`](crate::Context::current_gas_usage)) and its effects were
///   rolled back. A contract that *exits* with a non-zero code is not an error: `run` returns
///   the code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VmError {
    /// `run` or an `invoke_*` method was called before [`VM::append_module`](crate::VM::append_module).
    #[error("no module has been appended to the VM")]
    NoModule,
    /// [`VM::append_module`](crate::VM::append_module) was called twice: a VM runs one module.
    #[error("the VM already holds a module")]
    ModuleAlreadyAppended,
    /// `run` was called without an `invoke_*` first (each run needs its own).
    #[error("nothing was invoked before run")]
    NothingInvoked,
    /// [`Module::new`](crate::Module::new) could not tell the engine from the code's magic.
    #[error(
        "cannot tell the engine of a module starting with {first:02x?}: expected an ELF \
         (\\x7fELF, TBPF), wasm (\\0asm) or legacy (TOSL) module; use Module::with_tag for \
         other engines"
    )]
    UnknownFormat {
        /// The first bytes of the code (at most 4).
        first: Vec<u8>,
    },
    /// The code is not what the constructor asked for (not an ELF for `from_elf`, empty, a tag
    /// with the reserved high bit, a legacy module that cannot be encoded).
    #[error("invalid module: {0}")]
    InvalidModule(String),
    /// Hook 0 is the constructor: it runs once, when the module is deployed
    /// ([`VM::invoke_deploy`](crate::VM::invoke_deploy)), and is never invoked afterwards.
    #[error(
        "hook 0 is the constructor: it runs at deploy (VM::invoke_deploy) and cannot be invoked"
    )]
    ConstructorHook,
    /// The values pushed cannot become the call's params (a value breaks a limit, the params
    /// would be too long, or the engine takes another shape); the message names the value.
    #[error("parameters refused: {0}")]
    Params(String),
    /// The appended module is not the contract deployed at the environment's address.
    #[error(
        "the appended module ({found_tag}, code hash {}) is not the contract at {} \
         ({stored_tag}, code hash {})",
        hex(.found_code_hash), hex(.contract), hex(.stored_code_hash)
    )]
    ModuleMismatch {
        /// The environment's contract address.
        contract: Hash,
        /// Tag of the deployed contract.
        stored_tag: ModuleTag,
        /// Code hash of the deployed contract.
        stored_code_hash: Hash,
        /// Tag of the appended module.
        found_tag: ModuleTag,
        /// Code hash of the appended module.
        found_code_hash: Hash,
    },
    /// A deploy's environment names another address than the one the module gets
    /// (`blake3("tos/contract/v1" ‖ tx source ‖ tag ‖ code hash)`, [`Module::address`](crate::Module::address)).
    #[error(
        "the environment names contract {} but this deploy creates {}",
        hex(.environment), hex(.deployed)
    )]
    AddressMismatch {
        /// The address in the environment.
        environment: Hash,
        /// The address the deploy creates.
        deployed: Hash,
    },
    /// The host refused the deploy or call before it ran (envelope, schedule, engine, gas
    /// limit, unknown contract, state backend) or a node fault: nothing was charged.
    #[error(transparent)]
    Host(#[from] tos_host::Error),
    /// The contract trapped: its effects were rolled back and its gas charged (in the
    /// [`Context`](crate::Context), with the call report).
    #[error("trap: {0}")]
    Trap(Trap),
}

pub(crate) fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
