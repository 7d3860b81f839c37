//! ABI v2 calls through the real host: a wasm relay (written here in WAT) calling the example
//! counter on every engine, the descriptor rules, the call tree, and the native stack.

mod common;

use common::*;
use tos_engine_api::{
    CALL_REFUSED, CALL_TRAPPED, Call, CallRefusal, CallRequest, ExitStatus, ModuleTag, Trap,
};
use tos_host::{ContractModule, FrameItem, MemoryProvider};

/// Entry 0: calls with the descriptor given as params; stores the result under "r" and the
/// callee's return data (when there is some) under "d"; exits 0. Entry 1: the same, then
/// exits 9 (the caller fails after its call). Entry 2: makes the call twice.
const RELAY: &str = r#"
(module
  (import "env" "tos_get_input" (func $input (param i64 i64) (result i64)))
  (import "env" "tos_call" (func $call (param i64 i64) (result i64)))
  (import "env" "tos_get_return_data" (func $ret (param i64 i64) (result i64)))
  (import "env" "tos_storage_store" (func $store (param i64 i64 i64 i64) (result i64)))
  (memory (export "memory") 2)
  (data (i32.const 0) "rd")
  (func $relay
    (local $n i64) (local $r i64) (local $len i64)
    (local.set $n (call $input (i64.const 1024) (i64.const 70000)))
    (local.set $r (call $call (i64.const 1032) (i64.sub (local.get $n) (i64.const 8))))
    (i64.store (i32.const 16) (local.get $r))
    (drop (call $store (i64.const 0) (i64.const 1) (i64.const 16) (i64.const 8)))
    (local.set $len (call $ret (i64.const 512) (i64.const 256)))
    (if (i64.ne (local.get $len) (i64.const -1))
      (then (drop (call $store (i64.const 1) (i64.const 1) (i64.const 512) (local.get $len))))))
  (func (export "entry_0") (result i64) (call $relay) (i64.const 0))
  (func (export "entry_1") (result i64) (call $relay) (i64.const 9))
  (func (export "entry_2") (result i64) (call $relay) (call $relay) (i64.const 0)))
"#;

fn relay() -> ContractModule {
    ContractModule::new(ModuleTag::WASM, wat::parse_str(RELAY).unwrap())
}

fn desc(callee: [u8; 32], entry: u16, params: &[u8], gas: u64) -> Vec<u8> {
    CallRequest {
        callee,
        entry,
        deposits: vec![],
        params: params.to_vec(),
        gas_limit: gas,
    }
    .encode()
}

const ENGINES: [ModuleTag; 3] = [ModuleTag::TBPF, ModuleTag::WASM, ModuleTag::LEGACY];

/// `n` copies of `module` at `n` addresses (the address depends on the deployer: deployers
/// `[1; 32]`, `[2; 32]`, ...), each deployed with `gas_limit`.
fn copies(
    host: &tos_host::Host,
    state: &mut MemoryProvider,
    module: &ContractModule,
    n: u8,
    gas_limit: u64,
) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            host.deploy(
                state,
                &tx(1, [i + 1; 32]),
                &tos_host::DeployRequest {
                    envelope: module.encode(),
                    params: vec![],
                    gas_limit,
                },
            )
            .unwrap()
            .address
        })
        .collect()
}

