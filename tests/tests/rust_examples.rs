//! The Rust twins of the example contracts (sdk/rust/examples, built by `tosvm build --all`,
//! committed in sdk/rust/examples/build/) against the C versions (sdk/examples/build/): the
//! same exit codes, return data, events, logs, storage effects and balance moves on TBPF
//! (interpreter and JIT) and wasm, and golden gas of the Rust modules so a cost change is a
//! visible diff. The modules are committed, so this runs without any Rust toolchain for
//! contracts; `sdk/rust/build.sh --check` checks that they are what the sources build to.

mod common;

use std::collections::BTreeMap;

use common::*;
use tos_engine_api::{Call, Hash, ModuleTag, NATIVE_ASSET};
use tos_host::{ActivationSchedule, CallReport, ContractModule, Host, MemoryProvider};

/// A Rust twin, as committed.
fn rust(tag: ModuleTag, name: &str) -> ContractModule {
    let ext = if tag == ModuleTag::TBPF { "so" } else { "wasm" };
    ContractModule::new(tag, read(&format!("sdk/rust/examples/build/{name}.{ext}")))
}

/// The C version, as committed.
fn c(tag: ModuleTag, name: &str) -> ContractModule {
    example(tag, name)
}

/// The hosts to compare on: TBPF interpreted, and TBPF compiled where the JIT exists.
fn hosts() -> Vec<(&'static str, Host)> {
    let mut h = vec![(
        "interpreter",
        host_with(ActivationSchedule::devnet(), false),
    )];
    if cfg!(target_arch = "x86_64") {
        h.push(("jit", host_with(ActivationSchedule::devnet(), true)));
    }
    h
}

const ENGINES: [ModuleTag; 2] = [ModuleTag::TBPF, ModuleTag::WASM];

/// What one call showed the outside world, with its gas apart (gas differs by language).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: String,
    return_data: Vec<u8>,
    events: Vec<(u64, Vec<u8>)>,
    logs: Vec<Vec<u8>>,
}

impl From<&CallReport> for Seen {
    fn from(r: &CallReport) -> Self {
        Seen {
            status: r.outcome.status.to_string(),
            return_data: r.outcome.return_data.clone(),
            events: r.events.iter().map(|e| (e.id, e.data.clone())).collect(),
            logs: r.logs.clone(),
        }
    }
}

/// Calls, final storage, and the gas of the constructor (0 when none) then of every call.
#[derive(Debug)]
struct Trace {
    seen: Vec<Seen>,
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    gas: Vec<u64>,
}

fn run_script(host: &Host, module: &ContractModule, calls: &[(Hash, Call, Vec<u8>)]) -> Trace {
    let mut state = MemoryProvider::default();
    let d = deploy(host, &mut state, module, 1);
    assert!(d.deployed, "{}: {:?}", module.tag, d.constructor);
    let mut gas = vec![d.constructor.as_ref().map_or(0, |c| c.outcome.gas_used)];
    let mut seen = Vec::new();
    for (from, call, params) in calls {
        let r = invoke(host, &mut state, d.address, *from, *call, params);
        gas.push(r.outcome.gas_used);
        seen.push(Seen::from(&r));
    }
    Trace {
        seen,
        storage: storage_of(&state, &d.address),
        gas,
    }
}

fn hello_calls() -> Vec<(Hash, Call, Vec<u8>)> {
    vec![
        (ALICE, Call::Entry(0), vec![]),
        (ALICE, Call::Entry(0), b"ignored".to_vec()),
        (ALICE, Call::Entry(1), vec![]),
    ]
}

