//! The benchmark suite of tos-engine (`cargo bench -p tos-bench`; docs/BENCHMARKS.md).
//!
//! This library holds what the suite (`benches/suite.rs`) and the determinism test
//! (`tests/kernels.rs`) share: the modules `build.rs` compiled from `kernels/` ([`modules`]),
//! the same kernels compiled natively ([`native`]), deploys and calls through the real
//! [`Host`](tos_host::Host) ([`world`]), the bare floors — the same TBPF module on solana-rbpf
//! alone ([`bare_rbpf`]) and the same wasm module on wasmtime alone ([`bare_wasm`]) — and the
//! timing and table helpers ([`timing`]).
//!
//! ```
//! use tos_bench::modules;
//! // Without clang (apt-get install clang lld) the C cases are skipped, with a note.
//! if let Some(note) = modules::skip_note() {
//!     println!("{note}");
//! }
//! ```

// Linking the wasm engine registers it with the host (tag 2): the plug-in is found through
// `inventory`, never named by the host.
use tos_engine_wasm as _;

pub mod bare_rbpf;
pub mod bare_wasm;
pub mod modules;
pub mod native;
pub mod timing;
pub mod world;

/// An error of the bench harness: a message naming what failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BenchError(pub String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

impl BenchError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        BenchError(message.into())
    }
}

/// The gas limit of every deploy and call of the suite: the devnet's per-transaction cap.
pub const GAS_LIMIT: u64 = 100_000_000;
