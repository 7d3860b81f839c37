//! The ABI v2 call conformance suite, written once and run for every ordered pair of engines
//! (caller, callee) — TBPF, wasm, legacy — under a host with the TBPF interpreter and one with
//! the TBPF JIT, which must agree on everything, gas included.
//!
//! The contracts are the `probe` fixture of docs/EXAMPLES.md, built from one C source for
//! TBPF and wasm and written in legacy assembly: entry 0 runs its params as a script.

mod common;

use common::*;
use tos_engine_api::{
    CALL_REFUSED, CALL_TRAPPED, Call, CallRefusal, CallRequest, ExitStatus, Hash, ModuleTag,
    NATIVE_ASSET, Trap,
};
use tos_host::{ActivationSchedule, CallReport, DeployRequest, FrameItem, Host, MemoryProvider};

/// A probe script (docs/EXAMPLES.md, "probe").
#[derive(Clone, Default)]
struct Script(Vec<u8>);

impl Script {
    fn op(mut self, bytes: &[&[u8]]) -> Self {
        for b in bytes {
            self.0.extend_from_slice(b);
        }
        self
    }
    fn store(self, k: u8, v: u64) -> Self {
        self.op(&[&[0x01, k], &v.to_le_bytes()])
    }
    fn event(self, id: u8) -> Self {
        self.op(&[&[0x02, id]])
    }
    fn exit(self, code: u64) -> Self {
        self.op(&[&[0x03], &code.to_le_bytes()])
    }
    fn forever(self) -> Self {
        self.op(&[&[0x04]])
    }
    fn call(self, k: u8, desc: &[u8]) -> Self {
        self.op(&[&[0x05, k], &(desc.len() as u16).to_le_bytes(), desc])
    }
    fn caller(self, k: u8) -> Self {
        self.op(&[&[0x06, k]])
    }
    fn deposit(self, k: u8, asset: &Hash) -> Self {
        self.op(&[&[0x07, k], asset])
    }
    fn ret(self, data: &[u8]) -> Self {
        self.op(&[&[0x08], &(data.len() as u16).to_le_bytes(), data])
    }
    fn abort(self, msg: &[u8]) -> Self {
        self.op(&[&[0x09], &(msg.len() as u16).to_le_bytes(), msg])
    }
    fn timestamp(self, k: u8) -> Self {
        self.op(&[&[0x0B, k]])
    }
    fn hash(self, k: u8, algo: u8, data: &[u8]) -> Self {
        self.op(&[&[0x0C, k, algo], &(data.len() as u16).to_le_bytes(), data])
    }
}

/// A call descriptor of entry 0 running `script` on `callee`.
fn desc(callee: Hash, deposit: u64, script: &Script, gas: u64) -> Vec<u8> {
    CallRequest {
        callee,
        entry: 0,
        deposits: if deposit > 0 {
            vec![(NATIVE_ASSET, deposit)]
        } else {
            vec![]
        },
        params: script.0.clone(),
        gas_limit: gas,
    }
    .encode()
}

const ENGINES: [ModuleTag; 3] = [ModuleTag::TBPF, ModuleTag::WASM, ModuleTag::LEGACY];

/// A host with the TBPF interpreter or the JIT.
fn hosts() -> Vec<Host> {
    let mut hosts = vec![host_with(ActivationSchedule::devnet(), false)];
    if cfg!(target_arch = "x86_64") {
        hosts.push(host_with(ActivationSchedule::devnet(), true));
    }
    hosts
}

/// One world: probes deployed on the engines of `tags`, in order, each by its own deployer.
struct World {
    state: MemoryProvider,
    probes: Vec<Hash>,
}

fn world(host: &Host, tags: &[ModuleTag]) -> World {
    let mut state = MemoryProvider::default();
    let probes = tags
        .iter()
        .enumerate()
        .map(|(i, tag)| {
            host.deploy(
                &mut state,
                &tx(1, [i as u8 + 1; 32]),
                &DeployRequest {
                    envelope: example(*tag, "probe").encode(),
                    params: vec![],
                    gas_limit: GAS,
                },
            )
            .unwrap()
            .address
        })
        .collect();
    World { state, probes }
}

/// Runs `script` on `world.probes[0]` with `deposit` native credited to it.
fn run(host: &Host, world: &mut World, script: &Script, deposit: u64) -> CallReport {
    let probe = world.probes[0];
    let params = script.0.clone();
    invoke_deposit(
        host,
        &mut world.state,
        probe,
        ALICE,
        Call::Entry(0),
        params,
        deposit,
    )
}

