//! Which engines this node has: built-in ones, dispatched statically, and plug-ins found
//! through `inventory`, looked up by tag and version.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use enum_dispatch::enum_dispatch;
use tos_engine_api::{
    ExecutionEngine, Gas, GasSchedule, LoadError, ModuleTag, PreparedModule, Protocol,
};

/// The host's view of an engine. It mirrors [`ExecutionEngine`] so that `enum_dispatch` can
/// generate static dispatch for the built-in engines (`enum_dispatch` needs the trait and the
/// enum in one crate; the real trait lives in engine-api).
#[enum_dispatch]
pub(crate) trait Engine {
    fn name(&self) -> &'static str;
    fn tag(&self) -> ModuleTag;
    fn version(&self) -> u32;
    fn gas_costs(&self) -> Vec<(String, Gas)>;
    fn check_gas(&self, schedule: &GasSchedule) -> Result<(), String>;
    fn native_stack(&self) -> usize;
    fn prepare(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError>;
}

macro_rules! forward_engine {
    ($($ty:ty),* $(,)?) => {$(
        impl Engine for $ty {
            fn name(&self) -> &'static str { ExecutionEngine::name(self) }
            fn tag(&self) -> ModuleTag { ExecutionEngine::tag(self) }
            fn version(&self) -> u32 { ExecutionEngine::version(self) }
            fn gas_costs(&self) -> Vec<(String, Gas)> { ExecutionEngine::gas_costs(self) }
            fn native_stack(&self) -> usize { ExecutionEngine::native_stack(self) }
            fn check_gas(&self, schedule: &GasSchedule) -> Result<(), String> {
                ExecutionEngine::check_gas(self, schedule)
            }
            fn prepare(&self, code: &[u8], protocol: &Protocol) -> Result<Arc<dyn PreparedModule>, LoadError> {
                ExecutionEngine::prepare(self, code, protocol)
            }
        }
    )*};
}

/// A plug-in or externally registered engine, used through the trait object.
#[derive(Clone)]
pub(crate) struct DynEngine(pub(crate) Arc<dyn ExecutionEngine>);

impl Engine for DynEngine {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn tag(&self) -> ModuleTag {
        self.0.tag()
    }
    fn version(&self) -> u32 {
        self.0.version()
    }
    fn gas_costs(&self) -> Vec<(String, Gas)> {
        self.0.gas_costs()
    }
    fn check_gas(&self, schedule: &GasSchedule) -> Result<(), String> {
        self.0.check_gas(schedule)
    }
    fn native_stack(&self) -> usize {
        self.0.native_stack()
    }
    fn prepare(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        self.0.prepare(code, protocol)
    }
}

forward_engine!(tos_engine_tbpf::TbpfEngine, tos_engine_legacy::LegacyEngine);

/// The engines a registry holds: built-ins by value (static dispatch), others behind `Arc`.
#[enum_dispatch(Engine)]
pub(crate) enum RegisteredEngine {
    Tbpf(tos_engine_tbpf::TbpfEngine),
    Legacy(tos_engine_legacy::LegacyEngine),
    Dyn(DynEngine),
}

/// Where an engine came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EngineOrigin {
    /// Compiled into the host.
    Builtin,
    /// Found through the plug-in registry (`inventory`).
    Plugin,
    /// Registered by the embedder with [`EngineRegistry::register`].
    Registered,
}

/// A line of [`EngineRegistry::engines`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EngineInfo {
    /// Engine name.
    pub name: &'static str,
    /// Tag it runs.
    pub tag: ModuleTag,
    /// Its version.
    pub version: u32,
    /// Where it came from.
    pub origin: EngineOrigin,
}

/// Why an engine cannot be registered.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two engines claim the same tag and version.
    #[error("engines `{first}` and `{second}` both claim {tag} version {version}")]
    Duplicate {
        /// The tag.
        tag: ModuleTag,
        /// The version.
        version: u32,
        /// The engine already registered.
        first: &'static str,
        /// The engine refused.
        second: &'static str,
    },
    /// A built-in engine refused its configuration.
    #[error("built-in engine `{name}` failed to start: {message}")]
    Builtin {
        /// Engine name.
        name: &'static str,
        /// Its error.
        message: String,
    },
    /// A plug-in factory failed.
    #[error("plug-in engine `{name}` failed to start: {message}")]
    Plugin {
        /// Plug-in name.
        name: &'static str,
        /// Its error.
        message: String,
    },
    /// A plug-in reports a different tag than it registered under.
    #[error("plug-in `{name}` registered for {registered} but its engine runs {actual}")]
    TagMismatch {
        /// Plug-in name.
        name: &'static str,
        /// Tag in the registration.
        registered: ModuleTag,
        /// Tag of the engine built.
        actual: ModuleTag,
    },
}

/// The engines of a node, by (tag, version).
#[derive(Default)]
pub struct EngineRegistry {
    engines: BTreeMap<(ModuleTag, u32), (RegisteredEngine, EngineOrigin)>,
}

impl fmt::Debug for EngineRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.engines()).finish()
    }
}

/// Options of the built-in engines.
#[derive(Clone, Debug)]
pub struct BuiltinConfig {
    tbpf_jit: bool,
    tracing: bool,
}

