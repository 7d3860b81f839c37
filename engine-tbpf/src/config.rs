//! [`TbpfConfig`]: what an engine accepts and how it runs modules, with its documented limits.

use std::ops::RangeInclusive;

use solana_rbpf::vm::Config;

/// Whether this build can JIT-compile: rbpf's JIT exists for x86_64 outside Windows only.
pub(crate) const JIT_AVAILABLE: bool =
    cfg!(all(target_arch = "x86_64", not(target_os = "windows")));

/// The most instructions rbpf is ever told remain. rbpf's JIT keeps the budget in a signed
/// register together with the pc, so a budget near `u64::MAX` would wrap; clamping keeps both
/// modes exact (2^62 instructions cannot run in practice, and running out charges the real
/// limit anyway).
pub(crate) const MAX_METERED_INSTRUCTIONS: u64 = 1 << 62;

/// Revision of the engine's semantics; bump when an engine change alters any result.
///
/// Still 1 after the security review's fixes: they refuse only module shapes that were never
/// sane (a `.text` that falls through its end, tables over the structural limits, more
/// functions than `MAX_FUNCTIONS`), and every module of the committed examples, of rbpf's own
/// Solana-toolchain test files and of the `tbpf-link` tests loads and runs with identical gas.
const ENGINE_REVISION: u32 = 1;

/// The configuration of a [`TbpfEngine`](crate::TbpfEngine).
///
/// Everything but [`set_jit`](TbpfConfig::set_jit) changes which modules load or how they run,
/// so it enters [`ExecutionEngine::version`](tos_engine_api::ExecutionEngine::version); the
/// JIT flag does not, since interpreter and JIT give identical outcomes.
///
/// ```
/// use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
///
/// let mut config = TbpfConfig::default();
/// config.set_jit(false).set_sbpf_versions(2..=2);
/// let engine = TbpfEngine::new(config).expect("a valid configuration");
/// # let _ = engine;
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TbpfConfig {
    pub(crate) jit: bool,
    pub(crate) sbpf_versions: RangeInclusive<u8>,
    pub(crate) max_module_size: usize,
    pub(crate) call_depth: usize,
    pub(crate) stack_frame_size: usize,
    pub(crate) heap_size: usize,
    pub(crate) tracing: bool,
}

impl Default for TbpfConfig {
    fn default() -> Self {
        TbpfConfig {
            jit: JIT_AVAILABLE,
            sbpf_versions: 1..=2,
            max_module_size: Self::DEFAULT_MAX_MODULE_SIZE,
            call_depth: Self::DEFAULT_CALL_DEPTH,
            stack_frame_size: Self::DEFAULT_STACK_FRAME_SIZE,
            heap_size: Self::DEFAULT_HEAP_SIZE,
            tracing: false,
        }
    }
}

/// Why [`TbpfEngine::new`](crate::TbpfEngine::new) refused a configuration or could not start.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("invalid TBPF engine configuration: {0}")]
pub struct ConfigError(pub(crate) String);

impl TbpfConfig {
    /// Default largest module, in bytes (1 MiB).
    pub const DEFAULT_MAX_MODULE_SIZE: usize = 1024 * 1024;
    /// Largest module size a configuration may allow (16 MiB).
    pub const MAX_MODULE_SIZE_LIMIT: usize = 16 * 1024 * 1024;
    /// Default call depth: frames, the entrypoint's included.
    pub const DEFAULT_CALL_DEPTH: usize = 64;
    /// Deepest call depth a configuration may allow.
    pub const MAX_CALL_DEPTH_LIMIT: usize = 256;
    /// Default size of one stack frame, in bytes (4 KiB, what the LLVM BPF backend assumes).
    pub const DEFAULT_STACK_FRAME_SIZE: usize = 4 * 1024;
    /// Smallest and largest stack frame a configuration may set (powers of two only).
    pub const STACK_FRAME_SIZE_RANGE: RangeInclusive<usize> = 1024..=64 * 1024;
    /// Default heap, in bytes (32 KiB), mapped writable at `MM_HEAP_START` and zeroed for every call.
    pub const DEFAULT_HEAP_SIZE: usize = 32 * 1024;
    /// Largest heap a configuration may set (256 KiB); heaps are whole KiB.
    pub const MAX_HEAP_SIZE: usize = 256 * 1024;

    /// Compiles modules to native code at prepare time (JIT) instead of interpreting them.
    /// Results and gas are identical either way. Enabling it where rbpf has no JIT (anything
    /// but x86_64 outside Windows) makes [`TbpfEngine::new`](crate::TbpfEngine::new) fail.
    ///
    /// Default: on where the JIT is available, off elsewhere.
    pub fn set_jit(&mut self, jit: bool) -> &mut Self {
        self.jit = jit;
        self
    }