fn counter_calls() -> Vec<(Hash, Call, Vec<u8>)> {
    let e = |id: u16, p: &[u8]| (ALICE, Call::Entry(id), p.to_vec());
    vec![
        e(0, &[]),
        e(0, &[]),
        e(0, &[]),
        e(2, &10u64.to_le_bytes()),
        e(2, &[1, 2, 3]),
        e(2, &[0; 9]),
        e(2, &u64::MAX.to_le_bytes()),
        e(1, &[]),
        e(9, &[]),
        e(2, &(u64::MAX - 13).to_le_bytes()),
        e(0, &[]), // count is u64::MAX: refused
        e(1, &[]),
    ]
}

fn token_calls() -> Vec<(Hash, Call, Vec<u8>)> {
    vec![
        (ALICE, Call::Entry(0), to_amount(&ALICE, 5)), // not the owner
        (OWNER, Call::Entry(0), to_amount(&ALICE, 100)),
        (ALICE, Call::Entry(1), to_amount(&BOB, 30)),
        (BOB, Call::Entry(1), to_amount(&ALICE, 50)), // insufficient
        (BOB, Call::Entry(1), vec![0; 39]),           // bad params
        (OWNER, Call::Entry(0), vec![0; 41]),         // bad params
        (OWNER, Call::Entry(0), to_amount(&BOB, u64::MAX)), // overflow
        (BOB, Call::Entry(1), to_amount(&BOB, 20)),   // to oneself
        (ALICE, Call::Entry(2), ALICE.to_vec()),
        (ALICE, Call::Entry(2), BOB.to_vec()),
        (ALICE, Call::Entry(2), vec![0; 31]),
        (ALICE, Call::Entry(3), vec![]),
        (ALICE, Call::Entry(4), vec![]),
    ]
}

/// The Rust twin and the C version give the same trace on every engine and host; returns
/// the Rust gas per (host, engine).
fn same_as_c(name: &str, calls: &[(Hash, Call, Vec<u8>)]) -> Vec<(String, Vec<u64>, Vec<u64>)> {
    let mut gas = Vec::new();
    for (host_name, host) in hosts() {
        for tag in ENGINES {
            let from_c = run_script(&host, &c(tag, name), calls);
            let from_rust = run_script(&host, &rust(tag, name), calls);
            assert_eq!(
                from_rust.seen, from_c.seen,
                "{name} on {tag} ({host_name}): Rust and C differ"
            );
            assert_eq!(
                from_rust.storage, from_c.storage,
                "{name} on {tag} ({host_name}): storage differs"
            );
            gas.push((format!("{host_name} {tag}"), from_rust.gas, from_c.gas));
        }
    }
    gas
}

#[test]
fn hello_twin_matches_c() {
    let gas = same_as_c("hello", &hello_calls());
    let t = run_script(
        &hosts()[0].1,
        &rust(ModuleTag::TBPF, "hello"),
        &hello_calls(),
    );
    assert_eq!(t.seen[0].status, "exit 0");
    assert_eq!(t.seen[0].logs, vec![b"hello, tos".to_vec()]);
    assert_ne!(t.seen[2].status, "exit 0", "entry 1 does not exist");
    check_golden("hello", &gas);
}

#[test]
fn counter_twin_matches_c() {
    let gas = same_as_c("counter", &counter_calls());
    let t = run_script(
        &hosts()[0].1,
        &rust(ModuleTag::WASM, "counter"),
        &counter_calls(),
    );
    let exits: Vec<&str> = t.seen.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(
        &exits[..8],
        [
            "exit 0", "exit 0", "exit 0", "exit 0", "exit 1", "exit 1", "exit 2", "exit 0"
        ]
    );
    assert_eq!(t.seen[2].events, vec![(1, 3u64.to_le_bytes().to_vec())]);
    assert_eq!(t.seen[10].status, "exit 2");
    assert_eq!(t.seen[11].return_data, u64::MAX.to_le_bytes());
    check_golden("counter", &gas);
}