#[test]
fn a_wasm_contract_calls_the_counter_on_every_engine() {
    for jit in [false, true] {
        let host = host_with(tos_host::ActivationSchedule::devnet(), jit);
        for tag in ENGINES {
            let mut state = MemoryProvider::default();
            let counter = deploy(&host, &mut state, &example(tag, "counter"), 1).address;
            let relay = deploy(&host, &mut state, &relay(), 1).address;
            let report = invoke(
                &host,
                &mut state,
                relay,
                ALICE,
                Call::Entry(0),
                &desc(counter, 0, &[], 0),
            );
            assert!(report.is_success(), "{tag}: {:?}", report.outcome);
            let relay_storage = storage_of(&state, &relay);
            assert_eq!(relay_storage[&b"r".to_vec()], 0u64.to_le_bytes(), "{tag}");
            assert_eq!(relay_storage[&b"d".to_vec()], 1u64.to_le_bytes(), "{tag}");
            assert_eq!(
                storage_of(&state, &counter)[&b"count".to_vec()],
                1u64.to_le_bytes(),
                "{tag}: the callee's write is committed"
            );
            // The callee's event, attributed to it.
            assert_eq!(report.events.len(), 1);
            assert_eq!(report.events[0].contract, counter);
            // The tree: the relay's frame, one call under it.
            let frame = &report.frame;
            assert_eq!(frame.engine, "wasm");
            let callee = frame.calls().next().expect("one call");
            assert_eq!(callee.contract, counter);
            assert_eq!(callee.caller, relay);
            assert_eq!(callee.engine, tag.name().unwrap());
            assert!(!callee.discarded);
            assert_eq!(callee.outcome.return_data, 1u64.to_le_bytes());
            assert!(callee.outcome.gas_used > 0);
            assert!(callee.outcome.gas_used < report.outcome.gas_used);

            // The caller fails after the call: the callee's write goes too.
            let report = invoke(
                &host,
                &mut state,
                relay,
                ALICE,
                Call::Entry(1),
                &desc(counter, 0, &[], 0),
            );
            assert_eq!(report.outcome.status, ExitStatus::Exit(9));
            assert!(report.events.is_empty());
            assert!(report.frame.calls().all(|f| f.discarded));
            assert_eq!(
                storage_of(&state, &counter)[&b"count".to_vec()],
                1u64.to_le_bytes(),
                "{tag}: nothing of the failed transaction stays"
            );
        }
    }
}

#[test]
fn refusals_do_not_run_the_callee() {
    let host = host();
    let mut state = MemoryProvider::default();
    let counter = deploy(&host, &mut state, &example(ModuleTag::TBPF, "counter"), 1).address;
    let relay = deploy(&host, &mut state, &relay(), 1).address;
    let cases: [(&str, Vec<u8>, CallRefusal); 3] = [
        (
            "unknown contract",
            desc([0xEE; 32], 0, &[], 0),
            CallRefusal::UnknownContract,
        ),
        (
            "unknown entry",
            desc(counter, 77, &[], 0),
            CallRefusal::UnknownEntry(77),
        ),
        ("self-call", desc(relay, 0, &[], 0), CallRefusal::Reentrancy),
    ];
    for (what, d, reason) in cases {
        let report = invoke(&host, &mut state, relay, ALICE, Call::Entry(0), &d);
        assert!(report.is_success(), "{what}");
        let s = storage_of(&state, &relay);
        assert_eq!(s[&b"r".to_vec()], CALL_REFUSED.to_le_bytes(), "{what}");
        assert!(
            !s.contains_key(b"d".as_slice()),
            "{what}: no return data after a refusal"
        );
        assert!(
            matches!(&report.frame.trace[..], [FrameItem::Refused { reason: r, .. }] if *r == reason),
            "{what}: {:?}",
            report.frame.trace
        );
    }
    // A deposit above the caller's balance.
    let d = CallRequest {
        callee: counter,
        entry: 0,
        deposits: vec![([0; 32], 5)],
        params: vec![],
        gas_limit: 0,
    }
    .encode();
    let report = invoke(&host, &mut state, relay, ALICE, Call::Entry(0), &d);
    assert!(matches!(
        &report.frame.trace[..],
        [FrameItem::Refused {
            reason: CallRefusal::InsufficientBalance { .. },
            ..
        }]
    ));
}

