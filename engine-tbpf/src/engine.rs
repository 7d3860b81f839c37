//! [`TbpfEngine`]: configuration, the per-feature-set loaders, and `prepare`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use solana_rbpf::{
    ebpf,
    elf::{ElfError, Executable},
    error::EbpfError,
    program::{BuiltinFunction, BuiltinProgram, FunctionRegistry},
    verifier::RequisiteVerifier,
};
use tos_engine_api::{
    EngineFault, ExecutionEngine, FeatureSet, Gas, LoadError, ModuleInfo, ModuleTag,
    PreparedModule, Protocol,
};
use tos_syscalls::{ActiveSyscalls, SyscallTable};

use crate::ENGINE_NAME;
use crate::config::{ConfigError, TbpfConfig};
use crate::inspect::{self, inspect};
use crate::module::TbpfModule;
use crate::runtime::{ADAPTERS, RunContext};

/// The most syscalls the engine can register: one adapter slot each.
pub(crate) const MAX_SYSCALLS: usize = 64;
/// The most loaders (one per distinct feature set) an engine keeps; past it, loaders are built
/// per module and not cached. Feature sets come from the activation schedule, so a handful is
/// normal.
const MAX_CACHED_LOADERS: usize = 64;

/// The rbpf loader for one feature set: the syscalls live there, registered under their ids.
pub(crate) type Loader = BuiltinProgram<RunContext>;

struct CachedLoader {
    features: FeatureSet,
    loader: Arc<Loader>,
}

/// The gas-schedule name of the cost of one instruction.
pub(crate) const INSTRUCTION_COST: &str = "tbpf.instruction";
/// Its value in a network's first gas schedule.
pub(crate) const INSTRUCTION_COST_V1: Gas = 1;
/// The gas-schedule name of the price of preparing one byte of code, which the host charges on
/// every deploy (on top of `deploy.per_byte`).
pub(crate) const PREPARE_PER_BYTE_COST: &str = "tbpf.prepare_per_byte";
/// Its value in a network's first gas schedule: the worst prepare time per byte measured on
/// the adversarial shapes, at most 20 times ordinary compute per gas (docs/GAS.md).
pub(crate) const PREPARE_PER_BYTE_V1: Gas = 25;

/// The TBPF execution engine: Solana-style eBPF modules (ELF shared objects, SBPFv1/v2) run on
/// solana-rbpf 0.8.5, interpreted or JIT-compiled, with one gas unit per instruction.
///
/// Build it once with a [`TbpfConfig`] and share it; it is `Send + Sync`. See the crate docs for
/// the module format, memory layout and gas model.
pub struct TbpfEngine {
    config: TbpfConfig,
    table: &'static SyscallTable,
    /// Loaders by feature-set fingerprint; the feature set is compared too, so a fingerprint
    /// collision cannot hand a module the wrong syscalls.
    loaders: Mutex<HashMap<u64, Vec<Arc<CachedLoader>>>>,
}

impl std::fmt::Debug for TbpfEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TbpfEngine")
            .field("config", &self.config)
            .field("version", &self.config.version())
            .finish_non_exhaustive()
    }
}

impl TbpfEngine {
    /// The most syscalls the engine can register (the table must not grow past it).
    pub const MAX_SYSCALLS: usize = MAX_SYSCALLS;

    // The structural limits of a module's ELF, checked before the work they bound; a module
    // over one is refused with `LoadError::Unsupported` naming the limit and the value.
    // Consensus: changing one changes which modules load.

    /// Most program headers (`e_phnum`): Solana's toolchain writes at most 4.
    pub const MAX_PROGRAM_HEADERS: usize = inspect::MAX_PROGRAM_HEADERS;
    /// Most section headers (`e_shnum`).
    pub const MAX_SECTIONS: usize = inspect::MAX_SECTIONS;
    /// Most entries of a dynamic symbol table (`SHT_DYNSYM`, or the table `DT_SYMTAB` names).
    pub const MAX_DYNAMIC_SYMBOLS: usize = inspect::MAX_DYNAMIC_SYMBOLS;
    /// Most entries of a static symbol table (`SHT_SYMTAB`).
    pub const MAX_SYMBOLS: usize = inspect::MAX_SYMBOLS;
    /// Most relocations: of the table `DT_REL`/`DT_RELSZ` name, and of any `SHT_REL`/`SHT_RELA`
    /// section.
    pub const MAX_RELOCATIONS: usize = inspect::MAX_RELOCATIONS;
    /// Most functions: distinct targets of calls and call relocations, the entry point
    /// included.
    pub const MAX_FUNCTIONS: usize = inspect::MAX_FUNCTIONS;
    /// Largest string table (`SHT_STRTAB`), in bytes.
    pub const MAX_STRING_TABLE_SIZE: usize = inspect::MAX_STRING_TABLE_SIZE;
    /// Largest section name table, in bytes.
    pub const MAX_SECTION_NAME_TABLE_SIZE: usize = inspect::MAX_SECTION_NAME_TABLE_SIZE;

