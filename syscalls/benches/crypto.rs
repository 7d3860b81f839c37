//! What the ABI v2 crypto syscalls cost the node, to price them: `tos_hash` per byte for each
//! algorithm, and one `tos_ed25519_verify`, through the syscall bodies themselves (the same
//! code every engine runs). docs/GAS.md turns the medians into gas at the reference rate of
//! ordinary compute (0.24 ns per gas).
//!
//! `cargo bench -p tos-syscalls --bench crypto`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use tos_engine_api::{Call, GasMeter, HostAbi, SliceMemory};
use tos_host::testing::{devnet_host, with_call_host};
use tos_host::{MemoryProvider, TxContext};
use tos_syscalls::{SyscallTable, invoke};

fn bench(c: &mut Criterion) {
    // The node's host, in a call of some contract over a state in memory (the crypto syscalls
    // do not ask it anything, but they run where they run on a chain).
    let host = devnet_host();
    let mut state = MemoryProvider::default();
    let tx = TxContext {
        height: 1,
        ..TxContext::default()
    };
    with_call_host(&host, &mut state, &tx, [1; 32], Call::Entry(0), &[], |h| {
        bench_on(c, h)
    })
    .unwrap();
}

fn bench_on(c: &mut Criterion, host: &mut dyn HostAbi) {
    let table = SyscallTable::global().unwrap();
    let live = table.active(&tos_syscalls::testing::abi_v2());
    let hash = live.by_name("tos_hash").unwrap();
    let verify = live.by_name("tos_ed25519_verify").unwrap();

    let mut group = c.benchmark_group("tos_hash");
    for len in [64usize, 1024, 16 * 1024] {
        // data at 0x1000 (len bytes), out at 0x1000 + len.
        let mut mem = vec![7u8; len + 32];
        group.throughput(Throughput::Bytes(len as u64));
        for (algo, name) in [(0u64, "blake3"), (1, "sha256"), (2, "keccak256")] {
            group.bench_function(format!("{name}/{len}"), |b| {
                b.iter(|| {
                    let mut memory = SliceMemory::new(0x1000, &mut mem, true);
                    let mut gas = GasMeter::new(u64::MAX);
                    let args = [algo, 0x1000, len as u64, 0x1000 + len as u64, 0];
                    invoke(hash, host, &mut memory, &mut gas, black_box(args)).unwrap()
                })
            });
        }
    }
    group.finish();

    let key = SigningKey::from_bytes(&[42; 32]);
    let msg = [9u8; 64];
    let sig = key.sign(&msg).to_bytes();
    // pubkey at 0x1000, msg at 0x1020 (64 bytes), sig at 0x1060.
    let mut mem = [key.verifying_key().to_bytes().as_slice(), &msg, &sig].concat();
    c.bench_function("tos_ed25519_verify/64", |b| {
        b.iter(|| {
            let mut memory = SliceMemory::new(0x1000, &mut mem, false);
            let mut gas = GasMeter::new(u64::MAX);
            let args = [0x1000, 0x1020, 64, 0x1060, 0];
            let r = invoke(verify, host, &mut memory, &mut gas, black_box(args)).unwrap();
            assert_eq!(r, 0);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
