//! Prepare and run of a compute-heavy module (the SDK's `compute` example, `hash_chain` and
//! `sieve`), interpreter against JIT.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tos_engine_api::{Call, CallInput, ExecutionEngine};
use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
use tos_syscalls::testing::RecordingHost;

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
            let input = CallInput::new(call, params.to_vec()).encode();
            c.bench_function(&format!("run/{name}({n})/{mode}"), |b| {
                b.iter(|| {
                    let mut host = RecordingHost::with_input(input.clone());
                    let o = module.run(call, &params, &mut host, 100_000_000).unwrap();
                    assert!(o.is_success());
                    o.gas_used
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
