//! Throughput figures (ignored by default; run in release):
//! `cargo test --release -p tos-engine-legacy --test measure -- --ignored --nocapture`.

use std::time::Instant;

use tos_engine_api::{Call, ExecutionEngine, ExitStatus};
use tos_engine_legacy::{LegacyConfig, LegacyEngine, assemble};
use tos_host::testing::{devnet_host, with_call_host};
use tos_host::{MemoryProvider, TxContext};

#[test]
#[ignore = "measurement; run in release with --ignored --nocapture"]
fn interpreter_throughput() {
    // A counting loop: 13 instructions (13 gas) per iteration, all on scalars.
    let text = "
.chunk main args=1 locals=3
    load 0
    bytes.to_u64
    store 1
    imm 0
    store 2
top:
    load 1
    imm 0
    eq
    jmp.if done
    load 2
    load 1
    add
    store 2
    load 1
    imm 1
    sub
    store 1
    jmp top
done:
    imm 0
    exit
.entry 0 main
";
    let code = assemble(text).unwrap().to_bytes().unwrap();
    let engine = LegacyEngine::new(LegacyConfig::default()).unwrap();
    let prepared = engine
        .prepare(&code, &tos_syscalls::testing::abi_v1())
        .unwrap();
    let n: u64 = 5_000_000;
    let params = n.to_le_bytes();
    let call = Call::Entry(0);
    // The real host, in a call of contract [1; 32] over a state in memory.
    let host = devnet_host();
    let mut state = MemoryProvider::default();
    let tx = TxContext {
        height: 1,
        ..TxContext::default()
    };
    let ((out, elapsed), _) = with_call_host(&host, &mut state, &tx, [1; 32], call, &params, |h| {
        let start = Instant::now();
        let out = prepared.run(call, h, u64::MAX).unwrap();
        (out, start.elapsed())
    })
    .unwrap();
    assert_eq!(out.status, ExitStatus::Exit(0));
    let per_sec = out.gas_used as f64 / elapsed.as_secs_f64();
    println!(
        "loop: {} gas (= instructions) in {:?}: {:.1} M instructions/s",
        out.gas_used,
        elapsed,
        per_sec / 1e6
    );

    // Prepare and one token transfer, end to end.
    let token = include_bytes!("../examples/token.tosl");
    let start = Instant::now();
    let rounds = 2_000;
    for _ in 0..rounds {
        engine
            .prepare(token, &tos_syscalls::testing::abi_v1())
            .unwrap();
    }
    println!("prepare token.tosl: {:?} each", start.elapsed() / rounds);
    let prepared = engine
        .prepare(token, &tos_syscalls::testing::abi_v1())
        .unwrap();
    let mut params = vec![0x22; 32];
    params.extend_from_slice(&1u64.to_le_bytes());
    // The caller (the default transaction's source, [0; 32]) holds every token.
    state.storage.insert(
        ([1; 32], [&b"bal"[..], &[0; 32]].concat()),
        u64::MAX.to_le_bytes().to_vec(),
    );
    let call = Call::Entry(1);
    let start = Instant::now();
    for _ in 0..rounds {
        // One call's host each, as a node runs them (its events then start empty).
        let (out, _) = with_call_host(&host, &mut state, &tx, [1; 32], call, &params, |h| {
            prepared.run(call, h, 1_000_000)
        })
        .unwrap();
        assert_eq!(out.unwrap().status, ExitStatus::Exit(0));
    }
    println!("token transfer: {:?} per call", start.elapsed() / rounds);
}
