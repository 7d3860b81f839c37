//! The same contract logic on every engine gives the same storage effects, events, return
//! data and exit codes (docs/EXAMPLES.md). One test drives all of them.

mod common;

use std::collections::BTreeMap;

use common::*;
use tos_engine_api::{Call, ExitStatus, ModuleTag, Trap};
use tos_host::{CallReport, ContractModule, MemoryProvider};

/// What one call showed the outside world, engine-independent (gas differs by engine).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: ExitStatus,
    return_data: Vec<u8>,
    events: Vec<(u64, Vec<u8>)>,
}

impl From<&CallReport> for Seen {
    fn from(r: &CallReport) -> Self {
        Seen {
            status: r.outcome.status.clone(),
            return_data: r.outcome.return_data.clone(),
            events: r.events.iter().map(|e| (e.id, e.data.clone())).collect(),
        }
    }
}

type Trace = (Vec<Seen>, BTreeMap<Vec<u8>, Vec<u8>>);

fn counter_trace(module: &ContractModule) -> Trace {
    let host = host();
    let mut state = MemoryProvider::default();
    let d = deploy(&host, &mut state, module, 1);
    assert!(
        d.deployed,
        "{} counter constructor: {:?}",
        module.tag, d.constructor
    );
    let c = d.address;
    assert_eq!(
        storage_of(&state, &c).get(&b"count"[..]),
        Some(&vec![0; 8]),
        "{} constructor",
        module.tag
    );
    let mut seen = Vec::new();
    let mut call = |call: Call, params: &[u8]| {
        let r = invoke(&host, &mut state, c, ALICE, call, params);
        seen.push(Seen::from(&r));
    };
    for _ in 0..3 {
        call(Call::Entry(0), &[]);
    }
    call(Call::Entry(2), &10u64.to_le_bytes());
    call(Call::Entry(2), &[1, 2, 3]);
    call(Call::Entry(2), &u64::MAX.to_le_bytes());
    call(Call::Entry(1), &[]);
    call(Call::Entry(9), &[]);
    call(Call::Entry(2), &(u64::MAX - 13).to_le_bytes());
    call(Call::Entry(0), &[]); // count is u64::MAX: refused
    call(Call::Entry(1), &[]);
    (seen, storage_of(&state, &c))
}

fn token_trace(module: &ContractModule) -> Trace {
    let host = host();
    let mut state = MemoryProvider::default();
    let d = deploy(&host, &mut state, module, 1);
    assert!(
        d.deployed,
        "{} token constructor: {:?}",
        module.tag, d.constructor
    );
    let t = d.address;
    let mut seen = Vec::new();
    let mut call = |from, call: Call, params: &[u8]| {
        let r = invoke(&host, &mut state, t, from, call, params);
        seen.push(Seen::from(&r));
    };
    call(ALICE, Call::Entry(0), &to_amount(&ALICE, 5)); // not the owner
    call(OWNER, Call::Entry(0), &to_amount(&ALICE, 100));
    call(ALICE, Call::Entry(1), &to_amount(&BOB, 30));
    call(BOB, Call::Entry(1), &to_amount(&ALICE, 50)); // insufficient
    call(BOB, Call::Entry(1), &[0; 39]); // bad params
    call(OWNER, Call::Entry(0), &to_amount(&BOB, u64::MAX)); // overflow
    call(BOB, Call::Entry(1), &to_amount(&BOB, 20)); // to oneself: no balance changes
    call(ALICE, Call::Entry(2), &ALICE);
    call(ALICE, Call::Entry(2), &BOB);
    call(ALICE, Call::Entry(3), &[]);
    (seen, storage_of(&state, &t))
}

fn exit(code: u64) -> ExitStatus {
    ExitStatus::Exit(code)
}

fn engines_with(name: &str) -> Vec<ContractModule> {
    let mut modules = vec![
        example(ModuleTag::TBPF, name),
        example(ModuleTag::LEGACY, name),
        example(ModuleTag::WASM, name),
    ];
    if name == "counter" {
        modules.push(ContractModule::new(
            ModuleTag::WASM,
            read("engine-wasm/examples/counter.wasm"),
        ));
    }
    modules
}

#[test]
fn counter_behaves_identically_on_every_engine() {
    let modules = engines_with("counter");
    let traces: Vec<Trace> = modules.iter().map(counter_trace).collect();
    let (seen, storage) = &traces[0];
    // The TBPF trace is checked against the specification ...
    let value = |v: u64| v.to_le_bytes().to_vec();
    let expected_status = [
        exit(0),
        exit(0),
        exit(0),
        exit(0),
        exit(1),
        exit(2),
        exit(0),
    ];
    for (i, s) in expected_status.iter().enumerate() {
        assert_eq!(&seen[i].status, s, "call {i}");
    }
    assert_eq!(seen[0].return_data, value(1));
    assert_eq!(seen[2].events, vec![(1, value(3))]);
    assert_eq!(seen[3].return_data, value(13));
    assert_eq!(seen[6].return_data, value(13));
    assert_eq!(
        seen[7].status,
        ExitStatus::Trap(Trap::UnknownEntry(Call::Entry(9)))
    );
    assert_eq!(seen[8].status, exit(0));
    assert_eq!((&seen[9].status, seen[9].events.len()), (&exit(2), 0));
    assert_eq!(seen[10].return_data, value(u64::MAX));
    assert_eq!(
        storage,
        &BTreeMap::from([(b"count".to_vec(), value(u64::MAX))])
    );
    // ... and every other engine must match it exactly.
    for (module, trace) in modules.iter().zip(&traces).skip(1) {
        assert_eq!(
            trace, &traces[0],
            "{} counter differs from TBPF",
            module.tag
        );
    }
}

#[test]
fn token_behaves_identically_on_every_engine() {
    let modules = engines_with("token");
    let traces: Vec<Trace> = modules.iter().map(token_trace).collect();
    let (seen, storage) = &traces[0];
    let statuses: Vec<&ExitStatus> = seen.iter().map(|s| &s.status).collect();
    assert_eq!(
        statuses,
        [
            &exit(2),
            &exit(0),
            &exit(0),
            &exit(3),
            &exit(1),
            &exit(4),
            &exit(0),
            &exit(0),
            &exit(0),
            &exit(0)
        ]
    );
    assert_eq!(seen[1].events, vec![(1, to_amount(&ALICE, 100))]);
    assert_eq!(
        seen[2].events,
        vec![(2, [ALICE.as_slice(), &to_amount(&BOB, 30)].concat())]
    );
    assert!(seen[3].events.is_empty());
    assert_eq!(
        seen[6].events,
        vec![(2, [BOB.as_slice(), &to_amount(&BOB, 20)].concat())]
    );
    assert_eq!(u64_le(&seen[7].return_data), 70);
    assert_eq!(u64_le(&seen[8].return_data), 30);
    assert_eq!(u64_le(&seen[9].return_data), 100);
    let bal = |who: &[u8; 32]| [b"bal".as_slice(), who].concat();
    assert_eq!(
        storage,
        &BTreeMap::from([
            (b"owner".to_vec(), OWNER.to_vec()),
            (b"supply".to_vec(), 100u64.to_le_bytes().to_vec()),
            (bal(&ALICE), 70u64.to_le_bytes().to_vec()),
            (bal(&BOB), 30u64.to_le_bytes().to_vec()),
        ])
    );
    for (module, trace) in modules.iter().zip(&traces).skip(1) {
        assert_eq!(trace, &traces[0], "{} token differs from TBPF", module.tag);
    }
}
