//! Prepare and run of a compute-heavy module (the SDK's `compute` example, `hash_chain` and
//! `sieve`), interpreter against JIT.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tos_engine_api::{Call, ExecutionEngine};
use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
use tos_host::testing::{devnet_host, with_call_host};
use tos_host::{MemoryProvider, TxContext};

fn compute_module() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sdk/examples/build/compute.so"
    );
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn engine(jit: bool) -> TbpfEngine {
    let mut c = TbpfConfig::default();
    c.set_jit(jit);
    TbpfEngine::new(c).expect("valid configuration")
}

fn modes() -> Vec<(&'static str, bool)> {
    let mut v = vec![("interpreter", false)];
    if cfg!(all(target_arch = "x86_64", not(target_os = "windows"))) {
        v.push(("jit", true));
    }
    v
}

fn bench(c: &mut Criterion) {
    let code = compute_module();
    let features = tos_syscalls::testing::abi_v1();
    // Calls run against the real host, one call's host per benchmark: `compute` touches no
    // state, so every iteration starts alike.
    let host = devnet_host();
    let mut state = MemoryProvider::default();
    let tx = TxContext {
        height: 1,
        ..TxContext::default()
    };
    for (mode, jit) in modes() {
        let engine = engine(jit);
        c.bench_function(&format!("prepare/compute/{mode}"), |b| {
            b.iter(|| engine.prepare(black_box(&code), &features).unwrap())
        });
        let module = engine.prepare(&code, &features).unwrap();
        for (name, call, n) in [
            ("hash_chain", Call::Entry(0), 10_000u32),
            ("sieve", Call::Entry(1), 32_768),
        ] {
            let params = n.to_le_bytes();
            with_call_host(&host, &mut state, &tx, [1; 32], call, &params, |h| {
                c.bench_function(&format!("run/{name}({n})/{mode}"), |b| {
                    b.iter(|| {
                        let o = module.run(call, h, 100_000_000).unwrap();
                        assert!(o.is_success());
                        o.gas_used
                    })
                });
            })
            .unwrap();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
