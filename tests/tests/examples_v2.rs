//! The ABI v2 examples (router, vault) on every pair of engines: the same exit codes, return
//! data, events, storage effects and balance moves whichever engine runs which contract, and
//! golden gas so a cost change is a visible diff.

mod common;

use common::*;
use tos_engine_api::{Call, Hash, ModuleTag, NATIVE_ASSET};
use tos_host::{CallReport, Host, InvokeRequest, MemoryProvider};

const ENGINES: [ModuleTag; 3] = [ModuleTag::TBPF, ModuleTag::WASM, ModuleTag::LEGACY];

/// What a call did, with contract addresses replaced by their role names.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: String,
    return_data: Vec<u8>,
    events: Vec<(String, u64, Vec<u8>)>,
    frames: usize,
}

struct Roles {
    names: Vec<(Hash, &'static str)>,
}

impl Roles {
    fn name(&self, h: &Hash) -> String {
        self.names
            .iter()
            .find(|(a, _)| a == h)
            .map_or_else(|| hex::encode(h), |(_, n)| (*n).to_owned())
    }

    /// `bytes` with every 32-byte address of a role replaced by `<role>`.
    fn scrub(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hit = bytes.get(i..i + 32).and_then(|w| {
                self.names
                    .iter()
                    .find(|(a, _)| a.as_slice() == w)
                    .map(|(_, n)| *n)
            });
            match hit {
                Some(n) => {
                    out.extend_from_slice(format!("<{n}>").as_bytes());
                    i += 32;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        out
    }

    fn seen(&self, r: &CallReport) -> Seen {
        Seen {
            status: r.outcome.status.to_string(),
            return_data: self.scrub(&r.outcome.return_data),
            events: r
                .events
                .iter()
                .map(|e| (self.name(&e.contract), e.id, self.scrub(&e.data)))
                .collect(),
            frames: r.frame.frame_count(),
        }
    }
}

fn call(
    host: &Host,
    state: &mut MemoryProvider,
    contract: Hash,
    from: Hash,
    entry: u16,
    params: Vec<u8>,
    deposit: u64,
) -> CallReport {
    host.invoke(
        state,
        &tx(10, from),
        &InvokeRequest {
            contract,
            call: Call::Entry(entry),
            params,
            gas_limit: GAS,
            deposits: if deposit > 0 {
                vec![(NATIVE_ASSET, deposit)]
            } else {
                vec![]
            },
        },
    )
    .unwrap()
}

/// Router params: callee ‖ entry ‖ native deposit ‖ gas ‖ callee params.
fn route(callee: &Hash, entry: u16, amount: u64, params: &[u8]) -> Vec<u8> {
    [
        callee.as_slice(),
        &entry.to_le_bytes(),
        &amount.to_le_bytes(),
        &0u64.to_le_bytes(),
        params,
    ]
    .concat()
}

/// A session: deposits straight into the vault and through the router, balances, withdrawals,
/// a refused call. Returns what each call did, its gas, and the final balances and storage
/// with roles for addresses.
type Session = (
    Vec<Seen>,
    Vec<u64>,
    Vec<(String, u64)>,
    Vec<(String, Vec<u8>, Vec<u8>)>,
);

fn session(host: &Host, router_tag: ModuleTag, vault_tag: ModuleTag) -> Session {
    let mut state = MemoryProvider::default();
    let router = deploy(host, &mut state, &example(router_tag, "router"), 1).address;
    let vault = deploy(host, &mut state, &example(vault_tag, "vault"), 1).address;
    let roles = Roles {
        names: vec![(router, "router"), (vault, "vault"), (ALICE, "alice")],
    };
    let reports = [
        call(host, &mut state, vault, ALICE, 0, vec![], 100),
        call(
            host,
            &mut state,
            router,
            ALICE,
            0,
            route(&vault, 0, 30, &[]),
            50,
        ),
        call(host, &mut state, vault, BOB, 2, router.to_vec(), 0),
        call(
            host,
            &mut state,
            router,
            ALICE,
            0,
            route(&vault, 1, 0, &[]),
            0,
        ),
        call(host, &mut state, vault, ALICE, 1, vec![], 0),
        call(host, &mut state, vault, ALICE, 1, vec![], 0),
        call(
            host,
            &mut state,
            router,
            ALICE,
            0,
            route(&vault, 9, 5, &[]),
            0,
        ),
        call(host, &mut state, router, ALICE, 0, vault[..10].to_vec(), 0),
    ];
    let seen = reports.iter().map(|r| roles.seen(r)).collect();
    let gas = reports.iter().map(|r| r.outcome.gas_used).collect();
    let balances = state
        .balances
        .iter()
        .map(|((who, asset), n)| {
            assert_eq!(*asset, NATIVE_ASSET);
            (roles.name(who), *n)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let storage = state
        .storage
        .iter()
        .map(|((c, k), v)| (roles.name(c), roles.scrub(k), roles.scrub(v)))
        .collect();
    (seen, gas, balances, storage)
}

#[test]
fn router_and_vault_behave_the_same_on_every_pair_of_engines() {
    let host = host();
    let (reference, _, balances, storage) = session(&host, ModuleTag::TBPF, ModuleTag::TBPF);
    let exits: Vec<&str> = reference.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(
        exits,
        [
            "exit 0", "exit 0", "exit 0", "exit 0", "exit 0", "exit 1", "exit 1", "exit 2"
        ],
        "deposit, routed deposit, balance_of, routed withdraw, withdraw, nothing left, \
         refused entry, short params"
    );
    assert_eq!(reference[0].return_data, 100u64.to_le_bytes());
    assert_eq!(
        reference[1].return_data,
        30u64.to_le_bytes(),
        "the vault's total, relayed"
    );
    assert_eq!(reference[1].frames, 2);
    assert_eq!(
        reference[1].events,
        [
            (
                "vault".to_owned(),
                1,
                [b"<router>".as_slice(), &30u64.to_le_bytes()].concat()
            ),
            ("router".to_owned(), 1, 0u64.to_le_bytes().to_vec()),
        ],
        "the vault's event first, then the router's: execution order"
    );
    assert_eq!(reference[2].return_data, 30u64.to_le_bytes());
    assert_eq!(reference[3].return_data, 30u64.to_le_bytes());
    assert_eq!(reference[4].return_data, 100u64.to_le_bytes());
    // The router kept its 50 (30 out, 30 back), Alice got her 100 back, the vault holds none.
    assert_eq!(
        balances,
        [
            ("alice".to_owned(), 100),
            ("router".to_owned(), 50),
            ("vault".to_owned(), 0)
        ]
    );
    assert!(storage.is_empty(), "both records were deleted: {storage:?}");
    for router in ENGINES {
        for vault in ENGINES {
            let (seen, _, b, s) = session(&host, router, vault);
            assert_eq!(seen, reference, "router on {router}, vault on {vault}");
            assert_eq!((b, s), (balances.clone(), storage.clone()));
        }
    }
}

#[test]
fn golden_gas_of_router_and_vault() {
    // Update deliberately when a cost changes: every figure here is charged on chain.
    // Rows: router engine, vault engine; columns: the calls of `session`.
    let golden: [(ModuleTag, ModuleTag, [u64; 8]); 9] = GOLDEN;
    let host = host();
    let mut got = Vec::new();
    for router in ENGINES {
        for vault in ENGINES {
            let (_, gas, _, _) = session(&host, router, vault);
            got.push((router, vault, <[u64; 8]>::try_from(gas).unwrap()));
        }
    }
    if std::env::var_os("TOS_BLESS").is_some() {
        for (r, v, g) in &got {
            println!("    ({}, {}, {g:?}),", tag_const(*r), tag_const(*v));
        }
    }
    assert_eq!(got, golden);
}

fn tag_const(t: ModuleTag) -> &'static str {
    match t {
        ModuleTag::TBPF => "ModuleTag::TBPF",
        ModuleTag::WASM => "ModuleTag::WASM",
        _ => "ModuleTag::LEGACY",
    }
}

const GOLDEN: [(ModuleTag, ModuleTag, [u64; 8]); 9] = [
    (
        ModuleTag::TBPF,
        ModuleTag::TBPF,
        [3295, 14002, 1625, 13681, 3087, 1607, 11689, 1013],
    ),
    (
        ModuleTag::TBPF,
        ModuleTag::WASM,
        [5998, 16705, 4303, 16383, 5789, 4238, 11689, 1013],
    ),
    (
        ModuleTag::TBPF,
        ModuleTag::LEGACY,
        [3304, 14011, 1647, 13692, 3098, 1633, 11689, 1013],
    ),
    (
        ModuleTag::WASM,
        ModuleTag::TBPF,
        [3295, 16807, 1625, 16418, 3087, 1607, 14496, 3648],
    ),
    (
        ModuleTag::WASM,
        ModuleTag::WASM,
        [5998, 19510, 4303, 19120, 5789, 4238, 14496, 3648],
    ),
    (
        ModuleTag::WASM,
        ModuleTag::LEGACY,
        [3304, 16816, 1647, 16429, 3098, 1633, 14496, 3648],
    ),
    (
        ModuleTag::LEGACY,
        ModuleTag::TBPF,
        [3295, 13940, 1625, 13653, 3087, 1607, 11628, 1009],
    ),
    (
        ModuleTag::LEGACY,
        ModuleTag::WASM,
        [5998, 16643, 4303, 16355, 5789, 4238, 11628, 1009],
    ),
    (
        ModuleTag::LEGACY,
        ModuleTag::LEGACY,
        [3304, 13949, 1647, 13664, 3098, 1633, 11628, 1009],
    ),
];
