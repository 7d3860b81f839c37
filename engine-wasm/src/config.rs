//! The engine's configuration and the limits it enforces.

use tos_engine_api::Gas;

/// The configuration of a [`WasmEngine`](crate::WasmEngine).
///
/// Every field is a limit that changes which modules load or how calls end, so the defaults
/// are the consensus values of this engine's [`version`](tos_engine_api::ExecutionEngine::version):
/// a node on a network keeps them; tests and local tools may tighten them. The associated
/// constants (`WasmConfig::MAX_*`) are the hard ceilings no configuration may exceed;
/// [`WasmEngine::new`](crate::WasmEngine::new) refuses a configuration outside them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WasmConfig {
    pub(crate) max_module_size: usize,
    pub(crate) max_memory_pages: u32,
    pub(crate) max_table_elements: u32,
    pub(crate) max_wasm_stack: usize,
    pub(crate) optimize: bool,
    pub(crate) reuse_instances: bool,
}

impl WasmConfig {
    /// Largest module accepted by `prepare`, in bytes (1 MiB).
    pub const MAX_MODULE_SIZE: usize = 1024 * 1024;
    /// Most 64 KiB pages a module's linear memory may have: 256 pages, 16 MiB.
    pub const MAX_MEMORY_PAGES: u32 = 256;
    /// Most elements a module's table may have.
    pub const MAX_TABLE_ELEMENTS: u32 = 4096;
    /// Most native stack, in bytes, that wasm code may use (4 MiB). Stack exhaustion is decided
    /// by the deterministic limit ([`WasmConfig::STACK_SLOTS`]), which fires long before
    /// this; reaching the native limit anyway would be an engine bug, reported as a fault.
    /// The thread that calls `run` needs the configured amount plus room for the host.
    pub const MAX_WASM_STACK: usize = 4 * 1024 * 1024;
    /// Smallest native stack a configuration may give wasm code (1 MiB): enough for the
    /// deepest chain of frames [`WasmConfig::STACK_SLOTS`] allows, of the most stack-hungry
    /// function, with either optimization setting, with a margin of 2 (tested).
    pub const MIN_WASM_STACK: usize = 1024 * 1024;
    /// Gas charged for each 64 KiB page of linear memory a call gets: the module's initial
    /// pages before the call starts, and each page `memory.grow` asks for (charged before the
    /// growth is attempted, whether it succeeds or not).
    pub const GAS_PER_MEMORY_PAGE: Gas = 255;

    // Structural limits, checked by a validation pre-pass over the bytes before anything is
    // compiled (see the crate docs, "Limits"). Each bounds the work compiling or
    // instantiating a module may cost per byte of code; every contract clang or rustc emits
    // fits them with a wide margin. A module over one is refused with
    // `LoadError::Unsupported` naming the limit and the value found.

