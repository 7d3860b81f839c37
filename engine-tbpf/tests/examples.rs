//! The SDK's example contracts (C, clang -target bpf, tbpf-link) per docs/EXAMPLES.md, run on
//! the interpreter and the JIT through `run_all`, which demands identical outcomes and effects.

mod support;

use support::*;
use tos_engine_api::{Call, ExitStatus};

fn example(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../sdk/examples/build/{name}.so",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `call` in `world`, returns the outcome and the world after it.
fn call(code: &[u8], world: &World, call: Call, params: &[u8]) -> (tos_engine_api::Outcome, World) {
    run_all(code, call, params, world, 10_000_000)
}

#[test]
fn hello_logs() {
    let code = example("hello");
    let info = prepare(&code).unwrap().info().clone();
    assert!(info.imports.contains(&"tos_log".to_owned()), "{info:?}");
    let (o, host) = call(&code, &World::default(), Call::Entry(0), b"");
    assert_eq!(o.status, ExitStatus::Exit(0));
    assert_eq!(host.logs(), vec![b"hello, tos".to_vec()]);
    // Golden gas of the committed module: a rebuild or a cost change shows here.
    assert_eq!(o.gas_used, 123);
}

#[test]
fn counter_follows_the_specification() {
    let code = example("counter");
    let (o, host) = call(&code, &World::default(), Call::Hook(0), b"");
    assert_eq!(o.status, ExitStatus::Exit(0));
    assert_eq!(host.stored(b"count"), Some(&vec![0; 8]));
    let (o, host) = call(&code, &host, Call::Entry(0), b"");
    assert_eq!(
        (o.status, o.return_data.clone()),
        (ExitStatus::Exit(0), 1u64.to_le_bytes().to_vec())
    );
    assert_eq!(host.events(), vec![(1, 1u64.to_le_bytes().to_vec())]);
    let (o, host) = call(&code, &host, Call::Entry(2), &41u64.to_le_bytes());
    assert_eq!(o.return_data, 42u64.to_le_bytes());
    let (o, _) = call(&code, &host, Call::Entry(2), b"short");
    assert_eq!(o.status, ExitStatus::Exit(1));
    let (o, after) = call(&code, &host, Call::Entry(2), &u64::MAX.to_le_bytes());
    assert_eq!(o.status, ExitStatus::Exit(2));
    assert_eq!(
        after.state.storage, host.state.storage,
        "an overflowing add stores nothing"
    );
    let (o, _) = call(&code, &host, Call::Entry(1), b"");
    assert_eq!(
        (o.status, o.return_data.clone()),
        (ExitStatus::Exit(0), 42u64.to_le_bytes().to_vec())
    );
    let (o, _) = call(&code, &host, Call::Entry(9), b"");
    assert!(o.status != ExitStatus::Exit(0));
}

#[test]
fn token_mints_and_transfers() {
    let code = example("token");
    let owner = [7u8; 32];
    let mut host = World::default();
    host.tx.source = owner;
    let (o, h) = call(&code, &host, Call::Hook(0), b"");
    assert_eq!(o.status, ExitStatus::Exit(0));
    host.state = h.state;
    let alice = [1u8; 32];
    let mut mint = alice.to_vec();
    mint.extend_from_slice(&100u64.to_le_bytes());
    let (o, h) = call(&code, &host, Call::Entry(0), &mint);
    assert_eq!(o.status, ExitStatus::Exit(0));
    host.state = h.state;
    let (o, _) = call(&code, &host, Call::Entry(2), &alice);
    assert_eq!(o.return_data, 100u64.to_le_bytes());
    let (o, _) = call(&code, &host, Call::Entry(3), b"");
    assert_eq!(o.return_data, 100u64.to_le_bytes());
    // The owner has nothing to transfer.
    let (o, h) = call(&code, &host, Call::Entry(1), &mint);
    assert_eq!(o.status, ExitStatus::Exit(3));
    assert_eq!(h.state, host.state);
    // Alice can.
    host.tx.source = alice;
    let mut transfer = owner.to_vec();
    transfer.extend_from_slice(&30u64.to_le_bytes());
    let (o, h) = call(&code, &host, Call::Entry(1), &transfer);
    assert_eq!(o.status, ExitStatus::Exit(0));
    assert_eq!(h.events().len(), 1);
    let (o, _) = call(&code, &h, Call::Entry(2), &owner);
    assert_eq!(o.return_data, 30u64.to_le_bytes());
}

#[test]
fn compute_hash_chain_and_sieve() {
    let code = example("compute");
    let mut x = 0u64;
    for _ in 0..1000 {
        x = x.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        x = z ^ (z >> 31);
    }
    let (o, _) = call(
        &code,
        &World::default(),
        Call::Entry(0),
        &1000u32.to_le_bytes(),
    );
    assert_eq!(
        (o.status, o.return_data.clone()),
        (ExitStatus::Exit(0), x.to_le_bytes().to_vec())
    );
    assert_eq!(o.gas_used, 20_096, "golden gas of hash_chain(1000)");
    let (o, _) = call(
        &code,
        &World::default(),
        Call::Entry(1),
        &1000u32.to_le_bytes(),
    );
    assert_eq!(
        (o.status, o.return_data.clone()),
        (ExitStatus::Exit(0), 168u64.to_le_bytes().to_vec())
    );
    assert_eq!(o.gas_used, 15_432, "golden gas of sieve(1000)");
    let (o, _) = call(
        &code,
        &World::default(),
        Call::Entry(1),
        &32769u32.to_le_bytes(),
    );
    assert_eq!(o.status, ExitStatus::Exit(1));
    // Out of gas in the middle of the loop, both modes alike.
    for limit in [10, 1_000, 12_345] {
        let (o, _) = run(&code, Call::Entry(0), &1000u32.to_le_bytes(), limit);
        assert_eq!(o.gas_used, limit);
    }
}

#[test]
fn examples_disassemble() {
    for name in ["hello", "counter", "token", "compute"] {
        let listing = prepare(&example(name)).unwrap().disassemble().unwrap();
        assert!(
            listing.contains("entrypoint:") && listing.contains("syscall tos_"),
            "{name}:\n{listing}"
        );
    }
}
