//! The example contracts of docs/EXAMPLES.md, in legacy assembly (examples/*.tasm), run
//! through the engine against the real host (`tos_host::testing`): behaviour as the page
//! specifies, and golden gas.

use std::sync::{Arc, LazyLock};

use tos_engine_api::{Call, ExecutionEngine, ExitStatus, Hash, Outcome, PreparedModule, Trap};
use tos_engine_legacy::{LegacyConfig, LegacyEngine, assemble};
use tos_host::Host;

const GAS: u64 = 1_000_000;

fn prepare(code: &[u8]) -> Arc<dyn PreparedModule> {
    LegacyEngine::new(LegacyConfig::default())
        .unwrap()
        .prepare(code, &tos_syscalls::testing::abi_v1())
        .unwrap()
}

static HOST: LazyLock<&'static Host> = LazyLock::new(tos_host::testing::shared_devnet_host);

/// A contract on the real host, over a state in memory kept from call to call.
type Chain = tos_host::testing::World;

/// Runs one call as the host would, in `host`: the input is the host's; `host.events()` and
/// `host.logs()` are then this call's.
fn call(m: &dyn PreparedModule, host: &mut Chain, call: Call, params: &[u8]) -> Outcome {
    host.run(m, call, params, GAS).unwrap()
}

fn exit(o: &Outcome) -> u64 {
    match o.status {
        ExitStatus::Exit(code) => code,
        ref other => panic!("expected an exit, got {other}"),
    }
}

#[test]
fn committed_modules_match_their_assembly() {
    for (text, bytes) in [
        (
            include_str!("../examples/hello.tasm"),
            &include_bytes!("../examples/hello.tosl")[..],
        ),
        (
            include_str!("../examples/counter.tasm"),
            &include_bytes!("../examples/counter.tosl")[..],
        ),
        (
            include_str!("../examples/token.tasm"),
            &include_bytes!("../examples/token.tosl")[..],
        ),
    ] {
        assert_eq!(
            assemble(text).unwrap().to_bytes().unwrap(),
            bytes,
            "a committed .tosl is stale: run engine-legacy/examples/build.sh"
        );
    }
}

#[test]
fn hello() {
    let m = prepare(include_bytes!("../examples/hello.tosl"));
    assert_eq!(m.info().imports, ["tos_log"]);
    let mut host = Chain::default();
    let o = call(m.as_ref(), &mut host, Call::Entry(0), b"whatever");
    assert_eq!(exit(&o), 0);
    assert_eq!(host.logs(), [b"hello, tos".to_vec()]);
    assert!(o.return_data.is_empty());
    assert_eq!(o.gas_used, 121);
    assert_eq!(
        call(m.as_ref(), &mut host, Call::Entry(1), b"").status,
        ExitStatus::Trap(Trap::UnknownEntry(Call::Entry(1)))
    );
    assert!(!m.info().entries.has_constructor());
}

fn le(n: u64) -> Vec<u8> {
    n.to_le_bytes().to_vec()
}

