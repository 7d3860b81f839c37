//! Syscall bodies against a guest memory and the real host (`tos_host::testing`): gas first,
//! bounds, limits, results.

use tos_engine_api::{Access, Call, GasMeter, Hash, HostAbi, MemoryError, SliceMemory};
use tos_host::testing::{devnet_host, with_call_host};
use tos_host::{CallFrame, Event, Host, MemoryProvider, TxContext};
use tos_syscalls::limits::*;
use tos_syscalls::{SyscallError, SyscallTable, invoke};

const BASE: u64 = 0x1000;

/// One contract on the real host, over a state in memory that outlives each session.
struct Chain {
    host: Host,
    state: MemoryProvider,
    tx: TxContext,
    contract: Hash,
    call: Call,
    params: Vec<u8>,
}

impl Chain {
    /// Contract `[1; 32]` called at entry 0 without params, at height 1.
    fn new() -> Self {
        Chain {
            host: devnet_host(),
            state: MemoryProvider::default(),
            tx: TxContext {
                height: 1,
                ..TxContext::default()
            },
            contract: [1; 32],
            call: Call::Entry(0),
            params: Vec::new(),
        }
    }

    /// Runs `f` with the host interface of a call of the contract; what `f` staged through it
    /// is then in `self.state`. Returns `f`'s result and the frame (events, logs, return data).
    fn session<R>(&mut self, f: impl FnOnce(&mut dyn HostAbi) -> R) -> (R, CallFrame) {
        with_call_host(
            &self.host,
            &mut self.state,
            &self.tx,
            self.contract,
            self.call,
            &self.params,
            f,
        )
        .unwrap()
    }

    /// The contract's stored value under `key`.
    fn stored(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.state.storage.get(&(self.contract, key.to_vec()))
    }
}

/// Runs syscall `name` with `args` over `mem` (writable, mapped at BASE).
fn call(
    name: &str,
    host: &mut dyn HostAbi,
    mem: &mut [u8],
    gas: &mut GasMeter,
    args: [u64; 5],
) -> Result<u64, SyscallError> {
    let live = SyscallTable::global()
        .unwrap()
        .active(&tos_syscalls::testing::abi_v1());
    let syscall = live.by_name(name).unwrap();
    let mut memory = SliceMemory::new(BASE, mem, true);
    invoke(syscall, host, &mut memory, gas, args)
}

fn cost(name: &str, bytes: u64) -> u64 {
    SyscallTable::global()
        .unwrap()
        .by_name(name)
        .unwrap()
        .cost
        .charge(bytes)
}

#[test]
fn storage_round_trip_with_per_byte_gas() {
    let mut chain = Chain::new();
    let mut mem = vec![0u8; 64];
    mem[..3].copy_from_slice(b"key");
    mem[3..8].copy_from_slice(b"value");
    let mut gas = GasMeter::new(1_000_000);
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_storage_store",
                host,
                &mut mem,
                &mut gas,
                [BASE, 3, BASE + 3, 5, 0]
            ),
            Ok(0)
        );
    });
    assert_eq!(gas.used(), cost("tos_storage_store", 8));
    assert_eq!(chain.stored(b"key"), Some(&b"value".to_vec()));

    chain.session(|host| {
        let before = gas.used();
        // Load into a 2-byte buffer: full length returned, two bytes copied, the whole value
        // (which the host read) charged.
        assert_eq!(
            call(
                "tos_storage_load",
                host,
                &mut mem,
                &mut gas,
                [BASE, 3, BASE + 32, 2, 0]
            ),
            Ok(5)
        );
        assert_eq!(&mem[32..35], b"va\0");
        assert_eq!(gas.used() - before, cost("tos_storage_load", 3 + 5));
        assert_eq!(
            call(
                "tos_storage_load",
                host,
                &mut mem,
                &mut gas,
                [BASE + 1, 2, BASE + 32, 8, 0]
            ),
            Ok(u64::MAX)
        );
        // Deleting charges the key and the value the host reads; an absent key only the key.
        let before = gas.used();
        assert_eq!(
            call(
                "tos_storage_delete",
                host,
                &mut mem,
                &mut gas,
                [BASE, 3, 0, 0, 0]
            ),
            Ok(1)
        );
        assert_eq!(gas.used() - before, cost("tos_storage_delete", 3 + 5));
        let before = gas.used();
        assert_eq!(
            call(
                "tos_storage_delete",
                host,
                &mut mem,
                &mut gas,
                [BASE, 3, 0, 0, 0]
            ),
            Ok(0)
        );
        assert_eq!(gas.used() - before, cost("tos_storage_delete", 3));
    });
    assert_eq!(chain.stored(b"key"), None);
}

