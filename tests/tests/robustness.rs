//! No input a network peer can send panics the host or an engine: random envelopes, random
//! code under every tag, mutated real modules, and random calls on whatever deploys. Every
//! answer is either a refusal (`Err`) or an outcome; deterministic inputs (seeded) make any
//! failure reproducible.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use tos_engine_api::{Call, ModuleTag};
use tos_host::{ContractModule, DeployRequest, InvokeRequest, MemoryProvider};

/// Mutates `code`: flips, overwrites, truncates or extends it.
fn mutate(rng: &mut Rng, code: &[u8]) -> Vec<u8> {
    let mut out = code.to_vec();
    match rng.index(4) {
        0 => {
            for _ in 0..1 + rng.index(4) {
                let i = rng.index(out.len());
                out[i] ^= 1 << rng.index(8);
            }
        }
        1 => {
            let i = rng.index(out.len());
            let n = (1 + rng.index(8)).min(out.len() - i);
            let junk = rng.bytes(n);
            out[i..i + n].copy_from_slice(&junk);
        }
        2 => out.truncate(rng.index(out.len())),
        _ => {
            let extra = 1 + rng.index(64);
            out.extend(rng.bytes(extra));
        }
    }
    out
}

/// Deploys `envelope` and, when that works, makes a few random calls. Panics only if the
/// host or an engine panicked.
fn exercise(rng: &mut Rng, host: &tos_host::Host, envelope: Vec<u8>, what: &str) -> bool {
    let mut state = MemoryProvider::default();
    let seed = rng.next();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut rng = Rng(seed | 1);
        let deployed = host.deploy(
            &mut state,
            &tx(1, OWNER),
            &DeployRequest {
                envelope,
                params: rng.some_bytes(48),
                gas_limit: 200_000,
            },
        );
        let Ok(d) = deployed else { return false };
        if !d.deployed {
            return true;
        }
        for _ in 0..4 {
            let call = if rng.index(4) == 0 {
                Call::Hook(rng.next() as u8 % 4)
            } else {
                Call::Entry(rng.next() as u16 % 6)
            };
            let request = InvokeRequest {
                contract: d.address,
                call,
                params: rng.some_bytes(80),
                gas_limit: 1_000 + rng.index(200_000) as u64,
                deposits: vec![],
            };
            let _ = host.invoke(&mut state, &tx(2, ALICE), &request);
        }
        true
    }));
    match result {
        Ok(deployed) => deployed,
        Err(_) => panic!("{what}: the host or an engine panicked (seed {seed:#x})"),
    }
}

#[test]
fn random_envelopes_are_refused_without_panicking() {
    let host = host();
    let mut rng = Rng(0x5eed_0001);
    for i in 0..2_000 {
        let bytes = rng.some_bytes(64);
        exercise(&mut rng, &host, bytes, &format!("random envelope {i}"));
    }
}

#[test]
fn random_code_under_every_tag_is_refused_without_panicking() {
    let host = host();
    let mut rng = Rng(0x5eed_0002);
    for tag in [ModuleTag::LEGACY, ModuleTag::TBPF, ModuleTag::WASM] {
        for i in 0..300 {
            let len = 1 + rng.index(512);
            let code = rng.bytes(len);
            let envelope = ContractModule::new(tag, code).encode();
            let deployed = exercise(&mut rng, &host, envelope, &format!("random {tag} code {i}"));
            assert!(!deployed, "random bytes deployed as {tag} module {i}");
        }
    }
}

#[test]
fn mutated_example_modules_never_panic_and_the_survivors_run() {
    let host = host();
    let mut rng = Rng(0x5eed_0003);
    let mut survivors = 0;
    for (tag, name, rounds) in [
        (ModuleTag::LEGACY, "counter", 400),
        (ModuleTag::LEGACY, "token", 400),
        (ModuleTag::TBPF, "counter", 400),
        (ModuleTag::TBPF, "token", 400),
        (ModuleTag::WASM, "counter", 120),
        (ModuleTag::WASM, "token", 120),
    ] {
        let code = example(tag, name).code;
        for i in 0..rounds {
            let envelope = ContractModule::new(tag, mutate(&mut rng, &code)).encode();
            if exercise(
                &mut rng,
                &host,
                envelope,
                &format!("mutated {tag} {name} {i}"),
            ) {
                survivors += 1;
            }
        }
    }
    // Some mutations (in data, in unused code) still load: they were run too.
    assert!(
        survivors > 0,
        "no mutant loaded: the test exercised no execution"
    );
}