    /// Most function types in the type section.
    pub const MAX_TYPES: u32 = 1_024;
    /// Most imports (each is a syscall).
    pub const MAX_IMPORTS: u32 = 256;
    /// Most exports.
    pub const MAX_EXPORTS: u32 = 1_024;
    /// Most functions, imported and defined.
    pub const MAX_FUNCTIONS: u32 = 10_000;
    /// Most parameters of a function type.
    pub const MAX_PARAMS: u32 = 128;
    /// Most results of a function type.
    pub const MAX_RESULTS: u32 = 16;
    /// Largest function body, in bytes. It also bounds how far straight-line code can run past
    /// its fuel: see [`WasmConfig::MAX_FUEL_OVERRUN`].
    pub const MAX_FUNCTION_BODY_SIZE: u32 = 64 * 1024;
    /// Most locals of one function, parameters included.
    pub const MAX_LOCALS_PER_FUNCTION: u32 = 2_048;
    /// Most locals of all functions together, parameters included.
    pub const MAX_LOCALS_TOTAL: u32 = 200_000;
    /// Most nested control frames (`block`, `loop`, `if`) in a function, the body's own
    /// frame included.
    pub const MAX_CONTROL_DEPTH: u32 = 512;
    /// Most values on a function's operand stack at any point. Values live across a call
    /// are spilled together, and register allocation grows faster than linearly with them
    /// (999 values held across one call: 17 ms to compile 3 KB); compilers keep the operand
    /// stack a few dozen values deep.
    pub const MAX_OPERAND_STACK: u32 = 256;
    /// Most loops nested inside one another in a function. Register allocation over many
    /// values live across deeply nested loops grows much faster than the code (measured:
    /// 128 nested loops over 512 locals, 6 KB, took 20 s to compile); real code nests a
    /// handful.
    pub const MAX_LOOP_NESTING: u32 = 16;
    /// Loop-carried locals a function may have for free: the sum over its loops of the
    /// distinct locals each assigns (nested loops count a local once per enclosing loop).
    /// Each such pair is a block parameter Cranelift carries around a loop header, and
    /// register allocation scales with them, not with the code: 16 nested loops assigning
    /// 2,048 locals (32,768 pairs from 18 KB) took 0.38 s to compile, 20 µs per byte.
    pub const FREE_LOOP_CARRIED_LOCALS: u32 = 64;
    /// Past [`WasmConfig::FREE_LOOP_CARRIED_LOCALS`], a function may have one more
    /// loop-carried local per this many bytes of its body (refused as
    /// `MAX_LOOP_CARRIED_LOCALS` otherwise): what sequential loops over many locals have,
    /// which compile at about 1.8 µs per byte.
    pub const BYTES_PER_LOOP_CARRIED_LOCAL: u32 = 8;
    /// Functions a module may define for free; past it, one more per
    /// [`WasmConfig::BYTES_PER_FUNCTION`] bytes of the module. Compiling a function has a
    /// fixed cost (about 0.1 ms measured), so tiny functions would make compilation cost far
    /// more per byte than real code (18 µs per byte for 10,000 one-call functions).
    pub const FREE_FUNCTIONS: u32 = 64;
    /// Bytes of module per function past [`WasmConfig::FREE_FUNCTIONS`] (real contracts
    /// average a few hundred bytes per function).
    pub const BYTES_PER_FUNCTION: u32 = 64;
    /// Most targets of one `br_table`.
    pub const MAX_BR_TABLE_TARGETS: u32 = 4_096;
    /// Most globals.
    pub const MAX_GLOBALS: u32 = 1_024;
    /// Most tables (C and Rust toolchains emit one, for indirect calls).
    pub const MAX_TABLES: u32 = 1;
    /// Most data segments.
    pub const MAX_DATA_SEGMENTS: u32 = 1_024;
    /// Most bytes of all data segments together.
    pub const MAX_DATA_BYTES: u32 = 1024 * 1024;
    /// Most element segments.
    pub const MAX_ELEMENT_SEGMENTS: u32 = 256;
    /// Most elements of all element segments together.
    pub const MAX_ELEMENTS: u32 = 16_384;
    /// The deterministic stack: the most stack slots the frames of nested calls may hold
    /// together. A function's frame costs [`WasmConfig::FRAME_OVERHEAD`] + its parameters +
    /// its locals + its highest operand stack + one slot per 8 bytes of its body; a call that
    /// would take the total past this limit traps with `StackOverflow`, whatever the machine,
    /// the optimization level or the wasmtime version.
    pub const STACK_SLOTS: u32 = 64 * 1024;
    /// Fixed slots of every frame in [`WasmConfig::STACK_SLOTS`] (return address, saved
    /// registers, the engine's context).
    pub const FRAME_OVERHEAD: u32 = 16;
    /// The most operators a call may run past its gas limit before a fuel check stops it:
    /// the instrumentation puts a check after every 1,024 operators of straight-line code and
    /// right after every call of a module function returns, and wasmtime checks at every
    /// function entry and loop header, so at most 1,024 operators (plus a bulk operation of
    /// at most 128 bytes, which wasmtime does not check) run unpaid. Such a call is out of
    /// gas and charged its whole limit; the overrun is measured at about 6 µs for a call,
    /// most of it the call's own set-up.
    pub const MAX_FUEL_OVERRUN: u32 = 1_024;

