//! The modules of the suite: those `build.rs` compiled from `kernels/` (present only where
//! clang was found) and the committed SDK and legacy examples (always present).

/// Why the C cases are skipped in this build, or `None` when clang built everything.
pub fn skip_note() -> Option<String> {
    let missing = env!("TOS_BENCH_MISSING_TOOLS");
    if missing.split(',').any(|t| t == "clang") {
        Some("skipped: clang not found (apt-get install clang lld)".to_owned())
    } else if missing.split(',').any(|t| t == "wasm-ld") {
        Some("wasm kernels skipped: wasm-ld not found (apt-get install lld)".to_owned())
    } else if cfg!(not(tos_bench_native)) {
        Some("native kernels skipped: a cross build cannot run them".to_owned())
    } else {
        None
    }
}

/// A kernel of `kernels/kernels.c`, with the `n` the suite times and the `n` the
/// determinism test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Its id in `kernel_run` (the first u32 of the contract's params).
    pub id: u32,
    /// Its name.
    pub name: &'static str,
    /// The work size the suite times (a few million TBPF instructions).
    pub bench_n: u32,
    /// A small work size for tests.
    pub test_n: u32,
}

/// The six kernels, in id order.
pub const KERNELS: [Kernel; 6] = [
    Kernel {
        id: 0,
        name: "hash",
        bench_n: 256,
        test_n: 3,
    },
    Kernel {
        id: 1,
        name: "sieve",
        bench_n: 4,
        test_n: 1,
    },
    Kernel {
        id: 2,
        name: "crc32",
        bench_n: 24,
        test_n: 1,
    },
    Kernel {
        id: 3,
        name: "fib",
        bench_n: 27,
        test_n: 12,
    },
    Kernel {
        id: 4,
        name: "matmul",
        bench_n: 24,
        test_n: 2,
    },
    Kernel {
        id: 5,
        name: "heapsort",
        bench_n: 8192,
        test_n: 300,
    },
];

impl Kernel {
    /// The params of the contract's entry 0 for this kernel with `n`: id and n, u32 LE each.
    pub fn params(&self, n: u32) -> Vec<u8> {
        [self.id.to_le_bytes(), n.to_le_bytes()].concat()
    }
}

/// A module built from `kernels/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Built {
    /// `contract.c`: entry 0 runs a kernel.
    Kernels,
    /// `trivial.c`: entry 0 returns 0.
    Trivial,
    /// `trivial.c` with a table that brings it near 1 MiB: entry 0 returns 0.
    Big,
}

/// The TBPF build of `module`, `None` without clang.
pub fn tbpf(module: Built) -> Option<&'static [u8]> {
    #[cfg(tos_bench_tbpf)]
    {
        Some(match module {
            Built::Kernels => include_bytes!(concat!(env!("OUT_DIR"), "/contract.so")),
            Built::Trivial => include_bytes!(concat!(env!("OUT_DIR"), "/trivial.so")),
            Built::Big => include_bytes!(concat!(env!("OUT_DIR"), "/big.so")),
        })
    }
    #[cfg(not(tos_bench_tbpf))]
    {
        let _ = module;
        None
    }
}

/// The wasm build of `module`, `None` without clang or wasm-ld.
pub fn wasm(module: Built) -> Option<&'static [u8]> {
    #[cfg(tos_bench_wasm)]
    {
        Some(match module {
            Built::Kernels => include_bytes!(concat!(env!("OUT_DIR"), "/contract.wasm")),
            Built::Trivial => include_bytes!(concat!(env!("OUT_DIR"), "/trivial.wasm")),
            Built::Big => include_bytes!(concat!(env!("OUT_DIR"), "/big.wasm")),
        })
    }
    #[cfg(not(tos_bench_wasm))]
    {
        let _ = module;
        None
    }
}

/// The SDK's counter (docs/EXAMPLES.md) as committed: TBPF.
pub const COUNTER_TBPF: &[u8] = include_bytes!("../../sdk/examples/build/counter.so");
/// The SDK's counter as committed: wasm.
pub const COUNTER_WASM: &[u8] = include_bytes!("../../sdk/examples/build/counter.wasm");
/// The legacy counter as committed (assembled from `engine-legacy/examples/counter.tasm`).
pub const COUNTER_LEGACY: &[u8] = include_bytes!("../../engine-legacy/examples/counter.tosl");

/// The legacy VM's trivial contract: entry 0 exits with 0, like `trivial.c`.
const TRIVIAL_TASM: &str = "\
.chunk main args=1
    imm 0
    exit
.entry 0 main
";

/// The legacy trivial module, assembled.
///
/// # Errors
/// The assembler's or the encoder's refusal (a bug of this crate).
pub fn trivial_legacy() -> Result<Vec<u8>, crate::BenchError> {
    let module = tos_engine_legacy::assemble(TRIVIAL_TASM)
        .map_err(|e| crate::BenchError::new(format!("assembling the trivial module: {e}")))?;
    module
        .to_bytes()
        .map_err(|e| crate::BenchError::new(format!("encoding the trivial module: {e}")))
}
