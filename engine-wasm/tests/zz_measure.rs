mod common;
use std::time::Instant;
use tos_engine_api::{Call, ExecutionEngine, FeatureSet};
use tos_syscalls::testing::RecordingHost;
#[test]
fn measure() {
    let engine = common::engine();
    for (name, code) in [("wat counter", common::example("counter")), ("c token", std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/examples/build/token.wasm")).unwrap())] {
        let t = Instant::now();
        let n = 20;
        let mut m = None;
        for _ in 0..n { m = Some(engine.prepare(&code, &FeatureSet::new()).unwrap()); }
        let prep = t.elapsed() / n;
        let m = m.unwrap();
        let mut host = RecordingHost::default();
        let t = Instant::now();
        let calls = 2000;
        for _ in 0..calls { common::run(m.as_ref(), &mut host, Call::Entry(if name == "c token" {3} else {0}), &[], 1_000_000); }
        eprintln!("MEASURE {name}: prepare {:?}, call {:?}", prep, t.elapsed() / calls);
    }
    let m = engine.prepare(&common::fixture("traps"), &FeatureSet::new()).unwrap();
    let mut host = RecordingHost::default();
    let t = Instant::now();
    let o = common::run(m.as_ref(), &mut host, Call::Entry(0), &[], 100_000_000);
    eprintln!("MEASURE 100M gas spin loop: {:?} ({:?})", t.elapsed(), o.status);
}