#[test]
fn a_callee_out_of_gas_traps_and_the_caller_goes_on() {
    let host = host();
    let mut state = MemoryProvider::default();
    let counter = deploy(&host, &mut state, &example(ModuleTag::LEGACY, "counter"), 1).address;
    let relay = deploy(&host, &mut state, &relay(), 1).address;
    let report = invoke(
        &host,
        &mut state,
        relay,
        ALICE,
        Call::Entry(0),
        &desc(counter, 0, &[], 50),
    );
    assert!(report.is_success());
    let s = storage_of(&state, &relay);
    assert_eq!(s[&b"r".to_vec()], CALL_TRAPPED.to_le_bytes());
    let callee = report.frame.calls().next().unwrap();
    assert_eq!(callee.outcome.status, ExitStatus::Trap(Trap::OutOfGas));
    assert_eq!(
        callee.outcome.gas_used, 50,
        "a callee out of gas uses its whole limit"
    );
    assert!(callee.discarded);
    assert!(
        !storage_of(&state, &counter).contains_key(b"count".as_slice()) || {
            // The constructor stored 0; the failed increment left it.
            storage_of(&state, &counter)[&b"count".to_vec()] == 0u64.to_le_bytes()
        }
    );
}

#[test]
fn a_malformed_descriptor_traps_the_caller() {
    let host = host();
    let mut state = MemoryProvider::default();
    let counter = deploy(&host, &mut state, &example(ModuleTag::TBPF, "counter"), 1).address;
    let relay = deploy(&host, &mut state, &relay(), 1).address;
    let mut d = desc(counter, 0, b"xy", 0);
    d.pop();
    let report = invoke(&host, &mut state, relay, ALICE, Call::Entry(0), &d);
    match &report.outcome.status {
        ExitStatus::Trap(Trap::Syscall { name, reason }) => {
            assert_eq!(name, "tos_call");
            assert!(reason.contains("49 bytes"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// Entry 0: params = depth (u32) ‖ descriptor. Recurses `depth` times through a function with
/// many live locals, stores "b" = 1 at the bottom, and there calls the descriptor (if any).
const DEEP: &str = r#"
(module
  (import "env" "tos_get_input" (func $input (param i64 i64) (result i64)))
  (import "env" "tos_call" (func $call (param i64 i64) (result i64)))
  (import "env" "tos_storage_store" (func $store (param i64 i64 i64 i64) (result i64)))
  (memory (export "memory") 2)
  (data (i32.const 0) "b")
  (func $down (param $n i32) (param $dlen i64) (result i64)
    (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (local.set $a (i64.extend_i32_u (local.get $n)))
    (local.set $b (i64.mul (local.get $a) (i64.const 3)))
    (local.set $c (i64.xor (local.get $b) (local.get $dlen)))
    (local.set $d (i64.add (local.get $c) (local.get $a)))
    (if (i32.eqz (local.get $n))
      (then
        (i64.store (i32.const 16) (i64.const 1))
        (drop (call $store (i64.const 0) (i64.const 1) (i64.const 16) (i64.const 8)))
        (if (i64.gt_u (local.get $dlen) (i64.const 0))
          (then (drop (call $call (i64.const 1036) (local.get $dlen)))))
        (return (i64.const 0))))
    (i64.add
      (call $down (i32.sub (local.get $n) (i32.const 1)) (local.get $dlen))
      (i64.add (i64.add (local.get $a) (local.get $b)) (i64.add (local.get $c) (local.get $d)))))
  (func (export "entry_0") (result i64)
    (local $n i64)
    (local.set $n (call $input (i64.const 1024) (i64.const 70000)))
    (drop (call $down (i32.load (i32.const 1032)) (i64.sub (local.get $n) (i64.const 12))))
    (i64.const 0)))
"#;

/// Eight wasm frames, each recursing as deep as the engine allows before calling the next,
/// on a thread whose own stack could not hold even one of them: the host gives every frame
/// the native stack its engine declares (a fresh segment when the thread's is short), so the
/// node never overflows its stack, whatever the contracts do.
#[test]
fn the_deepest_chain_of_the_most_stack_hungry_engine_fits_the_node_stack() {
    let run = || {
        let host = host();
        let mut state = MemoryProvider::default();
        let module = ContractModule::new(ModuleTag::WASM, wat::parse_str(DEEP).unwrap());
        // Eight copies at eight addresses (the address depends on the deployer).
        let chain = copies(&host, &mut state, &module, 8, 90_000_000);
        let params = |depth: u32, next: Vec<u8>| [depth.to_le_bytes().to_vec(), next].concat();
        // The deepest recursion one frame may reach: the largest depth that does not trap.
        let reaches = |state: &mut MemoryProvider, depth: u32| {
            invoke(
                &host,
                state,
                chain[0],
                ALICE,
                Call::Entry(0),
                &params(depth, vec![]),
            )
            .is_success()
        };
        let (mut ok, mut too_deep) = (0u32, 1u32 << 20);
        assert!(!reaches(&mut state, too_deep));
        while too_deep - ok > 1 {
            let mid = ok + (too_deep - ok) / 2;
            if reaches(&mut state, mid) {
                ok = mid;
            } else {
                too_deep = mid;
            }
        }
        assert!(ok > 1_000, "the engine allows deep recursion ({ok})");
        // Nest the chain: frame k recurses `ok` deep, then calls frame k + 1.
        let mut next = Vec::new();
        for callee in chain.iter().skip(1).rev() {
            next = desc(*callee, 0, &params(ok, next), 0);
        }
        let report = invoke(
            &host,
            &mut state,
            chain[0],
            ALICE,
            Call::Entry(0),
            &params(ok, next),
        );
        assert!(report.is_success(), "{:?}", report.outcome);
        assert_eq!(report.frame.frame_count(), 8);
        for c in &chain {
            assert_eq!(storage_of(&state, c)[&b"b".to_vec()], 1u64.to_le_bytes());
        }
        ok
    };
    // 128 KiB: far less than one wasm frame at full depth needs.
    let depth = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
    assert!(depth > 0);
}

#[test]
fn below_its_activation_abi_v2_is_refused_at_deploy_naming_the_syscall() {
    let mut schedule = tos_host::ActivationSchedule::devnet();
    schedule.set_feature(tos_syscalls::ABI_V2, 100);
    let host = host_with(schedule, false);
    for tag in ENGINES {
        let mut state = MemoryProvider::default();
        let deploy_at = |state: &mut MemoryProvider, height| {
            host.deploy(
                state,
                &tx(height, OWNER),
                &tos_host::DeployRequest {
                    envelope: example(tag, "router").encode(),
                    params: vec![],
                    gas_limit: GAS,
                },
            )
        };
        let err = deploy_at(&mut state, 99).unwrap_err().to_string();
        assert!(
            err.contains("tos_call") || err.contains("tos_get_return_data"),
            "{tag}: {err}"
        );
        assert!(state.contracts.is_empty());
        assert!(deploy_at(&mut state, 100).unwrap().deployed, "{tag}");
    }
}

/// Two contracts with the same code, one calling the other: on TBPF (interpreter and JIT)
/// the engine keeps per-thread state per module (memory mappings, stack and heap slots), and
/// the inner call must get its own while the outer one's is in use. router → router →
/// counter, again and again: each round increments the counter once and returns its count.
#[test]
fn a_contract_calls_another_with_the_same_code() {
    for jit in [false, true] {
        let host = host_with(tos_host::ActivationSchedule::devnet(), jit);
        let mut state = MemoryProvider::default();
        let counter = deploy(&host, &mut state, &example(ModuleTag::TBPF, "counter"), 1).address;
        let router = example(ModuleTag::TBPF, "router");
        let routers = copies(&host, &mut state, &router, 2, GAS);
        assert_ne!(routers[0], routers[1]);
        // callee | entry u16 | amount u64 | gas u64 | callee params
        let route = |callee: [u8; 32], entry: u16, inner: &[u8]| {
            [
                &callee[..],
                &entry.to_le_bytes(),
                &0u64.to_le_bytes(),
                &0u64.to_le_bytes(),
                inner,
            ]
            .concat()
        };
        let params = route(routers[1], 0, &route(counter, 0, &[]));
        for round in 1..=20u64 {
            let report = invoke(
                &host,
                &mut state,
                routers[0],
                ALICE,
                Call::Entry(0),
                &params,
            );
            assert!(
                report.is_success(),
                "jit {jit}, round {round}: {:?}",
                report.outcome
            );
            assert_eq!(report.frame.frame_count(), 3);
            assert_eq!(report.outcome.return_data, round.to_le_bytes(), "jit {jit}");
        }
    }
}