#[test]
fn token_twin_matches_c() {
    let gas = same_as_c("token", &token_calls());
    let t = run_script(
        &hosts()[0].1,
        &rust(ModuleTag::TBPF, "token"),
        &token_calls(),
    );
    let exits: Vec<&str> = t.seen.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(
        &exits[..12],
        [
            "exit 2", "exit 0", "exit 0", "exit 3", "exit 1", "exit 1", "exit 4", "exit 0",
            "exit 0", "exit 0", "exit 1", "exit 0"
        ]
    );
    assert_eq!(u64_le(&t.seen[8].return_data), 70);
    assert_eq!(u64_le(&t.seen[11].return_data), 100);
    check_golden("token", &gas);
}

// ---- router and vault --------------------------------------------------------------------

fn call_with(
    host: &Host,
    state: &mut MemoryProvider,
    contract: Hash,
    from: Hash,
    entry: u16,
    params: Vec<u8>,
    deposit: u64,
) -> CallReport {
    invoke_deposit(
        host,
        state,
        contract,
        from,
        Call::Entry(entry),
        params,
        deposit,
    )
}

fn route(callee: &Hash, entry: u16, amount: u64, gas: u64, params: &[u8]) -> Vec<u8> {
    [
        callee.as_slice(),
        &entry.to_le_bytes(),
        &amount.to_le_bytes(),
        &gas.to_le_bytes(),
        params,
    ]
    .concat()
}

/// One event: contract role, id, data with addresses scrubbed.
type RoleEvent = (String, u64, Vec<u8>);

/// What a router/vault session did, with addresses replaced by role names.
#[derive(Debug, PartialEq, Eq)]
struct Session {
    /// Per call: status, return data, events, frames.
    seen: Vec<(String, Vec<u8>, Vec<RoleEvent>, usize)>,
    balances: Vec<(String, u64)>,
    storage: Vec<(String, Vec<u8>, Vec<u8>)>,
}

