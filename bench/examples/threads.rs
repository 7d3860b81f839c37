//! Calls per second of counter.increment on one Host from N threads (a profiling aid).
use std::time::Duration;
use tos_bench::modules;
use tos_bench::timing::throughput;
use tos_bench::world::{Contract, EngineKind, Hosts};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let which = args.get(2).map(String::as_str).unwrap_or("wasm");
    let engine = EngineKind::from_arg(which);
    let code = match engine {
        EngineKind::TbpfJit | EngineKind::TbpfInterp => modules::COUNTER_TBPF,
        EngineKind::Wasm => modules::COUNTER_WASM,
        EngineKind::Legacy => modules::COUNTER_LEGACY,
    };
    let hosts = Hosts::new().unwrap();
    let host = hosts.of(engine);
    let rate = throughput(
        threads,
        Duration::from_secs(3),
        || Contract::deploy(host, engine.tag(), code),
        |c| c.call_ok(0, &[]).map(drop),
    )
    .unwrap();
    println!("{which} {threads} threads: {rate:.0} calls/s");
}