/// The review's bullets: a cap of 0 must not buy a 64 KiB copy for the base cost.
#[test]
fn bytes_the_host_hands_over_are_charged_whatever_the_cap() {
    // tos_get_input with cap 0 on a 64 KiB input: nothing copied, nothing but the base charged.
    let mut chain = Chain::new();
    let input_len = 64 * 1024;
    chain.params = vec![7u8; input_len - tos_engine_api::INPUT_HEADER_LEN];
    let mut mem = vec![0u8; 64];
    let mut gas = GasMeter::new(1_000_000);
    chain.session(|host| {
        assert_eq!(host.input().len(), input_len);
        assert_eq!(
            call(
                "tos_get_input",
                host,
                &mut mem,
                &mut gas,
                [BASE, 0, 0, 0, 0]
            ),
            Ok(input_len as u64)
        );
    });
    assert_eq!(gas.used(), cost("tos_get_input", 0));
    assert_eq!(mem, vec![0u8; 64], "nothing copied");

    // tos_storage_load with cap 0 of a 64 KiB value: the value's bytes are charged.
    let mut chain = Chain::new();
    chain.state.storage.insert(
        (chain.contract, b"k".to_vec()),
        vec![1u8; MAX_VALUE_LEN as usize],
    );
    mem[0] = b'k';
    let mut gas = GasMeter::new(1_000_000);
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_storage_load",
                host,
                &mut mem,
                &mut gas,
                [BASE, 1, BASE + 8, 0, 0]
            ),
            Ok(MAX_VALUE_LEN)
        );
    });
    assert_eq!(gas.used(), cost("tos_storage_load", 1 + MAX_VALUE_LEN));
    assert!(mem[8..].iter().all(|b| *b == 0), "nothing copied");

    // Too little gas for the value: out of gas, nothing written, and the value stays (delete).
    chain.session(|host| {
        let mut gas = GasMeter::new(cost("tos_storage_load", 1) + 100);
        assert_eq!(
            call(
                "tos_storage_load",
                host,
                &mut mem,
                &mut gas,
                [BASE, 1, BASE + 8, 8, 0]
            ),
            Err(SyscallError::OutOfGas)
        );
        assert!(mem[8..].iter().all(|b| *b == 0), "nothing copied");
        let mut gas = GasMeter::new(cost("tos_storage_delete", 1) + 100);
        assert_eq!(
            call(
                "tos_storage_delete",
                host,
                &mut mem,
                &mut gas,
                [BASE, 1, 0, 0, 0]
            ),
            Err(SyscallError::OutOfGas)
        );
    });
    assert!(chain.stored(b"k").is_some(), "not deleted unpaid");
    let mut gas = GasMeter::new(1_000_000);
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_storage_delete",
                host,
                &mut mem,
                &mut gas,
                [BASE, 1, 0, 0, 0]
            ),
            Ok(1)
        );
    });
    assert_eq!(gas.used(), cost("tos_storage_delete", 1 + MAX_VALUE_LEN));
    assert!(chain.stored(b"k").is_none());
}

#[test]
fn gas_is_charged_before_the_work() {
    let mut chain = Chain::new();
    let mut mem = vec![1u8; 64];
    // Enough for the base cost but not for the bytes: nothing may be stored.
    let mut gas = GasMeter::new(cost("tos_storage_store", 0) + 10);
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_storage_store",
                host,
                &mut mem,
                &mut gas,
                [BASE, 8, BASE, 8, 0]
            ),
            Err(SyscallError::OutOfGas)
        );
    });
    assert!(chain.state.storage.is_empty());
    assert_eq!(gas.remaining(), 0);
}