    /// The SBPF versions accepted, as an inclusive range of version numbers (1 = SBPFv1,
    /// 2 = SBPFv2, as the ELF's `e_flags` say). Must lie within `1..=2` and not be empty.
    ///
    /// Default: `1..=2`.
    pub fn set_sbpf_versions(&mut self, versions: RangeInclusive<u8>) -> &mut Self {
        self.sbpf_versions = versions;
        self
    }

    /// The largest module accepted, in bytes; at most [`TbpfConfig::MAX_MODULE_SIZE_LIMIT`].
    ///
    /// Default: [`TbpfConfig::DEFAULT_MAX_MODULE_SIZE`] (1 MiB).
    pub fn set_max_module_size(&mut self, bytes: usize) -> &mut Self {
        self.max_module_size = bytes;
        self
    }

    /// The call depth: how many frames (the entrypoint's included) may be live; one call more
    /// traps with `CallDepthExceeded`. Between 1 and [`TbpfConfig::MAX_CALL_DEPTH_LIMIT`].
    ///
    /// Default: [`TbpfConfig::DEFAULT_CALL_DEPTH`] (64).
    pub fn set_call_depth(&mut self, depth: usize) -> &mut Self {
        self.call_depth = depth;
        self
    }

    /// The size of one stack frame in bytes: a power of two within [`TbpfConfig::STACK_FRAME_SIZE_RANGE`].
    /// The stack is `call depth × frame size` bytes, zero at the start of every call.
    ///
    /// Default: [`TbpfConfig::DEFAULT_STACK_FRAME_SIZE`] (4 KiB).
    pub fn set_stack_frame_size(&mut self, bytes: usize) -> &mut Self {
        self.stack_frame_size = bytes;
        self
    }

    /// The heap mapped at `MM_HEAP_START`, in bytes: whole KiB, at most [`TbpfConfig::MAX_HEAP_SIZE`].
    ///
    /// Default: [`TbpfConfig::DEFAULT_HEAP_SIZE`] (32 KiB).
    pub fn set_heap_size(&mut self, bytes: usize) -> &mut Self {
        self.heap_size = bytes;
        self
    }

    /// For tools (`tosvm --trace`): every instruction a call runs is written to the trace open
    /// on the calling thread (`tos_engine_api::trace`), with its function and registers, and
    /// each function's instructions are counted. It changes no outcome and no gas, so it is not
    /// part of [`version`](crate::TbpfEngine); a node leaves it off (it slows every
    /// instruction, also when no trace is open).
    ///
    /// Default: off.
    pub fn set_instruction_tracing(&mut self, on: bool) -> &mut Self {
        self.tracing = on;
        self
    }