    /// The consensus configuration of this engine version.
    pub const fn new() -> Self {
        WasmConfig {
            max_module_size: Self::MAX_MODULE_SIZE,
            max_memory_pages: Self::MAX_MEMORY_PAGES,
            max_table_elements: Self::MAX_TABLE_ELEMENTS,
            max_wasm_stack: Self::MIN_WASM_STACK,
            optimize: true,
            reuse_instances: true,
        }
    }

    /// Largest module, in bytes, that `prepare` accepts; larger code is refused with
    /// `LoadError::TooLarge` before it is parsed. At most [`WasmConfig::MAX_MODULE_SIZE`].
    ///
    /// Default: [`WasmConfig::MAX_MODULE_SIZE`] (1 MiB).
    pub fn set_max_module_size(&mut self, bytes: usize) -> &mut Self {
        self.max_module_size = bytes;
        self
    }

    /// Most 64 KiB pages of linear memory. A module declaring a larger minimum is refused at
    /// `prepare`; `memory.grow` past it returns -1 at run time. Between 1 and
    /// [`WasmConfig::MAX_MEMORY_PAGES`].
    ///
    /// Default: [`WasmConfig::MAX_MEMORY_PAGES`] (256 pages, 16 MiB).
    pub fn set_max_memory_pages(&mut self, pages: u32) -> &mut Self {
        self.max_memory_pages = pages;
        self
    }

    /// Most elements of a table. A module declaring a larger minimum is refused at `prepare`;
    /// `table.grow` past it returns -1 at run time. At most [`WasmConfig::MAX_TABLE_ELEMENTS`].
    ///
    /// Default: [`WasmConfig::MAX_TABLE_ELEMENTS`] (4096).
    pub fn set_max_table_elements(&mut self, elements: u32) -> &mut Self {
        self.max_table_elements = elements;
        self
    }

    /// Native stack, in bytes, that wasm code may use. Between
    /// [`WasmConfig::MIN_WASM_STACK`] and [`WasmConfig::MAX_WASM_STACK`]; it never decides an
    /// outcome (the deterministic stack limit fires first), so it only sets how much stack the
    /// calling thread must have.
    ///
    /// Default: [`WasmConfig::MIN_WASM_STACK`] (1 MiB).
    pub fn set_max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Whether Cranelift optimizes the code it generates. Gas counts wasm operators, not
    /// machine instructions, and since engine version 2 stack exhaustion follows the
    /// deterministic limit, so the same module gives the same results and gas either way
    /// (tested on the deepest allowed chains). It stays part of the
    /// [`version`](tos_engine_api::ExecutionEngine::version) all the same: that no
    /// optimization can ever change a result is not proven, only tested.
    ///
    /// Default: `true`.
    pub fn set_optimize(&mut self, optimize: bool) -> &mut Self {
        self.optimize = optimize;
        self
    }

    /// Whether a module's instance is reset and reused by the next call of the module on the
    /// same thread instead of instantiating the module afresh (see the crate docs, "Calls").
    /// Outcomes and gas are the same either way (tested); reuse only saves time. Not part of
    /// the [`version`](tos_engine_api::ExecutionEngine::version).
    ///
    /// Default: `true`.
    pub fn set_instance_reuse(&mut self, reuse: bool) -> &mut Self {
        self.reuse_instances = reuse;
        self
    }

    /// The engine version this configuration gives: the engine's revision for the defaults
    /// (the network's values), otherwise a version derived from every option, since each can
    /// change an outcome: the size, memory and table limits decide which modules load and
    /// where growth fails; the native stack size and the optimization level are kept in it
    /// out of caution (the deterministic stack limit decides overflows since version 2).
    pub(crate) fn version(&self) -> u32 {
        let consensus = WasmConfig {
            reuse_instances: true,
            ..self.clone()
        };
        if consensus == Self::new() {
            return crate::ENGINE_VERSION;
        }
        tos_engine_api::derived_version(
            crate::ENGINE_VERSION,
            &[
                self.max_module_size as u64,
                u64::from(self.max_memory_pages),
                u64::from(self.max_table_elements),
                self.max_wasm_stack as u64,
                u64::from(self.optimize),
            ],
        )
    }

