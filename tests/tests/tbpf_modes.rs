//! TBPF interpreter and JIT are indistinguishable through the host: same exit codes, same
//! gas, same return data, events and logs, same final state. Gas is pinned in golden values
//! so a cost change is a visible diff.

mod common;

use common::*;
use tos_engine_api::{Call, ModuleTag};
use tos_host::{CallReport, MemoryProvider};

/// Runs every example contract through a fixed sequence of calls.
fn session(jit: bool) -> (Vec<CallReport>, MemoryProvider) {
    let host = host_with(tos_host::ActivationSchedule::devnet(), jit);
    let mut state = MemoryProvider::default();
    let mut reports = Vec::new();
    let hello = deploy(&host, &mut state, &example(ModuleTag::TBPF, "hello"), 1).address;
    let counter = deploy(&host, &mut state, &example(ModuleTag::TBPF, "counter"), 1);
    let token = deploy(&host, &mut state, &example(ModuleTag::TBPF, "token"), 1);
    let compute = deploy(&host, &mut state, &example(ModuleTag::TBPF, "compute"), 1).address;
    reports.extend(counter.constructor.clone());
    reports.extend(token.constructor.clone());
    let (counter, token) = (counter.address, token.address);
    let calls: Vec<(_, _, Call, Vec<u8>)> = vec![
        (hello, ALICE, Call::Entry(0), vec![]),
        (counter, ALICE, Call::Entry(0), vec![]),
        (counter, ALICE, Call::Entry(2), 41u64.to_le_bytes().to_vec()),
        (counter, ALICE, Call::Entry(1), vec![]),
        (token, OWNER, Call::Entry(0), to_amount(&ALICE, 1_000)),
        (token, ALICE, Call::Entry(1), to_amount(&BOB, 250)),
        (token, BOB, Call::Entry(1), to_amount(&ALICE, 251)),
        (token, ALICE, Call::Entry(2), ALICE.to_vec()),
        (
            compute,
            ALICE,
            Call::Entry(0),
            10_000u32.to_le_bytes().to_vec(),
        ),
        (
            compute,
            ALICE,
            Call::Entry(1),
            10_000u32.to_le_bytes().to_vec(),
        ),
        (
            compute,
            ALICE,
            Call::Entry(1),
            40_000u32.to_le_bytes().to_vec(),
        ),
    ];
    for (contract, from, call, params) in calls {
        reports.push(invoke(&host, &mut state, contract, from, call, &params));
    }
    // Out of gas mid-loop, in both modes at the same instruction.
    reports.push(invoke_gas(
        &host,
        &mut state,
        compute,
        ALICE,
        Call::Entry(0),
        &1_000_000u32.to_le_bytes(),
        50_000,
    ));
    (reports, state)
}

#[test]
fn interpreter_and_jit_agree_on_everything() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("no rbpf JIT on this target: nothing to compare");
        return;
    }
    let (interpreted, state_i) = session(false);
    let (jitted, state_j) = session(true);
    assert_eq!(interpreted.len(), jitted.len());
    for (i, (a, b)) in interpreted.iter().zip(&jitted).enumerate() {
        assert_eq!(a, b, "call {i} differs between interpreter and JIT");
    }
    assert_eq!(state_i, state_j);
}

#[test]
fn golden_gas_of_the_tbpf_examples() {
    let (reports, _) = session(false);
    let gas: Vec<u64> = reports.iter().map(|r| r.outcome.gas_used).collect();
    // Update deliberately when a cost changes: every figure here is charged on chain.
    let golden: Vec<u64> = vec![
        2084,   // counter constructor
        3333,   // token constructor
        1123,   // hello
        2889,   // counter increment
        2903,   // counter add
        1596,   // counter get
        5969,   // token mint
        6249,   // token transfer
        1904,   // token transfer, insufficient balance (exit 3)
        1906,   // token balance_of
        201096, // compute hash_chain(10_000)
        163984, // compute sieve(10_000)
        1026,   // compute sieve(40_000): n too large (exit 1)
        50000,  // out of gas: the whole limit
    ];
    assert_eq!(gas, golden);
}