    /// An engine with `config`.
    ///
    /// # Errors
    /// [`ConfigError`] when a setting breaks its documented rule (see the setters of
    /// [`TbpfConfig`]), when the JIT is requested where rbpf has none, or when the syscall
    /// table cannot be frozen or has more than [`TbpfEngine::MAX_SYSCALLS`] entries.
    pub fn new(config: TbpfConfig) -> Result<TbpfEngine, ConfigError> {
        config.validate()?;
        let table = SyscallTable::global()
            .map_err(|e| ConfigError(format!("the syscall table is inconsistent: {e}")))?;
        if table.len() > MAX_SYSCALLS {
            return Err(ConfigError(format!(
                "the syscall table has {} entries; the engine has {MAX_SYSCALLS} adapter slots",
                table.len()
            )));
        }
        Ok(TbpfEngine {
            config,
            table,
            loaders: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &TbpfConfig {
        &self.config
    }

    /// The loader for the syscalls live under `features` (`active`, their resolution under the
    /// protocol being prepared for), built once per feature set and shared by its modules.
    /// The adapter in slot `i` serves the `i`-th live syscall in id order: which syscalls are
    /// live depends on the features alone, so the slots are the same for every protocol with
    /// these features.
    fn loader(
        &self,
        features: &FeatureSet,
        active: &ActiveSyscalls,
    ) -> Result<Arc<CachedLoader>, LoadError> {
        let key = features.fingerprint();
        let mut cache = self.loaders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache
            .get(&key)
            .and_then(|v| v.iter().find(|l| l.features == *features))
        {
            return Ok(hit.clone());
        }
        let mut registry = FunctionRegistry::<BuiltinFunction<RunContext>>::default();
        for (slot, live) in active.iter().enumerate() {
            let def = live.def;
            let adapter = ADAPTERS.get(slot).ok_or_else(|| {
                LoadError::Unsupported(format!("syscall `{}` has no adapter slot", def.name))
            })?;
            registry
                .register_function(def.id, def.name.as_bytes(), *adapter)
                .map_err(|e| LoadError::Unsupported(format!("syscall `{}`: {e}", def.name)))?;
        }
        let entry = Arc::new(CachedLoader {
            features: features.clone(),
            loader: Arc::new(BuiltinProgram::new_loader(
                self.config.rbpf_config(),
                registry,
            )),
        });
        if cache.values().map(Vec::len).sum::<usize>() < MAX_CACHED_LOADERS {
            cache.entry(key).or_default().push(entry.clone());
        }
        Ok(entry)
    }
}

impl ExecutionEngine for TbpfEngine {
    fn name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn tag(&self) -> ModuleTag {
        ModuleTag::TBPF
    }

    fn version(&self) -> u32 {
        self.config.version()
    }

    fn gas_costs(&self) -> Vec<(String, Gas)> {
        vec![
            (INSTRUCTION_COST.to_owned(), INSTRUCTION_COST_V1),
            (PREPARE_PER_BYTE_COST.to_owned(), PREPARE_PER_BYTE_V1),
        ]
    }

    fn prepare(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        // Hostile bytes must never take the node down: a panic in rbpf or in the engine's own
        // ELF pass is a fault of the node (a bug to fix), not a verdict on the module.
        match catch_panic(|| self.prepare_unguarded(code, protocol)) {
            Ok(result) => result,
            Err(panic) => Err(LoadError::Fault(EngineFault::new(
                ENGINE_NAME,
                format!("panic while preparing a module: {panic}"),
            ))),
        }
    }
}

impl TbpfEngine {
    /// `prepare` without the panic guard.
    fn prepare_unguarded(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        #[cfg(test)]
        if tests::PANIC_IN_PREPARE.with(std::cell::Cell::get) {
            panic!("injected by a test");
        }
        LoadError::check_size(code, self.config.max_module_size)?;
        let active = self.table.active(protocol);
        let cached = self.loader(protocol.features(), &active)?;
        let facts = inspect(code, |v| self.config.accepts_sbpf(v), &active, self.table)?;
        let mut executable = Executable::load(code, cached.loader.clone()).map_err(elf_error)?;
        executable
            .verify::<RequisiteVerifier>()
            .map_err(|e| match e {
                EbpfError::VerifierError(v) => LoadError::Verification(v.to_string()),
                other => LoadError::Verification(other.to_string()),
            })?;
        let mut imports = facts.imports;
        check_calls(&executable, &cached.loader, &mut imports)?;
        // rbpf's JIT does not report running off the end of .text exactly (its pc and count
        // are left unset there), so such a module could only be interpreted, which a module
        // must not be able to choose (the interpreter is ~50x slower for the same gas). It is
        // refused on every node, JIT or not, so whether a module loads never depends on the
        // JIT. Every other property of a module that makes rbpf 0.8.5's JIT refuse to compile
        // (an opcode it lacks, a bad endianness immediate) is refused by the verifier first:
        // the verifier and the JIT accept the same opcodes under the same SBPF-version gates.
        if let Some(last) = may_run_off_text(&executable) {
            return Err(LoadError::Verification(format!(
                "the last instruction of .text (#{last}) can fall through past its end: \
                 .text must end with `exit` or `ja`"
            )));
        }
        // Past that, a failing JIT is the node's failure (no executable memory, no entropy
        // for rbpf's code diversification), never a silent fall-back to the interpreter.
        if self.config.jit {
            compile(&mut executable).map_err(|e| {
                LoadError::Fault(EngineFault::new(
                    ENGINE_NAME,
                    format!("the JIT failed on a verified module: {e}"),
                ))
            })?;
        }
        let info = ModuleInfo {
            entries: facts.entries,
            imports: imports.into_iter().map(str::to_owned).collect(),
            code_size: code.len(),
        };
        let instruction_cost = protocol
            .gas()
            .cost_or(INSTRUCTION_COST, INSTRUCTION_COST_V1);
        Ok(Arc::new(TbpfModule::new(
            executable,
            info,
            !self.config.jit,
            &self.config,
            active,
            instruction_cost,
            code,
        )))
    }
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// JIT-compiles `executable`.
#[cfg(all(target_arch = "x86_64", not(target_os = "windows")))]
fn compile(executable: &mut Executable<RunContext>) -> Result<(), EbpfError> {
    executable.jit_compile()
}

#[cfg(not(all(target_arch = "x86_64", not(target_os = "windows"))))]
fn compile(_: &mut Executable<RunContext>) -> Result<(), EbpfError> {
    // `TbpfEngine::new` refuses the JIT on such targets, so this is never reached.
    Err(EbpfError::JitNotCompiled)
}

/// Every `call imm` of the relocated text must reach a syscall of the loader or a function of
/// the module; one that reaches nothing would only fail at run time. Syscalls reached are
/// added to `imports`.
fn check_calls(
    executable: &Executable<RunContext>,
    loader: &Loader,
    imports: &mut BTreeSet<&'static str>,
) -> Result<(), LoadError> {
    let (_, text) = executable.get_text_bytes();
    let static_syscalls = executable.get_sbpf_version().static_syscalls();
    let table = SyscallTable::global().ok();
    let mut pc = 0usize;
    while let Some(insn) = text
        .get(pc.saturating_mul(ebpf::INSN_SIZE)..)
        .filter(|r| r.len() >= ebpf::INSN_SIZE)
    {
        let opc = insn[0];
        let this = pc;
        pc = pc.saturating_add(if opc == ebpf::LD_DW_IMM { 2 } else { 1 });
        if opc != ebpf::CALL_IMM {
            continue;
        }
        let key = u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        let src = insn[1] >> 4;
        let external = !static_syscalls || src == 0;
        let internal = !static_syscalls || src != 0;
        if external && loader.get_function_registry().lookup_by_key(key).is_some() {
            if let Some(def) = table.and_then(|t| t.get(key)) {
                imports.insert(def.name);
            }
            continue;
        }
        if internal
            && executable
                .get_function_registry()
                .lookup_by_key(key)
                .is_some()
        {
            continue;
        }
        return Err(LoadError::Verification(format!(
            "call at instruction {this} reaches neither a function nor a live syscall \
             (key {key:#010x})"
        )));
    }
    Ok(())
}

/// The index of the last instruction of `.text` when it can fall through past its end (it is
/// neither `exit` nor `ja`).
fn may_run_off_text(executable: &Executable<RunContext>) -> Option<usize> {
    let (_, text) = executable.get_text_bytes();
    let lddw = executable.get_sbpf_version().enable_lddw();
    let mut pc = 0usize;
    let mut last = None;
    while let Some(insn) = text
        .get(pc.saturating_mul(ebpf::INSN_SIZE)..)
        .filter(|r| !r.is_empty())
    {
        last = Some((pc, insn[0]));
        pc = pc.saturating_add(if lddw && insn[0] == ebpf::LD_DW_IMM {
            2
        } else {
            1
        });
    }
    match last {
        Some((_, ebpf::EXIT | ebpf::JA)) => None,
        Some((pc, _)) => Some(pc),
        None => Some(0),
    }
}

/// rbpf's ELF errors, for anything the engine's own pass did not refuse first.
fn elf_error(e: ElfError) -> LoadError {
    match e {
        ElfError::UnresolvedSymbol(name, _, _) => LoadError::UnknownSyscall(name),
        ElfError::WritableSectionNotSupported(name) => LoadError::Unsupported(format!(
            "writable section `{name}`: TBPF modules may not have mutable global data"
        )),
        ElfError::UnsupportedSBPFVersion => {
            LoadError::Unsupported("SBPF version not accepted by this configuration".into())
        }
        ElfError::EntrypointOutOfBounds | ElfError::InvalidEntrypoint => {
            LoadError::Malformed(format!("bad entry point: {e}"))
        }
        ElfError::RelativeJumpOutOfBounds(i) => {
            LoadError::Verification(format!("call at instruction {i} jumps outside .text"))
        }
        ElfError::SymbolHashCollision(h) => LoadError::Malformed(format!(
            "symbol hash collision {h:#010x}: a function's hash equals a syscall id or another \
             function's"
        )),
        other => LoadError::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Makes `prepare` panic on this thread, to test the guard.
        pub(super) static PANIC_IN_PREPARE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    #[test]
    fn a_panic_while_preparing_is_a_fault_and_the_engine_stays_usable() {
        let mut config = TbpfConfig::default();
        config.set_jit(false);
        let engine = TbpfEngine::new(config).unwrap();
        let code = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sdk/examples/build/hello.so"
        ))
        .unwrap();
        let abi = tos_syscalls::testing::abi_v1();
        PANIC_IN_PREPARE.with(|p| p.set(true));
        let err = engine.prepare(&code, &abi).err().unwrap();
        PANIC_IN_PREPARE.with(|p| p.set(false));
        match err {
            LoadError::Fault(f) => {
                assert_eq!(f.engine, ENGINE_NAME);
                assert!(
                    f.message
                        .contains("panic while preparing a module: injected by a test")
                );
            }
            other => panic!("expected a fault, got {other}"),
        }
        assert!(engine.prepare(&code, &abi).is_ok());
    }

    #[test]
    fn loaders_are_built_once_per_feature_set() {
        let mut config = TbpfConfig::default();
        config.set_jit(false);
        let engine = TbpfEngine::new(config).unwrap();
        let v1 = tos_syscalls::testing::abi_v1();
        let some: FeatureSet = ["x"].into_iter().collect();
        let active = engine.table.active(&v1);
        let a = engine.loader(v1.features(), &active).unwrap();
        let b = engine.loader(v1.features(), &active).unwrap();
        let c = engine
            .loader(&some, &engine.table.active(&some.clone().into()))
            .unwrap();
        assert!(Arc::ptr_eq(&a.loader, &b.loader));
        assert!(!Arc::ptr_eq(&a.loader, &c.loader));
        assert_eq!(active.len(), 17, "the syscalls of ABI v1");
        // Every live syscall is registered under its id, and nothing else is.
        for live in active.iter() {
            let (name, _) = a
                .loader
                .get_function_registry()
                .lookup_by_key(live.def.id)
                .unwrap();
            assert_eq!(name, live.def.name.as_bytes());
        }
        assert_eq!(a.loader.get_function_registry().iter().count(), 17);
        assert_eq!(c.loader.get_function_registry().iter().count(), 0);
    }

    #[test]
    fn the_panic_guard_turns_a_panic_into_its_message() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| panic!("boom")),
            Err::<(), _>("boom".to_owned())
        );
        let n = 3;
        assert_eq!(
            catch_panic(|| panic!("boom {n}")),
            Err::<(), _>("boom 3".to_owned())
        );
        assert_eq!(
            catch_panic(|| std::panic::panic_any(5u8)),
            Err::<(), _>("a panic without a message".to_owned())
        );
    }

    #[test]
    fn gas_costs_declare_the_instruction_and_the_prepare_price() {
        let engine = TbpfEngine::new(TbpfConfig::default()).unwrap();
        assert_eq!(
            engine.gas_costs(),
            vec![
                (INSTRUCTION_COST.to_owned(), INSTRUCTION_COST_V1),
                (PREPARE_PER_BYTE_COST.to_owned(), PREPARE_PER_BYTE_V1),
            ]
        );
    }

    #[test]
    fn jit_flag_does_not_change_the_version() {
        let mut on = TbpfConfig::default();
        on.set_jit(crate::config::JIT_AVAILABLE);
        let mut off = TbpfConfig::default();
        off.set_jit(false);
        let (on, off) = (TbpfEngine::new(on).unwrap(), TbpfEngine::new(off).unwrap());
        assert_eq!(on.version(), off.version());
        if !crate::config::JIT_AVAILABLE {
            let mut c = TbpfConfig::default();
            c.set_jit(true);
            assert!(TbpfEngine::new(c).is_err());
        }
    }
}