#[test]
fn counter() {
    let m = prepare(include_bytes!("../examples/counter.tosl"));
    let m = m.as_ref();
    assert!(m.info().entries.has_constructor());
    let mut host = Chain::default();

    // Absent counts as 0.
    let o = call(m, &mut host, Call::Entry(1), b"");
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(0)));
    assert_eq!(o.gas_used, 593);

    let o = call(m, &mut host, Call::Hook(0), b"");
    assert_eq!(exit(&o), 0);
    assert_eq!(host.storage().get(&b"count"[..]), Some(&le(0)));
    assert_eq!(o.gas_used, 1_077);

    for n in 1..=2 {
        let o = call(m, &mut host, Call::Entry(0), b"ignored");
        assert_eq!(exit(&o), 0);
        assert_eq!(o.return_data, le(n));
        assert_eq!(host.events(), [(1, le(n))]);
        assert_eq!(host.storage().get(&b"count"[..]), Some(&le(n)));
        // load, the u64::MAX check, add, publish.
        assert_eq!(o.gas_used, 1_919);
    }
    let o = call(m, &mut host, Call::Entry(1), b"");
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(2)));
    assert!(host.events().is_empty());
    assert_eq!(o.gas_used, 603);

    let o = call(m, &mut host, Call::Entry(2), &le(40));
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(42)));
    assert_eq!(host.events(), [(1, le(42))]);
    assert_eq!(host.storage().get(&b"count"[..]), Some(&le(42)));
    assert_eq!(o.gas_used, 1_932);

    // Bad params: exit 1, nothing written.
    let before = host.storage();
    for bad in [&b""[..], &[1; 7], &[1; 9]] {
        let o = call(m, &mut host, Call::Entry(2), bad);
        assert_eq!(exit(&o), 1);
        assert!(o.return_data.is_empty() && host.events().is_empty());
        assert_eq!(host.storage(), before);
    }
    // Overflow: exit 2, nothing written.
    let o = call(m, &mut host, Call::Entry(2), &le(u64::MAX - 41));
    assert_eq!(exit(&o), 2);
    assert!(o.return_data.is_empty() && host.events().is_empty());
    assert_eq!(host.storage(), before);
    assert_eq!(o.gas_used, 554);
    // The largest amount that fits.
    let o = call(m, &mut host, Call::Entry(2), &le(u64::MAX - 42));
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(u64::MAX)));
    // Incrementing u64::MAX: exit 2, nothing written.
    let before = host.storage();
    let o = call(m, &mut host, Call::Entry(0), b"");
    assert_eq!(exit(&o), 2);
    assert!(o.return_data.is_empty() && host.events().is_empty());
    assert_eq!(host.storage(), before);
}

const OWNER: Hash = [0xaa; 32];
const ALICE: Hash = [0x11; 32];
const BOB: Hash = [0x22; 32];

fn bal_key(account: &Hash) -> Vec<u8> {
    [&b"bal"[..], account].concat()
}

fn to_amount(to: &Hash, amount: u64) -> Vec<u8> {
    [&to[..], &amount.to_le_bytes()].concat()
}