impl Default for BuiltinConfig {
    fn default() -> Self {
        BuiltinConfig {
            tbpf_jit: cfg!(target_arch = "x86_64"),
            tracing: false,
        }
    }
}

impl BuiltinConfig {
    /// Whether TBPF compiles modules to native code (JIT) or interprets them. Results and gas
    /// are identical either way. Default: JIT on x86_64, interpreter elsewhere.
    pub fn set_tbpf_jit(&mut self, jit: bool) -> &mut Self {
        self.tbpf_jit = jit;
        self
    }

    /// Whether the TBPF JIT is asked for.
    pub fn tbpf_jit(&self) -> bool {
        self.tbpf_jit
    }

    /// For tools: engines that can trace write each instruction (TBPF) or opcode (legacy)
    /// to the trace open on the calling thread (`tos_engine_api::trace`). Results and gas are
    /// identical either way; it slows every call, so a node leaves it off. Default: off.
    /// Turning it on also asks plug-in engines that instrument code to trace it (wasm) to
    /// prepare traceable modules, through `tos_engine_api::trace::set_module_tracing`, when
    /// the registry is built.
    pub fn set_tracing(&mut self, on: bool) -> &mut Self {
        self.tracing = on;
        self
    }
}

impl EngineRegistry {
    /// The built-in engines (TBPF, legacy) configured by `config`, plus every plug-in engine
    /// linked into the binary.
    ///
    /// # Errors
    /// [`RegistryError`] when an engine cannot start or two claim the same tag and version.
    pub fn builtin(config: &BuiltinConfig) -> Result<Self, RegistryError> {
        let mut registry = Self::empty();
        let mut tbpf = tos_engine_tbpf::TbpfConfig::default();
        tbpf.set_jit(config.tbpf_jit);
        tbpf.set_instruction_tracing(config.tracing);
        let tbpf = tos_engine_tbpf::TbpfEngine::new(tbpf).map_err(|e| RegistryError::Builtin {
            name: "tbpf",
            message: e.to_string(),
        })?;
        registry.insert(RegisteredEngine::from(tbpf), EngineOrigin::Builtin)?;
        let legacy =
            tos_engine_legacy::LegacyEngine::new(tos_engine_legacy::LegacyConfig::default())
                .map_err(|e| RegistryError::Builtin {
                    name: "legacy",
                    message: e.to_string(),
                })?;
        registry.insert(RegisteredEngine::from(legacy), EngineOrigin::Builtin)?;
        if config.tracing {
            tos_engine_api::trace::set_module_tracing(true);
        }
        registry.load_plugins()?;
        Ok(registry)
    }

    /// A registry with no engine.
    pub fn empty() -> Self {
        Self::default()
    }

    fn insert(
        &mut self,
        engine: RegisteredEngine,
        origin: EngineOrigin,
    ) -> Result<(), RegistryError> {
        let key = (engine.tag(), engine.version());
        if let Some((existing, _)) = self.engines.get(&key) {
            return Err(RegistryError::Duplicate {
                tag: key.0,
                version: key.1,
                first: existing.name(),
                second: engine.name(),
            });
        }
        self.engines.insert(key, (engine, origin));
        Ok(())
    }

    /// Adds an engine the embedder built itself.
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`] when its tag and version are taken.
    pub fn register(
        &mut self,
        engine: Arc<dyn ExecutionEngine>,
    ) -> Result<&mut Self, RegistryError> {
        self.insert(
            RegisteredEngine::from(DynEngine(engine)),
            EngineOrigin::Registered,
        )?;
        Ok(self)
    }

    /// Adds every plug-in engine linked into the binary (see
    /// [`EnginePlugin`](tos_engine_api::EnginePlugin)); returns how many were added.
    ///
    /// # Errors
    /// [`RegistryError`] when a factory fails, lies about its tag, or clashes.
    pub fn load_plugins(&mut self) -> Result<usize, RegistryError> {
        let mut plugins: Vec<_> = tos_engine_api::plugins().collect();
        plugins.sort_by_key(|p| (p.tag, p.name));
        for p in &plugins {
            let engine = (p.create)().map_err(|message| RegistryError::Plugin {
                name: p.name,
                message,
            })?;
            if engine.tag() != p.tag {
                return Err(RegistryError::TagMismatch {
                    name: p.name,
                    registered: p.tag,
                    actual: engine.tag(),
                });
            }
            self.insert(
                RegisteredEngine::from(DynEngine(engine)),
                EngineOrigin::Plugin,
            )?;
        }
        Ok(plugins.len())
    }

    /// Every engine, by tag then version.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &RegisteredEngine> {
        self.engines.values().map(|(e, _)| e)
    }

    pub(crate) fn get(&self, tag: ModuleTag, version: u32) -> Option<&RegisteredEngine> {
        self.engines.get(&(tag, version)).map(|(e, _)| e)
    }

    /// Whether an engine serves `tag` at `version`.
    pub fn contains(&self, tag: ModuleTag, version: u32) -> bool {
        self.engines.contains_key(&(tag, version))
    }

    /// Every engine, by tag then version.
    pub fn engines(&self) -> impl Iterator<Item = EngineInfo> + '_ {
        self.engines
            .iter()
            .map(|((tag, version), (e, origin))| EngineInfo {
                name: e.name(),
                tag: *tag,
                version: *version,
                origin: *origin,
            })
    }
}
