use crate::Trap;

/// Why an engine refused to prepare a module. Deterministic: the same code under the same
/// engine version and features is refused with the same error everywhere.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum LoadError {
    /// The module exceeds the engine's size limit.
    #[error("module is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size of the code.
        size: usize,
        /// The engine's limit.
        limit: usize,
    },
    /// The bytes are not a module of this engine's format (bad magic, truncated, bad ELF).
    #[error("malformed module: {0}")]
    Malformed(String),
    /// The module imports a syscall that is not live (unknown, or not yet activated).
    #[error("module imports unknown syscall `{0}`")]
    UnknownSyscall(String),
    /// A required export or symbol is missing (e.g. `memory`, `entrypoint`).
    #[error("module lacks required `{0}`")]
    MissingExport(String),
    /// The code failed verification (bad jump, bad instruction, stack depth, ...).
    #[error("verification failed: {0}")]
    Verification(String),
    /// The module uses something this engine version does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Compilation failed for a module that verified (resource limits of the compiler).
    #[error("compilation failed: {0}")]
    Compile(String),
    /// The node failed while preparing (a broken syscall table, a resource the engine could
    /// not get). Not a verdict on the module: the host reports it as a node fault and never
    /// refuses a deploy for it, since another node would accept the same module.
    #[error(transparent)]
    Fault(EngineFault),
}

impl LoadError {
    /// Refuses `code` longer than `limit` bytes, before anything parses it.
    ///
    /// # Errors
    /// [`LoadError::TooLarge`].
    pub fn check_size(code: &[u8], limit: usize) -> Result<(), LoadError> {
        if code.len() > limit {
            return Err(LoadError::TooLarge {
                size: code.len(),
                limit,
            });
        }
        Ok(())
    }
}

/// A fault of the node itself — an engine bug, a failing database — not of the contract.
/// Unlike a [`Trap`] it is not a result: the caller must not treat the call as executed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("engine fault in {engine}: {message}")]
pub struct EngineFault {
    /// Name of the engine (or component) that failed.
    pub engine: &'static str,
    /// What failed.
    pub message: String,
}

impl EngineFault {
    /// A fault of `engine` described by `message`.
    pub fn new(engine: &'static str, message: impl Into<String>) -> Self {
        EngineFault {
            engine,
            message: message.into(),
        }
    }
}

// A guest-caused error must never be confused with a fault: keep the types apart, but let a
// trap explain itself where a fault wraps one by mistake.
impl From<(&'static str, Trap)> for EngineFault {
    fn from((engine, trap): (&'static str, Trap)) -> Self {
        EngineFault::new(
            engine,
            format!("unexpected trap escaped the engine: {trap}"),
        )
    }
}