/// Deposits straight and through the router, balances, withdrawals, a refused entry, short
/// params, too much callee gas asked, a callee that fails. Returns the session and its gas.
fn session(host: &Host, router: &ContractModule, vault: &ContractModule) -> (Session, Vec<u64>) {
    let mut state = MemoryProvider::default();
    let r = deploy(host, &mut state, router, 1).address;
    let v = deploy(host, &mut state, vault, 1).address;
    let role = |h: &Hash| -> String {
        if *h == r {
            "router".into()
        } else if *h == v {
            "vault".into()
        } else if *h == ALICE {
            "alice".into()
        } else if *h == BOB {
            "bob".into()
        } else {
            hex::encode(h)
        }
    };
    let scrub = |b: &[u8]| -> Vec<u8> {
        let mut s = b.to_vec();
        for (addr, name) in [(r, b"<router>".as_slice()), (v, b"<vault>".as_slice())] {
            if let Some(i) = s.windows(32).position(|w| w == addr) {
                s.splice(i..i + 32, name.iter().copied());
            }
        }
        s
    };
    let reports = [
        call_with(host, &mut state, v, ALICE, 0, vec![], 100),
        call_with(host, &mut state, r, ALICE, 0, route(&v, 0, 30, 0, &[]), 50),
        call_with(host, &mut state, v, BOB, 2, r.to_vec(), 0),
        call_with(host, &mut state, v, BOB, 2, vec![1; 31], 0),
        call_with(host, &mut state, v, BOB, 0, vec![], 0),
        call_with(host, &mut state, r, ALICE, 0, route(&v, 1, 0, 0, &[]), 0),
        call_with(host, &mut state, v, ALICE, 1, vec![], 0),
        call_with(host, &mut state, v, ALICE, 1, vec![], 0),
        call_with(host, &mut state, r, ALICE, 0, route(&v, 9, 5, 0, &[]), 0),
        call_with(host, &mut state, r, ALICE, 0, v[..10].to_vec(), 0),
        call_with(
            host,
            &mut state,
            r,
            ALICE,
            0,
            route(&v, 2, 0, 5_000, &ALICE),
            0,
        ),
        call_with(
            host,
            &mut state,
            r,
            ALICE,
            0,
            route(&v, 2, 0, 0, &[7; 5]),
            0,
        ),
        call_with(
            host,
            &mut state,
            r,
            ALICE,
            0,
            route(&v, 0, 0, 0, &vec![0; 32_681]),
            0,
        ),
    ];
    let seen = reports
        .iter()
        .map(|rep| {
            (
                rep.outcome.status.to_string(),
                scrub(&rep.outcome.return_data),
                rep.events
                    .iter()
                    .map(|e| (role(&e.contract), e.id, scrub(&e.data)))
                    .collect(),
                rep.frame.frame_count(),
            )
        })
        .collect();
    let gas = reports.iter().map(|rep| rep.outcome.gas_used).collect();
    let balances = state
        .balances
        .iter()
        .map(|((who, asset), n)| {
            assert_eq!(*asset, NATIVE_ASSET);
            (role(who), *n)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let storage = state
        .storage
        .iter()
        .map(|((c, k), val)| (role(c), scrub(k), scrub(val)))
        .collect();
    (
        Session {
            seen,
            balances,
            storage,
        },
        gas,
    )
}

#[test]
fn router_and_vault_twins_match_c_on_every_pair_of_engines() {
    let mut gas = Vec::new();
    for (host_name, host) in hosts() {
        for rt in ENGINES {
            for vt in ENGINES {
                let (from_c, c_gas) = session(&host, &c(rt, "router"), &c(vt, "vault"));
                let (from_rust, rust_gas) = session(&host, &rust(rt, "router"), &rust(vt, "vault"));
                assert_eq!(
                    from_rust, from_c,
                    "router on {rt}, vault on {vt} ({host_name}): Rust and C differ"
                );
                // Mixed: a Rust router calling a C vault and the other way round.
                let (mixed, _) = session(&host, &rust(rt, "router"), &c(vt, "vault"));
                assert_eq!(mixed, from_c, "Rust router on {rt}, C vault on {vt}");
                let (mixed, _) = session(&host, &c(rt, "router"), &rust(vt, "vault"));
                assert_eq!(mixed, from_c, "C router on {rt}, Rust vault on {vt}");
                gas.push((format!("{host_name} {rt}/{vt}"), rust_gas, c_gas));
            }
        }
    }
    let (reference, _) = session(
        &hosts()[0].1,
        &rust(ModuleTag::TBPF, "router"),
        &rust(ModuleTag::TBPF, "vault"),
    );
    let exits: Vec<&str> = reference.seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        exits,
        [
            "exit 0", "exit 0", "exit 0", "exit 1", "exit 1", "exit 0", "exit 0", "exit 1",
            "exit 1", "exit 2", "exit 0", "exit 1", "exit 3"
        ]
    );
    assert_eq!(
        reference.seen[10].1,
        0u64.to_le_bytes(),
        "alice's record, relayed"
    );
    check_golden("router+vault", &gas);
}

// ---- golden gas --------------------------------------------------------------------------

/// Gas of the Rust modules: the constructor (0 when none) then each call, per host and
/// engine. The interpreter and the JIT must charge the same. Update deliberately when a cost
/// or a module changes (`TOS_BLESS=1 cargo test -p tos-tests --test rust_examples --
/// --nocapture` prints the rows, with C's gas beside them).
const GOLDEN: &[(&str, &str, &[u64])] = &[
    ("hello", "tbpf", &[0, 1123, 1123, 1000]), // C: [0, 1123, 1123, 1000]
    ("hello", "wasm", &[0, 3500, 3507, 1000]), // C: [0, 3729, 3736, 1000]
    (
        "counter",
        "tbpf",
        &[
            2084, 2889, 2889, 2889, 2928, 1013, 1013, 1572, 1596, 1000, 2928, 1533, 1596,
        ],
    ), // C: [2084, 2889, 2889, 2889, 2903, 1013, 1013, 1547, 1596, 1000, 2903, 1533, 1596]
    (
        "counter",
        "wasm",
        &[
            4472, 5286, 5286, 5286, 5316, 3419, 3425, 3965, 3986, 1000, 5316, 3933, 3986,
        ],
    ), // C: [4708, 5522, 5522, 5522, 5562, 3652, 3658, 4206, 4222, 1000, 5562, 4169, 4222]
    (
        "token",
        "tbpf",
        &[
            3345, 1835, 6063, 5678, 1805, 1013, 1012, 3367, 5331, 1744, 1744, 1014, 1599, 1000,
        ],
    ), // C: [3333, 1649, 5969, 6249, 1904, 1013, 1012, 3035, 5455, 1906, 1906, 1015, 1599, 1000]
    (
        "token",
        "wasm",
        &[
            5763, 4184, 7954, 7724, 4159, 3463, 3465, 5319, 7134, 4125, 4125, 3455, 4000, 1000,
        ],
    ), // C: [5973, 4391, 9157, 9833, 4785, 3703, 3705, 5979, 8879, 4769, 4769, 3695, 4238, 1000]
    (
        "router+vault",
        "tbpf/tbpf",
        &[
            3245, 13905, 1625, 1014, 1064, 13644, 3037, 1619, 11642, 1011, 12543, 11653, 1013,
        ],
    ), // C: [3295, 14002, 1625, 1014, 1070, 13681, 3087, 1607, 11689, 1013, 12499, 11636, 1070]
    (
        "router+vault",
        "tbpf/wasm",
        &[
            5700, 16360, 4102, 3479, 3486, 16098, 5491, 4063, 11642, 1011, 15020, 14092, 1013,
        ],
    ), // C: [5998, 16705, 4303, 3680, 3710, 16383, 5789, 4238, 11689, 1013, 15177, 14276, 1070]
    (
        "router+vault",
        "wasm/tbpf",
        &[
            3245, 16299, 1625, 1014, 1064, 16034, 3037, 1619, 14038, 3417, 15001, 14090, 37498,
        ],
    ), // C: [3295, 16807, 1625, 1014, 1070, 16418, 3087, 1607, 14496, 3648, 15422, 14423, 37742]
    (
        "router+vault",
        "wasm/wasm",
        &[
            5700, 18754, 4102, 3479, 3486, 18488, 5491, 4063, 14038, 3417, 17478, 16529, 37498,
        ],
    ), // C: [5998, 19510, 4303, 3680, 3710, 19120, 5789, 4238, 14496, 3648, 18100, 17063, 37742]
];

fn check_golden(name: &str, gas: &[(String, Vec<u64>, Vec<u64>)]) {
    // Interpreter and JIT agree.
    for (label, g, _) in gas {
        if let Some(engine) = label.strip_prefix("jit ") {
            let interp = gas
                .iter()
                .find(|(l, _, _)| l.strip_prefix("interpreter ") == Some(engine))
                .expect("the interpreter ran too");
            assert_eq!(
                g, &interp.1,
                "{name} on {engine}: JIT and interpreter gas differ"
            );
        }
    }
    let rows: Vec<(&str, &Vec<u64>, &Vec<u64>)> = gas
        .iter()
        .filter_map(|(l, g, cg)| Some((l.strip_prefix("interpreter ")?, g, cg)))
        .collect();
    if std::env::var_os("TOS_BLESS").is_some() {
        for (engine, g, cg) in &rows {
            println!("    (\"{name}\", \"{engine}\", &{g:?}), // C: {cg:?}");
        }
    }
    for (engine, g, _) in &rows {
        let golden = GOLDEN
            .iter()
            .find(|(n, e, _)| *n == name && e == engine)
            .unwrap_or_else(|| panic!("no golden gas for {name} on {engine}"));
        assert_eq!(golden.2, &g[..], "gas of {name} on {engine}");
    }
}