    /// Checks every rule the setters document.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.jit && !JIT_AVAILABLE {
            return err("the JIT was requested but rbpf has no JIT for this target".into());
        }
        let (lo, hi) = (*self.sbpf_versions.start(), *self.sbpf_versions.end());
        if lo > hi || lo < 1 || hi > 2 {
            return err(format!(
                "SBPF versions {lo}..={hi} are not a non-empty range within 1..=2"
            ));
        }
        if self.max_module_size == 0 || self.max_module_size > Self::MAX_MODULE_SIZE_LIMIT {
            return err(format!(
                "module size limit {} is not within 1..={}",
                self.max_module_size,
                Self::MAX_MODULE_SIZE_LIMIT
            ));
        }
        if !(1..=Self::MAX_CALL_DEPTH_LIMIT).contains(&self.call_depth) {
            return err(format!(
                "call depth {} is not within 1..={}",
                self.call_depth,
                Self::MAX_CALL_DEPTH_LIMIT
            ));
        }
        if !Self::STACK_FRAME_SIZE_RANGE.contains(&self.stack_frame_size)
            || !self.stack_frame_size.is_power_of_two()
        {
            return err(format!(
                "stack frame size {} is not a power of two within {}..={}",
                self.stack_frame_size,
                Self::STACK_FRAME_SIZE_RANGE.start(),
                Self::STACK_FRAME_SIZE_RANGE.end()
            ));
        }
        if self.heap_size == 0
            || self.heap_size > Self::MAX_HEAP_SIZE
            || !self.heap_size.is_multiple_of(1024)
        {
            return err(format!(
                "heap size {} is not a whole number of KiB within 1 KiB..={}",
                self.heap_size,
                Self::MAX_HEAP_SIZE
            ));
        }
        Ok(())
    }

    /// Whether SBPF version `v` (1 or 2) is accepted.
    pub(crate) fn accepts_sbpf(&self, v: u8) -> bool {
        self.sbpf_versions.contains(&v)
    }

    /// The solana-rbpf configuration the engine runs modules with (tools that measure bare
    /// rbpf against the engine use it, so both run the same configuration). Only fields that
    /// matter for consensus are set away from rbpf's defaults; symbol labels stay off because
    /// they change which `callx` targets SBPFv2 accepts.
    pub fn rbpf_config(&self) -> Config {
        Config {
            max_call_depth: self.call_depth,
            stack_frame_size: self.stack_frame_size,
            enable_address_translation: true,
            enable_stack_frame_gaps: true,
            enable_instruction_meter: true,
            enable_instruction_tracing: self.tracing,
            enable_symbol_and_section_labels: false,
            reject_broken_elfs: true,
            external_internal_function_hash_collision: true,
            reject_callx_r10: true,
            optimize_rodata: true,
            aligned_memory_mapping: true,
            enable_sbpf_v1: self.accepts_sbpf(1),
            enable_sbpf_v2: self.accepts_sbpf(2),
            ..Config::default()
        }
    }

    /// The engine version: [`ENGINE_REVISION`] for the default consensus settings (the
    /// number activation schedules name), otherwise a fingerprint of every setting that
    /// changes results with the top bit set, so a custom configuration never poses as a
    /// scheduled version. The JIT flag is not part of it.
    pub(crate) fn version(&self) -> u32 {
        let default = TbpfConfig::default();
        if self.sbpf_versions == default.sbpf_versions
            && self.max_module_size == default.max_module_size
            && self.call_depth == default.call_depth
            && self.stack_frame_size == default.stack_frame_size
            && self.heap_size == default.heap_size
        {
            return ENGINE_REVISION;
        }
        tos_engine_api::derived_version(
            ENGINE_REVISION,
            &[
                u64::from(*self.sbpf_versions.start()),
                u64::from(*self.sbpf_versions.end()),
                self.max_module_size as u64,
                self.call_depth as u64,
                self.stack_frame_size as u64,
                self.heap_size as u64,
            ],
        )
    }

    /// The stack in bytes: call depth × frame size.
    pub(crate) fn stack_size(&self) -> usize {
        // Both factors are bounded by `validate` (256 × 64 KiB at most).
        self.call_depth.saturating_mul(self.stack_frame_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_version_one() {
        let c = TbpfConfig::default();
        c.validate().unwrap();
        assert_eq!(c.version(), 1);
        let mut jit_off = c.clone();
        jit_off.set_jit(false);
        assert_eq!(
            jit_off.version(),
            1,
            "the JIT flag must not change the version"
        );
    }

    #[test]
    fn result_changing_settings_change_the_version() {
        let base = TbpfConfig::default().version();
        let mut seen = std::collections::BTreeSet::from([base]);
        let variants: [Setter; 6] = [
            |c| {
                c.set_sbpf_versions(1..=1);
            },
            |c| {
                c.set_sbpf_versions(2..=2);
            },
            |c| {
                c.set_max_module_size(2 * 1024 * 1024);
            },
            |c| {
                c.set_call_depth(32);
            },
            |c| {
                c.set_stack_frame_size(8 * 1024);
            },
            |c| {
                c.set_heap_size(64 * 1024);
            },
        ];
        for v in variants {
            let mut c = TbpfConfig::default();
            v(&mut c);
            c.validate().unwrap();
            assert!(c.version() & 0x8000_0000 != 0);
            assert!(seen.insert(c.version()), "{c:?} repeats a version");
        }
    }

    type Setter = fn(&mut TbpfConfig);

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // an empty range is one of the refused settings
    fn invalid_settings_are_named() {
        let cases: [(Setter, &str); 7] = [
            (
                |c| {
                    c.set_sbpf_versions(0..=2);
                },
                "SBPF versions",
            ),
            (
                |c| {
                    c.set_sbpf_versions(2..=1);
                },
                "SBPF versions",
            ),
            (
                |c| {
                    c.set_max_module_size(0);
                },
                "module size",
            ),
            (
                |c| {
                    c.set_call_depth(0);
                },
                "call depth",
            ),
            (
                |c| {
                    c.set_stack_frame_size(3000);
                },
                "stack frame",
            ),
            (
                |c| {
                    c.set_heap_size(1000);
                },
                "heap size",
            ),
            (
                |c| {
                    c.set_heap_size(TbpfConfig::MAX_HEAP_SIZE + 1024);
                },
                "heap size",
            ),
        ];
        for (set, what) in cases {
            let mut c = TbpfConfig::default();
            set(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
    }
}
