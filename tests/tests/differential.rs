//! Differential testing across engines: long random sequences of calls on the token and
//! counter contracts must give identical outcomes (exit code or trap, return data, events)
//! and identical final storage on TBPF (interpreter and JIT), legacy and wasm. Seeded, so a
//! difference names the seed and step that reproduce it.

mod common;

use std::collections::BTreeMap;

use common::*;
use tos_engine_api::{Call, ExitStatus, Hash, ModuleTag};
use tos_host::{ContractModule, Host, MemoryProvider};

const ACCOUNTS: [Hash; 4] = [OWNER, ALICE, BOB, [0xC4; 32]];

/// A random call on the token: mostly well-formed, sometimes malformed or unknown.
fn token_call(rng: &mut Rng) -> (Hash, Call, Vec<u8>) {
    let from = ACCOUNTS[rng.below(4) as usize];
    let to = ACCOUNTS[rng.below(4) as usize];
    let amount = match rng.below(6) {
        0 => 0,
        1 => u64::MAX - rng.below(3),
        _ => rng.below(2_000),
    };
    match rng.below(12) {
        0..=2 => (from, Call::Entry(0), to_amount(&to, amount)),
        3..=7 => (from, Call::Entry(1), to_amount(&to, amount)),
        8 => (from, Call::Entry(2), to.to_vec()),
        9 => (from, Call::Entry(3), vec![]),
        10 => {
            let len = rng.below(80) as usize;
            (from, Call::Entry(rng.below(4) as u16), vec![7; len])
        }
        _ => (from, Call::Entry(4 + rng.below(3) as u16), vec![]),
    }
}

/// A random call on the counter.
fn counter_call(rng: &mut Rng) -> (Hash, Call, Vec<u8>) {
    let from = ACCOUNTS[rng.below(4) as usize];
    match rng.below(8) {
        0..=2 => (from, Call::Entry(0), vec![]),
        3 => (from, Call::Entry(1), vec![]),
        4 | 5 => {
            let amount = if rng.below(4) == 0 {
                u64::MAX - rng.below(1_000)
            } else {
                rng.below(1_000_000)
            };
            (from, Call::Entry(2), amount.to_le_bytes().to_vec())
        }
        6 => (from, Call::Entry(2), vec![1; rng.below(12) as usize]),
        _ => (from, Call::Hook(1 + rng.below(3) as u8), vec![]),
    }
}

type Seen = (ExitStatus, Vec<u8>, Vec<(u64, Vec<u8>)>);

fn run(
    host: &Host,
    module: &ContractModule,
    seed: u64,
    steps: usize,
    next_call: fn(&mut Rng) -> (Hash, Call, Vec<u8>),
) -> (Vec<Seen>, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut state = MemoryProvider::default();
    let address = deploy(host, &mut state, module, 1).address;
    let mut rng = Rng(seed);
    let mut seen = Vec::with_capacity(steps);
    for _ in 0..steps {
        let (from, call, params) = next_call(&mut rng);
        let r = invoke(host, &mut state, address, from, call, &params);
        seen.push((
            r.outcome.status,
            r.outcome.return_data,
            r.events.into_iter().map(|e| (e.id, e.data)).collect(),
        ));
    }
    (seen, storage_of(&state, &address))
}

fn differential(
    name: &str,
    next_call: fn(&mut Rng) -> (Hash, Call, Vec<u8>),
    extra: Option<ContractModule>,
) {
    let jit = host_with(
        tos_host::ActivationSchedule::devnet(),
        cfg!(target_arch = "x86_64"),
    );
    let interpreter = host_with(tos_host::ActivationSchedule::devnet(), false);
    let mut runs: Vec<(String, &Host, ContractModule)> = vec![
        (
            "tbpf (interpreter)".into(),
            &interpreter,
            example(ModuleTag::TBPF, name),
        ),
        ("tbpf (jit)".into(), &jit, example(ModuleTag::TBPF, name)),
        ("legacy".into(), &jit, example(ModuleTag::LEGACY, name)),
        ("wasm (C)".into(), &jit, example(ModuleTag::WASM, name)),
    ];
    if let Some(m) = extra {
        runs.push(("wasm (WAT)".into(), &jit, m));
    }
    for seed in [0x0d1f_f001u64, 0x0d1f_f002, 0x0d1f_f003] {
        let reference = run(runs[0].1, &runs[0].2, seed, 300, next_call);
        let successes = reference
            .0
            .iter()
            .filter(|s| s.0 == ExitStatus::Exit(0))
            .count();
        assert!(
            successes > 30,
            "{name} seed {seed:#x}: too few successful calls ({successes}) to mean much"
        );
        for (label, host, module) in &runs[1..] {
            let other = run(host, module, seed, 300, next_call);
            for (step, (a, b)) in reference.0.iter().zip(&other.0).enumerate() {
                assert_eq!(
                    a, b,
                    "{name} seed {seed:#x} step {step}: {label} differs from {}",
                    runs[0].0
                );
            }
            assert_eq!(
                reference.1, other.1,
                "{name} seed {seed:#x}: final storage of {label} differs"
            );
        }
    }
}

#[test]
fn token_sequences_agree_on_every_engine() {
    differential("token", token_call, None);
}

#[test]
fn counter_sequences_agree_on_every_engine() {
    let wat = ContractModule::new(ModuleTag::WASM, read("engine-wasm/examples/counter.wasm"));
    differential("counter", counter_call, Some(wat));
}