#[test]
fn limits_are_enforced_before_reading() {
    let mut chain = Chain::new();
    let mut mem = vec![0u8; 16];
    let mut gas = GasMeter::new(u64::MAX);
    chain.session(|host| {
        let e = call(
            "tos_storage_store",
            host,
            &mut mem,
            &mut gas,
            [BASE, MAX_KEY_LEN + 1, BASE, 1, 0],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("storage key of 257 bytes exceeds the limit of 256"),
            "{e}"
        );
        let e = call(
            "tos_storage_store",
            host,
            &mut mem,
            &mut gas,
            [BASE, 1, BASE, MAX_VALUE_LEN + 1, 0],
        )
        .unwrap_err();
        assert!(e.to_string().contains("storage value"), "{e}");
        let e = call(
            "tos_log",
            host,
            &mut mem,
            &mut gas,
            [BASE, MAX_LOG_LEN + 1, 0, 0, 0],
        )
        .unwrap_err();
        assert!(e.to_string().contains("log message"), "{e}");
        let e = call(
            "tos_fire_event",
            host,
            &mut mem,
            &mut gas,
            [1, BASE, MAX_EVENT_DATA_LEN + 1, 0, 0],
        )
        .unwrap_err();
        assert!(e.to_string().contains("event data"), "{e}");
        let e = call(
            "tos_asset_create",
            host,
            &mut mem,
            &mut gas,
            [BASE, 4, MAX_ASSET_DECIMALS + 1, BASE, 0],
        )
        .unwrap_err();
        assert!(e.to_string().contains("decimals"), "{e}");
    });
}

#[test]
fn bad_pointers_are_memory_errors() {
    let mut chain = Chain::new();
    let mut mem = vec![0u8; 16];
    let mut gas = GasMeter::new(1_000_000);
    let ((), frame) = chain.session(|host| {
        assert_eq!(
            call(
                "tos_log",
                host,
                &mut mem,
                &mut gas,
                [BASE + 10, 10, 0, 0, 0]
            ),
            Err(SyscallError::Memory(MemoryError {
                addr: BASE + 10,
                len: 10,
                access: Access::Read
            }))
        );
        assert_eq!(
            call(
                "tos_get_tx_source",
                host,
                &mut mem,
                &mut gas,
                [BASE, 0, 0, 0, 0]
            ),
            Err(SyscallError::Memory(MemoryError {
                addr: BASE,
                len: 32,
                access: Access::Write
            }))
        );
    });
    assert!(frame.all_logs().is_empty());
}

#[test]
fn input_and_context_syscalls() {
    let mut chain = Chain::new();
    chain.call = Call::Entry(1);
    chain.params = vec![0xAB, 0xCD];
    chain.tx.height = 77;
    chain.tx.source = [9; 32];
    let mut mem = vec![0u8; 64];
    let mut gas = GasMeter::new(1_000_000);
    chain.session(|host| {
        assert_eq!(host.input(), [0, 0, 1, 0, 2, 0, 0, 0, 0xAB, 0xCD]);
        assert_eq!(
            call(
                "tos_get_input",
                host,
                &mut mem,
                &mut gas,
                [BASE, 4, 0, 0, 0]
            ),
            Ok(10)
        );
        assert_eq!(&mem[..5], &[0, 0, 1, 0, 0]);
        assert_eq!(
            call("tos_get_block_height", host, &mut mem, &mut gas, [0; 5]),
            Ok(77)
        );
        assert_eq!(
            call(
                "tos_get_tx_source",
                host,
                &mut mem,
                &mut gas,
                [BASE + 32, 0, 0, 0, 0]
            ),
            Ok(0)
        );
    });
    assert_eq!(&mem[32..], &[9; 32]);
}

