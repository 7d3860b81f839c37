//! The same contract logic on every engine gives the same storage effects, events, return
//! data and exit codes (docs/EXAMPLES.md). One test drives all of them, through `tos-testkit`.

use std::collections::BTreeMap;

use tos_engine_api::{Call, ExitStatus, ModuleTag, Trap};
use tos_host::{CallReport, ContractModule};
use tos_testkit::{Chain, Outcome, example, repo_root};

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

fn u64_le(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

fn counter_trace(module: &ContractModule) -> Trace {
    let mut chain = Chain::new();
    let c = chain.deploy("owner", module);
    chain.assert_storage(&c, b"count", Some(&[0; 8]));
    let mut seen = Vec::new();
    let mut call = |entry: u16, args: &[&str]| {
        let out: Outcome = chain.call("alice", &c, entry).args(args).send();
        seen.push(Seen::from(&out.report));
    };
    for _ in 0..3 {
        call(0, &[]);
    }
    call(2, &["u64:10"]);
    call(2, &["hex:010203"]);
    call(2, &["u64:18446744073709551615"]);
    call(1, &[]);
    call(9, &[]);
    call(2, &[&format!("u64:{}", u64::MAX - 13)]);
    call(0, &[]); // count is u64::MAX: refused
    call(1, &[]);
    (seen, chain.storage_all(&c))
}

fn token_trace(module: &ContractModule) -> Trace {
    let mut chain = Chain::new();
    let t = chain.deploy("owner", module);
    let mut seen = Vec::new();
    let mut call = |from: &str, entry: u16, args: &[&str]| {
        let out = chain.call(from, &t, entry).args(args).send();
        seen.push(Seen::from(&out.report));
    };
    call("alice", 0, &["addr:alice", "u64:5"]); // not the owner
    call("owner", 0, &["addr:alice", "u64:100"]);
    call("alice", 1, &["addr:bob", "u64:30"]);
    call("bob", 1, &["addr:alice", "u64:50"]); // insufficient
    call("bob", 1, &[&format!("hex:{}", "00".repeat(39))]); // bad params
    call("owner", 0, &["addr:bob", "u64:18446744073709551615"]); // overflow
    call("bob", 1, &["addr:bob", "u64:20"]); // to oneself: no balance changes
    call("alice", 2, &["addr:alice"]);
    call("alice", 2, &["addr:bob"]);
    call("alice", 3, &[]);
    (seen, chain.storage_all(&t))
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
        modules.push(tos_testkit::file(
            repo_root().join("engine-wasm/examples/counter.wasm"),
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
    let key = |name: &str| Chain::new().account(name);
    let (alice, bob, owner) = (key("alice"), key("bob"), key("owner"));
    let to_amount = |to: &[u8; 32], n: u64| [to.as_slice(), &n.to_le_bytes()].concat();
    assert_eq!(seen[1].events, vec![(1, to_amount(&alice, 100))]);
    assert_eq!(
        seen[2].events,
        vec![(2, [alice.as_slice(), &to_amount(&bob, 30)].concat())]
    );
    assert!(seen[3].events.is_empty());
    assert_eq!(
        seen[6].events,
        vec![(2, [bob.as_slice(), &to_amount(&bob, 20)].concat())]
    );
    assert_eq!(u64_le(&seen[7].return_data), 70);
    assert_eq!(u64_le(&seen[8].return_data), 30);
    assert_eq!(u64_le(&seen[9].return_data), 100);
    let bal = |who: &[u8; 32]| [b"bal".as_slice(), who].concat();
    assert_eq!(
        storage,
        &BTreeMap::from([
            (b"owner".to_vec(), owner.to_vec()),
            (b"supply".to_vec(), 100u64.to_le_bytes().to_vec()),
            (bal(&alice), 70u64.to_le_bytes().to_vec()),
            (bal(&bob), 30u64.to_le_bytes().to_vec()),
        ])
    );
    for (module, trace) in modules.iter().zip(&traces).skip(1) {
        assert_eq!(trace, &traces[0], "{} token differs from TBPF", module.tag);
    }
}
