//! Runs the committed TBPF builds of the SDK examples (sdk/examples/build/*.so) in
//! solana-rbpf 0.8.5 against a mock host and checks docs/EXAMPLES.md.

mod common;

use std::path::Path;

use common::{Host, input, run};

fn module(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdk/examples/build")
        .join(format!("{name}.so"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

#[test]
fn hello() {
    let m = module("hello");
    let mut host = Host::default();
    assert_eq!(run(&m, &input(0, 0, b"ignored"), &mut host), Ok(0));
    assert_eq!(host.logs, vec![b"hello, tos".to_vec()]);
    assert_eq!(
        run(&m, &input(0, 1, &[]), &mut Host::default()),
        Ok(u64::MAX)
    );
    assert_eq!(
        run(&m, &input(1, 0, &[]), &mut Host::default()),
        Ok(u64::MAX)
    );
}

#[test]
fn counter() {
    let m = module("counter");
    let count = b"count".to_vec();

    // increment with "count" absent counts from 0.
    let mut host = Host::default();
    assert_eq!(run(&m, &input(0, 0, &[]), &mut host), Ok(0));
    assert_eq!(host.storage.get(&count), Some(&le(1)));

    let mut host = Host::default();
    assert_eq!(run(&m, &input(1, 0, &[]), &mut host), Ok(0));
    assert_eq!(host.storage.get(&count), Some(&le(0)));
    assert_eq!(run(&m, &input(0, 0, &[]), &mut host), Ok(0));
    assert_eq!(run(&m, &input(0, 0, &[]), &mut host), Ok(0));
    assert_eq!(host.storage.get(&count), Some(&le(2)));
    assert_eq!(host.events, vec![(1, le(1)), (1, le(2))]);
    assert_eq!(host.return_data, le(2));
    host.return_data.clear();
    assert_eq!(run(&m, &input(0, 1, &[]), &mut host), Ok(0));
    assert_eq!(host.return_data, le(2));

    assert_eq!(run(&m, &input(0, 2, &le(40)), &mut host), Ok(0));
    assert_eq!(host.storage.get(&count), Some(&le(42)));
    assert_eq!(host.events.last(), Some(&(1, le(42))));
    assert_eq!(host.return_data, le(42));

    let events = host.events.len();
    assert_eq!(run(&m, &input(0, 2, &[1, 2, 3]), &mut host), Ok(1));
    assert_eq!(run(&m, &input(0, 2, &[0; 9]), &mut host), Ok(1));
    assert_eq!(run(&m, &input(0, 2, &le(u64::MAX - 41)), &mut host), Ok(2));
    assert_eq!(host.storage.get(&count), Some(&le(42)));
    assert_eq!(host.events.len(), events);

    // get with "count" absent returns 0.
    let mut host = Host::default();
    assert_eq!(run(&m, &input(0, 1, &[]), &mut host), Ok(0));
    assert_eq!(host.return_data, le(0));
    assert_eq!(run(&m, &input(0, 3, &[]), &mut host), Ok(u64::MAX));
}

fn bal_key(account: &[u8; 32]) -> Vec<u8> {
    let mut k = b"bal".to_vec();
    k.extend_from_slice(account);
    k
}

fn pay(to: &[u8; 32], amount: u64) -> Vec<u8> {
    let mut p = to.to_vec();
    p.extend_from_slice(&amount.to_le_bytes());
    p
}

#[test]
fn token() {
    let m = module("token");
    let (a, b, c) = ([0xAA; 32], [0xBB; 32], [0xCC; 32]);
    let mut host = Host {
        tx_source: a,
        ..Host::default()
    };
    assert_eq!(run(&m, &input(1, 0, &[]), &mut host), Ok(0));
    assert_eq!(host.storage.get(b"owner".as_slice()), Some(&a.to_vec()));
    assert_eq!(host.storage.get(b"supply".as_slice()), Some(&le(0)));

    // mint
    assert_eq!(run(&m, &input(0, 0, &pay(&b, 100)), &mut host), Ok(0));
    assert_eq!(host.storage.get(&bal_key(&b)), Some(&le(100)));
    assert_eq!(host.storage.get(b"supply".as_slice()), Some(&le(100)));
    assert_eq!(host.events, vec![(1, pay(&b, 100))]);
    let snapshot = (host.storage.clone(), host.events.clone());
    assert_eq!(run(&m, &input(0, 0, &pay(&b, 1)[..39]), &mut host), Ok(1));
    assert_eq!(run(&m, &input(0, 0, &pay(&b, u64::MAX)), &mut host), Ok(4));
    host.tx_source = c;
    assert_eq!(run(&m, &input(0, 0, &pay(&c, 1)), &mut host), Ok(2));
    assert_eq!((host.storage.clone(), host.events.clone()), snapshot);

    // transfer b -> c
    host.tx_source = b;
    assert_eq!(run(&m, &input(0, 1, &pay(&c, 30)), &mut host), Ok(0));
    assert_eq!(host.storage.get(&bal_key(&b)), Some(&le(70)));
    assert_eq!(host.storage.get(&bal_key(&c)), Some(&le(30)));
    let mut ev = b.to_vec();
    ev.extend_from_slice(&pay(&c, 30));
    assert_eq!(host.events.last(), Some(&(2, ev)));
    let snapshot = (host.storage.clone(), host.events.clone());
    assert_eq!(run(&m, &input(0, 1, &pay(&c, 71)), &mut host), Ok(3));
    assert_eq!(run(&m, &input(0, 1, &[0; 41]), &mut host), Ok(1));
    assert_eq!((host.storage.clone(), host.events.clone()), snapshot);
    // transfer to oneself keeps the balance
    assert_eq!(run(&m, &input(0, 1, &pay(&b, 70)), &mut host), Ok(0));
    assert_eq!(host.storage.get(&bal_key(&b)), Some(&le(70)));
    // a zero transfer from an account never credited stores its zero balance
    host.tx_source = [0xDD; 32];
    assert_eq!(run(&m, &input(0, 1, &pay(&c, 0)), &mut host), Ok(0));
    assert_eq!(host.storage.get(&bal_key(&[0xDD; 32])), Some(&le(0)));

    // balance_of and supply
    assert_eq!(run(&m, &input(0, 2, &b), &mut host), Ok(0));
    assert_eq!(host.return_data, le(70));
    assert_eq!(run(&m, &input(0, 2, &[9; 32]), &mut host), Ok(0));
    assert_eq!(host.return_data, le(0));
    assert_eq!(run(&m, &input(0, 2, &[9; 31]), &mut host), Ok(1));
    assert_eq!(run(&m, &input(0, 3, &[]), &mut host), Ok(0));
    assert_eq!(host.return_data, le(100));
}

fn splitmix_chain(n: u32) -> u64 {
    let mut x: u64 = 0;
    for _ in 0..n {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    x
}

fn primes_below(n: u32) -> u64 {
    (2..n)
        .filter(|k| (2..*k).take_while(|d| d * d <= *k).all(|d| k % d != 0))
        .count() as u64
}

#[test]
fn compute() {
    let m = module("compute");
    for n in [0u32, 1, 2, 1000] {
        let mut host = Host::default();
        assert_eq!(run(&m, &input(0, 0, &n.to_le_bytes()), &mut host), Ok(0));
        assert_eq!(host.return_data, le(splitmix_chain(n)), "hash_chain({n})");
    }
    assert_eq!(
        run(&m, &input(0, 0, &[1, 0, 0]), &mut Host::default()),
        Ok(1)
    );
    for n in [0u32, 1, 2, 3, 100, 1000, 32768] {
        let mut host = Host::default();
        assert_eq!(run(&m, &input(0, 1, &n.to_le_bytes()), &mut host), Ok(0));
        assert_eq!(host.return_data, le(primes_below(n)), "sieve({n})");
    }
    assert_eq!(
        run(
            &m,
            &input(0, 1, &32769u32.to_le_bytes()),
            &mut Host::default()
        ),
        Ok(1)
    );
    assert_eq!(run(&m, &input(0, 1, &[0; 8]), &mut Host::default()), Ok(1));
}