    /// Checks the configuration against the hard ceilings.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_module_size == 0 || self.max_module_size > Self::MAX_MODULE_SIZE {
            return Err(format!(
                "max_module_size {} is outside 1..={}",
                self.max_module_size,
                Self::MAX_MODULE_SIZE
            ));
        }
        if self.max_memory_pages == 0 || self.max_memory_pages > Self::MAX_MEMORY_PAGES {
            return Err(format!(
                "max_memory_pages {} is outside 1..={}",
                self.max_memory_pages,
                Self::MAX_MEMORY_PAGES
            ));
        }
        if self.max_table_elements > Self::MAX_TABLE_ELEMENTS {
            return Err(format!(
                "max_table_elements {} exceeds {}",
                self.max_table_elements,
                Self::MAX_TABLE_ELEMENTS
            ));
        }
        if !(Self::MIN_WASM_STACK..=Self::MAX_WASM_STACK).contains(&self.max_wasm_stack) {
            return Err(format!(
                "max_wasm_stack {} is outside {}..={}",
                self.max_wasm_stack,
                Self::MIN_WASM_STACK,
                Self::MAX_WASM_STACK
            ));
        }
        Ok(())
    }

    /// Bytes of linear memory the configuration allows.
    pub(crate) fn max_memory_bytes(&self) -> usize {
        // At most 256 pages of 64 KiB (16 MiB) once validated; saturating keeps an
        // unvalidated value from wrapping.
        (self.max_memory_pages as usize).saturating_mul(WASM_PAGE_SIZE)
    }
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Size of a wasm page (the custom-page-sizes proposal is off).
pub(crate) const WASM_PAGE_SIZE: usize = 64 * 1024;

/// Linkers built for distinct feature sets are kept up to this many; past it the cache is
/// emptied and refilled (feature sets change a handful of times over a chain's life).
pub(crate) const MAX_CACHED_LINKERS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_changes_the_version() {
        let default = WasmConfig::new().version();
        assert_eq!(default, crate::ENGINE_VERSION);
        let flips: [fn(&mut WasmConfig); 5] = [
            |c| {
                c.set_max_module_size(1000);
            },
            |c| {
                c.set_max_memory_pages(17);
            },
            |c| {
                c.set_max_table_elements(10);
            },
            |c| {
                c.set_max_wasm_stack(2 * 1024 * 1024);
            },
            |c| {
                c.set_optimize(false);
            },
        ];
        let mut seen = std::collections::BTreeSet::from([default]);
        for flip in flips {
            let mut c = WasmConfig::new();
            flip(&mut c);
            assert!(seen.insert(c.version()), "{c:?} shares a version");
        }
        // Reuse changes no outcome: not part of the version.
        let mut c = WasmConfig::new();
        c.set_instance_reuse(false);
        assert_eq!(c.version(), default);
    }

    #[test]
    fn defaults_are_valid_and_ceilings_are_enforced() {
        assert_eq!(WasmConfig::default().validate(), Ok(()));
        let mut c = WasmConfig::new();
        c.set_max_memory_pages(257);
        assert!(c.validate().unwrap_err().contains("max_memory_pages 257"));
        let mut c = WasmConfig::new();
        c.set_max_wasm_stack(256 * 1024);
        assert!(c.validate().unwrap_err().contains("max_wasm_stack 262144"));
        let mut c = WasmConfig::new();
        c.set_max_module_size(0);
        assert!(c.validate().is_err());
        let mut c = WasmConfig::new();
        c.set_max_table_elements(5000);
        assert!(c.validate().is_err());
        assert_eq!(WasmConfig::new().max_memory_bytes(), 16 * 1024 * 1024);
    }
}