#[test]
fn balances_transfer_burn_and_assets() {
    let mut chain = Chain::new();
    let me = chain.contract;
    assert_eq!(me, [1; 32]);
    let native = tos_engine_api::NATIVE_ASSET;
    assert_eq!(native, [0; 32]);
    let mut mem = vec![0u8; 128];
    mem[32..64].copy_from_slice(&[2; 32]); // receiver at BASE+32; asset 0 at BASE
    mem[96..100].copy_from_slice(b"GOLD");
    let mut gas = GasMeter::new(10_000_000);
    // No balance: transfer reports 1 and moves nothing.
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_transfer",
                host,
                &mut mem,
                &mut gas,
                [BASE + 32, 5, BASE, 0, 0]
            ),
            Ok(1)
        );
    });
    assert_eq!(chain.state.balances.get(&([2; 32], native)), None);
    chain.state.balances.insert((me, native), 10);
    let ((), frame) = chain.session(|host| {
        assert_eq!(
            call(
                "tos_transfer",
                host,
                &mut mem,
                &mut gas,
                [BASE + 32, 4, BASE, 0, 0]
            ),
            Ok(0)
        );
    });
    assert_eq!(chain.state.balances[&([2; 32], native)], 4);
    assert_eq!(chain.state.balances[&(me, native)], 6);
    assert_eq!(frame.kept_transfers().len(), 1);
    chain.session(|host| {
        assert_eq!(
            call("tos_burn", host, &mut mem, &mut gas, [BASE, 7, 0, 0, 0]),
            Ok(1)
        );
        assert_eq!(
            call("tos_burn", host, &mut mem, &mut gas, [BASE, 6, 0, 0, 0]),
            Ok(0)
        );
        assert_eq!(
            call(
                "tos_get_balance",
                host,
                &mut mem,
                &mut gas,
                [BASE, BASE + 64, 0, 0, 0]
            ),
            Ok(0)
        );
    });
    assert_eq!(&mem[64..72], &0u64.to_le_bytes());
    assert_eq!(chain.state.balances[&(me, native)], 0);
    // Create an asset (id written to BASE+64), then mint it, then create again -> 1.
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_asset_create",
                host,
                &mut mem,
                &mut gas,
                [BASE + 96, 4, 8, BASE + 64, 0]
            ),
            Ok(0)
        );
        assert_eq!(
            call(
                "tos_asset_mint",
                host,
                &mut mem,
                &mut gas,
                [BASE + 64, 1000, 0, 0, 0]
            ),
            Ok(0)
        );
    });
    let id: [u8; 32] = mem[64..96].try_into().unwrap();
    assert_eq!(id, tos_host::asset_id(&me, b"GOLD"));
    assert_eq!(chain.state.balances[&(me, id)], 1000);
    let asset = &chain.state.assets[&id];
    assert_eq!(
        (asset.creator, &asset.name[..], asset.decimals, asset.supply),
        (me, &b"GOLD"[..], 8, 1000)
    );
    chain.session(|host| {
        assert_eq!(
            call(
                "tos_asset_create",
                host,
                &mut mem,
                &mut gas,
                [BASE + 96, 4, 8, BASE + 64, 0]
            ),
            Ok(1)
        );
        assert_eq!(
            call(
                "tos_asset_mint",
                host,
                &mut mem,
                &mut gas,
                [BASE + 64, u64::MAX, 0, 0, 0]
            ),
            Ok(1)
        );
        // Burning an asset lowers the holder's balance and the asset's supply.
        assert_eq!(
            call(
                "tos_burn",
                host,
                &mut mem,
                &mut gas,
                [BASE + 64, 300, 0, 0, 0]
            ),
            Ok(0)
        );
    });
    assert_eq!(chain.state.balances[&(me, id)], 700);
    assert_eq!(chain.state.assets[&id].supply, 700);
}

#[test]
fn events_logs_and_return_data_reach_the_host() {
    let mut chain = Chain::new();
    let mut mem = b"abcdef".to_vec();
    let mut gas = GasMeter::new(1_000_000);
    let ((), frame) = chain.session(|host| {
        assert_eq!(
            call(
                "tos_fire_event",
                host,
                &mut mem,
                &mut gas,
                [42, BASE, 3, 0, 0]
            ),
            Ok(0)
        );
        assert_eq!(
            call("tos_log", host, &mut mem, &mut gas, [BASE + 3, 3, 0, 0, 0]),
            Ok(0)
        );
        assert_eq!(
            call(
                "tos_set_return_data",
                host,
                &mut mem,
                &mut gas,
                [BASE + 1, 2, 0, 0, 0]
            ),
            Ok(0)
        );
    });
    assert_eq!(
        frame.kept_events(),
        vec![Event {
            contract: chain.contract,
            id: 42,
            data: b"abc".to_vec()
        }]
    );
    assert_eq!(frame.all_logs(), vec![b"def".to_vec()]);
    assert_eq!(frame.outcome.return_data, b"bc");
    let ((), frame) = chain.session(|host| {
        for _ in 0..MAX_EVENTS_PER_CALL {
            call(
                "tos_fire_event",
                host,
                &mut mem,
                &mut gas,
                [1, BASE, 0, 0, 0],
            )
            .unwrap();
        }
        let e = call(
            "tos_fire_event",
            host,
            &mut mem,
            &mut gas,
            [1, BASE, 0, 0, 0],
        )
        .unwrap_err();
        let trap = e.into_trap("tos_fire_event", "test").unwrap();
        assert!(
            trap.to_string().contains("events per call limit of 64"),
            "{trap}"
        );
    });
    assert_eq!(frame.kept_events().len() as u64, MAX_EVENTS_PER_CALL);
}