fn get(world: &World, contract: usize, key: &[u8]) -> Option<Vec<u8>> {
    storage_of(&world.state, &world.probes[contract])
        .get(key)
        .cloned()
}

fn get_u64(world: &World, contract: usize, key: &[u8]) -> Option<u64> {
    get(world, contract, key).map(|v| u64_le(&v))
}

fn balance(world: &World, contract: usize) -> u64 {
    world
        .state
        .balances
        .get(&(world.probes[contract], NATIVE_ASSET))
        .copied()
        .unwrap_or(0)
}

/// Runs `scenario` for every ordered pair of engines on every host, and checks that the hosts
/// (TBPF interpreter and JIT) agree on every report and every final state.
fn for_every_pair(scenario: impl Fn(&Host, ModuleTag, ModuleTag) -> (Vec<CallReport>, World)) {
    for a in ENGINES {
        for b in ENGINES {
            let runs: Vec<_> = hosts().iter().map(|host| scenario(host, a, b)).collect();
            let (first, first_world) = &runs[0];
            for (other, other_world) in &runs[1..] {
                assert_eq!(first, other, "{a} -> {b}: interpreter and JIT differ");
                assert_eq!(
                    first_world.state, other_world.state,
                    "{a} -> {b}: states differ"
                );
            }
        }
    }
}

