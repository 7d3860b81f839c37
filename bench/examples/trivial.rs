//! Warm trivial calls in a loop on one engine, timed (a profiling aid:
//! `perf record -g target/release/examples/trivial jit 2000000`).
use std::time::Instant;
use tos_bench::modules::{self, Built};
use tos_bench::world::{Contract, EngineKind, Hosts};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("jit");
    let iterations: u32 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let engine = EngineKind::from_arg(which);
    let code = match engine {
        EngineKind::TbpfJit | EngineKind::TbpfInterp => modules::tbpf(Built::Trivial)
            .expect("clang built trivial.so")
            .to_vec(),
        EngineKind::Wasm => modules::wasm(Built::Trivial)
            .expect("clang built trivial.wasm")
            .to_vec(),
        EngineKind::Legacy => modules::trivial_legacy().expect("the legacy trivial module"),
    };
    let hosts = Hosts::new().expect("hosts");
    let mut contract = Contract::deploy(hosts.of(engine), engine.tag(), &code).expect("deploy");
    for _ in 0..1000 {
        contract.call_ok(0, &[]).expect("warm-up");
    }
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(contract.call_ok(0, &[]).expect("call"));
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(iterations);
    println!("{which}: {per:.0} ns per warm trivial call");
}