#[test]
fn token() {
    let m = prepare(include_bytes!("../examples/token.tosl"));
    let m = m.as_ref();
    let mut host = Chain::default();
    host.tx.source = OWNER;

    let o = call(m, &mut host, Call::Hook(0), b"");
    assert_eq!(exit(&o), 0);
    assert_eq!(host.storage().get(&b"owner"[..]), Some(&OWNER.to_vec()));
    assert_eq!(host.storage().get(&b"supply"[..]), Some(&le(0)));
    assert_eq!(host.storage().len(), 2);
    assert_eq!(o.gas_used, 2_341);

    // mint by the owner.
    let o = call(m, &mut host, Call::Entry(0), &to_amount(&ALICE, 100));
    assert_eq!(exit(&o), 0);
    assert_eq!(host.storage().get(&bal_key(&ALICE)), Some(&le(100)));
    assert_eq!(host.storage().get(&b"supply"[..]), Some(&le(100)));
    assert_eq!(host.events(), [(1, to_amount(&ALICE, 100))]);
    assert_eq!(o.gas_used, 4_487);

    // mint refusals: bad length 1, not owner 2, overflow 4 — nothing written.
    let before = host.storage();
    let o = call(m, &mut host, Call::Entry(0), &[0; 39]);
    assert_eq!(exit(&o), 1);
    host.tx.source = ALICE;
    let o = call(m, &mut host, Call::Entry(0), &to_amount(&ALICE, 1));
    assert_eq!(exit(&o), 2);
    assert_eq!(o.gas_used, 633);
    host.tx.source = OWNER;
    let o = call(
        m,
        &mut host,
        Call::Entry(0),
        &to_amount(&BOB, u64::MAX - 99),
    );
    assert_eq!(exit(&o), 4, "supply would overflow");
    assert!(host.events().is_empty());
    assert_eq!(host.storage(), before);

    // transfer alice → bob.
    host.tx.source = ALICE;
    let o = call(m, &mut host, Call::Entry(1), &to_amount(&BOB, 30));
    assert_eq!(exit(&o), 0);
    assert_eq!(host.storage().get(&bal_key(&ALICE)), Some(&le(70)));
    assert_eq!(host.storage().get(&bal_key(&BOB)), Some(&le(30)));
    assert_eq!(
        host.events(),
        [(2, [&ALICE[..], &BOB[..], &le(30)].concat())]
    );
    assert_eq!(o.gas_used, 4_248);

    // Insufficient balance: exit 3, nothing stored, no event.
    let before = host.storage();
    let o = call(m, &mut host, Call::Entry(1), &to_amount(&BOB, 71));
    assert_eq!(exit(&o), 3);
    assert!(host.events().is_empty());
    assert_eq!(host.storage(), before);
    assert_eq!(o.gas_used, 730);
    // Bad length.
    assert_eq!(exit(&call(m, &mut host, Call::Entry(1), &[0; 41])), 1);

    // Sending the whole balance stores a zero balance as 8 zero bytes.
    host.tx.source = BOB;
    let o = call(m, &mut host, Call::Entry(1), &to_amount(&ALICE, 30));
    assert_eq!(exit(&o), 0);
    assert_eq!(host.storage().get(&bal_key(&BOB)), Some(&le(0)));
    assert_eq!(host.storage().get(&bal_key(&ALICE)), Some(&le(100)));

    // A transfer to oneself leaves the balance as it was (debit, then credit).
    host.tx.source = ALICE;
    let o = call(m, &mut host, Call::Entry(1), &to_amount(&ALICE, 60));
    assert_eq!(exit(&o), 0);
    assert_eq!(host.storage().get(&bal_key(&ALICE)), Some(&le(100)));
    assert_eq!(
        host.events(),
        [(2, [&ALICE[..], &ALICE[..], &le(60)].concat())]
    );

    // The receiver's balance would overflow: exit 4, nothing written.
    host.state
        .storage
        .insert((host.contract, bal_key(&BOB)), le(u64::MAX));
    let before = host.storage();
    let o = call(m, &mut host, Call::Entry(1), &to_amount(&BOB, 1));
    assert_eq!(exit(&o), 4);
    assert!(host.events().is_empty());
    assert_eq!(host.storage(), before);

    // balance_of and supply.
    let o = call(m, &mut host, Call::Entry(2), &ALICE);
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(100)));
    assert_eq!(o.gas_used, 671);
    let o = call(m, &mut host, Call::Entry(2), &[0x33; 32]);
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(0)));
    assert_eq!(exit(&call(m, &mut host, Call::Entry(2), &[0; 31])), 1);
    let o = call(m, &mut host, Call::Entry(3), b"");
    assert_eq!((exit(&o), o.return_data.clone()), (0, le(100)));
    assert_eq!(o.gas_used, 606);
}

#[test]
fn a_host_whose_input_is_another_call_is_a_fault() {
    let m = prepare(include_bytes!("../examples/counter.tosl"));
    let mut host = Chain::default();
    let tx = host.tx.clone();
    // The host's input is entry 1's: running entry 0 (or a hook) against it is a host bug.
    for other in [Call::Entry(0), Call::Hook(0)] {
        let (result, _) = tos_host::testing::with_call_host(
            &HOST,
            &mut host.state,
            &tx,
            host.contract,
            Call::Entry(1),
            b"",
            |h| m.run(other, h, GAS),
        )
        .unwrap();
        let fault = result.unwrap_err();
        assert_eq!(fault.engine, "legacy");
        assert!(fault.message.contains("input"), "{fault}");
    }
    assert_eq!(exit(&call(m.as_ref(), &mut host, Call::Entry(1), b"")), 0);
}