#[test]
fn a_successful_call_keeps_the_callee_effects_in_order() {
    for_every_pair(|host, a, b| {
        let mut w = world(host, &[a, b]);
        let (caller, callee) = (w.probes[0], w.probes[1]);
        let inner = Script::default()
            .event(2)
            .store(1, 11)
            .caller(2)
            .deposit(3, &NATIVE_ASSET)
            .deposit(4, &[9; 32])
            .timestamp(5)
            .hash(6, 2, b"abc")
            .ret(b"hello");
        let outer = Script::default()
            .event(1)
            .call(5, &desc(callee, 40, &inner, 0))
            .event(3)
            .store(9, 99);
        let r = run(host, &mut w, &outer, 100);
        let at = format!("{a} -> {b}");
        assert!(r.is_success(), "{at}: {:?}", r.outcome);
        assert_eq!(get_u64(&w, 0, &[5]), Some(0), "{at}: the callee exited 0");
        assert_eq!(
            get(&w, 0, &[5, b'd']).as_deref(),
            Some(&b"hello"[..]),
            "{at}"
        );
        assert_eq!(get_u64(&w, 0, &[9]), Some(99), "{at}");
        assert_eq!(
            get_u64(&w, 1, &[1]),
            Some(11),
            "{at}: the callee's write stays"
        );
        assert_eq!(get(&w, 1, &[2]), Some(caller.to_vec()), "{at}: caller");
        assert_eq!(get_u64(&w, 1, &[3]), Some(40), "{at}: the native deposit");
        assert_eq!(
            get_u64(&w, 1, &[4]),
            Some(0),
            "{at}: nothing of another asset"
        );
        assert_eq!(get_u64(&w, 1, &[5]), Some(1_700_000_050), "{at}: timestamp");
        assert_eq!(
            get(&w, 1, &[6]).map(hex::encode).as_deref(),
            Some("4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
            "{at}: keccak256(abc)"
        );
        assert_eq!((balance(&w, 0), balance(&w, 1)), (60, 40), "{at}: balances");
        let events: Vec<(Hash, u64)> = r.events.iter().map(|e| (e.contract, e.id)).collect();
        assert_eq!(
            events,
            [(caller, 1), (callee, 2), (caller, 3)],
            "{at}: events in execution order, each with its contract"
        );
        let frame = r.frame.calls().next().unwrap();
        assert_eq!(frame.caller, caller);
        assert_eq!(frame.deposits, [(NATIVE_ASSET, 40)]);
        assert_eq!(frame.engine, b.name().unwrap());
        assert!(!frame.discarded);
        assert_eq!(frame.outcome.return_data, b"hello");
        (vec![r], w)
    });
}

#[test]
fn a_failing_callee_is_discarded_and_its_deposit_stays_with_the_caller() {
    for_every_pair(|host, a, b| {
        let at = format!("{a} -> {b}");
        let mut reports = Vec::new();
        let mut worlds = Vec::new();
        // Exit 7, then a trap (abort), each after a write, an event and a return value.
        let failing = [
            (Script::default().store(1, 11).event(2).ret(b"x").exit(7), 7),
            (
                Script::default()
                    .store(1, 11)
                    .event(2)
                    .ret(b"x")
                    .abort(b"boom"),
                CALL_TRAPPED,
            ),
        ];
        for (inner, result) in failing {
            let mut w = world(host, &[a, b]);
            let callee = w.probes[1];
            let outer = Script::default()
                .call(5, &desc(callee, 40, &inner, 0))
                .store(9, 99);
            let r = run(host, &mut w, &outer, 100);
            assert!(r.is_success(), "{at}");
            assert_eq!(get_u64(&w, 0, &[5]), Some(result), "{at}");
            if result == 7 {
                // It exited: its return data reaches the caller.
                assert_eq!(get(&w, 0, &[5, b'd']).as_deref(), Some(&b"x"[..]), "{at}");
            } else {
                assert_eq!(
                    get(&w, 0, &[5, b'd']),
                    None,
                    "{at}: no return data after a trap"
                );
                let frame = r.frame.calls().next().unwrap();
                assert_eq!(
                    frame.outcome.status,
                    ExitStatus::Trap(Trap::Aborted("boom".into())),
                    "{at}"
                );
            }
            assert_eq!(
                get_u64(&w, 0, &[9]),
                Some(99),
                "{at}: the caller's own write stays"
            );
            assert_eq!(get(&w, 1, &[1]), None, "{at}: the callee's write is gone");
            assert_eq!(balance(&w, 1), 0, "{at}: the deposit went back");
            assert!(
                r.events.is_empty(),
                "{at}: the callee's event never happened"
            );
            let frame = r.frame.calls().next().unwrap();
            assert!(frame.discarded);
            assert!(
                matches!(frame.trace[..], [FrameItem::Event(_)]),
                "{at}: the discarded frame's event is still in the tree"
            );
            assert_eq!(
                balance(&w, 0),
                100,
                "{at}: the top-level deposit, all of it"
            );
            reports.push(r);
            worlds.push(w.state);
        }
        let mut w = world(host, &[a, b]);
        w.state = worlds.pop().unwrap();
        (reports, w)
    });
}

#[test]
fn a_caller_failing_after_a_successful_call_discards_both() {
    for_every_pair(|host, a, b| {
        let mut w = world(host, &[a, b]);
        let inner = Script::default().store(1, 11).event(2);
        let outer = Script::default()
            .store(8, 88)
            .call(5, &desc(w.probes[1], 40, &inner, 0))
            .exit(1);
        let r = run(host, &mut w, &outer, 100);
        let at = format!("{a} -> {b}");
        assert_eq!(r.outcome.status, ExitStatus::Exit(1), "{at}");
        assert!(r.events.is_empty());
        assert!(r.frame.discarded);
        assert!(
            r.frame
                .calls()
                .all(|f| f.discarded && f.outcome.is_success())
        );
        assert_eq!(get(&w, 0, &[8]), None, "{at}");
        assert_eq!(get(&w, 1, &[1]), None, "{at}");
        assert_eq!((balance(&w, 0), balance(&w, 1)), (0, 0), "{at}");
        (vec![r], w)
    });
}

#[test]
fn re_entrancy_and_self_calls_are_refused() {
    for_every_pair(|host, a, b| {
        let mut w = world(host, &[a, b]);
        let (caller, callee) = (w.probes[0], w.probes[1]);
        let back = Script::default().call(6, &desc(caller, 0, &Script::default(), 0));
        let outer = Script::default()
            .call(5, &desc(callee, 0, &back, 0))
            .call(7, &desc(caller, 0, &Script::default(), 0));
        let r = run(host, &mut w, &outer, 0);
        let at = format!("{a} -> {b}");
        assert!(r.is_success(), "{at}");
        assert_eq!(
            get_u64(&w, 1, &[6]),
            Some(CALL_REFUSED),
            "{at}: back into the caller"
        );
        assert_eq!(get(&w, 1, &[6, b'd']), None, "{at}");
        assert_eq!(get_u64(&w, 0, &[5]), Some(0), "{at}");
        assert_eq!(
            get_u64(&w, 0, &[7]),
            Some(CALL_REFUSED),
            "{at}: a self-call"
        );
        let refused: Vec<&CallRefusal> = r
            .frame
            .trace
            .iter()
            .chain(&r.frame.calls().next().unwrap().trace)
            .filter_map(|i| match i {
                FrameItem::Refused { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(
            refused,
            [&CallRefusal::Reentrancy, &CallRefusal::Reentrancy]
        );
        (vec![r], w)
    });
}

#[test]
fn the_ninth_frame_is_refused() {
    for_every_pair(|host, a, b| {
        // Nine probes, alternating the two engines; each calls the next, then stores 1.
        let tags: Vec<ModuleTag> = (0..9).map(|i| if i % 2 == 0 { a } else { b }).collect();
        let mut w = world(host, &tags);
        let mut script = Script::default().store(1, 1);
        for callee in w.probes[1..].iter().rev() {
            script = Script::default()
                .call(5, &desc(*callee, 0, &script, 0))
                .store(1, 1);
        }
        let r = run(host, &mut w, &script, 0);
        let at = format!("{a} -> {b}");
        assert!(r.is_success(), "{at}");
        assert_eq!(r.frame.frame_count(), 8, "{at}");
        for i in 0..8 {
            assert_eq!(get_u64(&w, i, &[1]), Some(1), "{at}: frame {i} ran");
        }
        for i in 0..7 {
            assert_eq!(get_u64(&w, i, &[5]), Some(0), "{at}: frame {i}'s call");
        }
        assert_eq!(
            get_u64(&w, 7, &[5]),
            Some(CALL_REFUSED),
            "{at}: the ninth frame"
        );
        assert_eq!(get(&w, 8, &[1]), None, "{at}: it never ran");
        (vec![r], w)
    });
}

#[test]
fn a_callee_out_of_gas_traps_and_the_caller_goes_on() {
    for_every_pair(|host, a, b| {
        let mut w = world(host, &[a, b]);
        let outer = Script::default()
            .call(
                5,
                &desc(
                    w.probes[1],
                    0,
                    &Script::default().store(1, 1).forever(),
                    30_000,
                ),
            )
            .store(9, 99);
        let r = run(host, &mut w, &outer, 0);
        let at = format!("{a} -> {b}");
        assert!(r.is_success(), "{at}");
        assert_eq!(get_u64(&w, 0, &[5]), Some(CALL_TRAPPED), "{at}");
        assert_eq!(get_u64(&w, 0, &[9]), Some(99), "{at}");
        assert_eq!(get(&w, 1, &[1]), None, "{at}");
        let frame = r.frame.calls().next().unwrap();
        assert_eq!(
            frame.outcome.status,
            ExitStatus::Trap(Trap::OutOfGas),
            "{at}"
        );
        assert_eq!(frame.gas_limit, 30_000);
        assert_eq!(frame.outcome.gas_used, 30_000, "{at}: the whole limit");
        assert!(
            r.outcome.gas_used > 30_000 + 10_000,
            "{at}: charged to the caller"
        );
        (vec![r], w)
    });
}

#[test]
fn gas_of_a_call_is_what_the_callee_used_plus_the_syscall() {
    // A call that runs and one refused, with descriptors of one length and the same path in
    // the caller (a trapped callee leaves no return data, as a refusal): the difference is
    // exactly the callee frame's gas, on every engine.
    for_every_pair(|host, a, b| {
        let mut w = world(host, &[a, b]);
        let inner = Script::default().store(1, 11).abort(b"stop");
        let d = desc(w.probes[1], 0, &inner, 0);
        let with = run(host, &mut w, &Script::default().call(5, &d), 0);
        assert_eq!(get_u64(&w, 0, &[5]), Some(CALL_TRAPPED));
        let callee_gas = with.frame.calls().next().unwrap().outcome.gas_used;
        let at = format!("{a} -> {b}");
        assert!(callee_gas > 0, "{at}");
        // Compare against a refused call of the same length: it costs the syscall alone.
        let mut refused_desc = d.clone();
        refused_desc[..32].copy_from_slice(&[0xEE; 32]);
        let refused = run(host, &mut w, &Script::default().call(5, &refused_desc), 0);
        assert_eq!(get_u64(&w, 0, &[5]), Some(CALL_REFUSED), "{at}");
        assert_eq!(
            with.outcome.gas_used,
            refused.outcome.gas_used + callee_gas,
            "{at}: exactly the callee's gas on top of the syscall"
        );
        (vec![with, refused], w)
    });
}
