//! The protocol is data chosen by height: the live syscall table and its digest, gas schedules
//! that re-price costs from a height, deploy gas, and the per-transaction gas cap, on every
//! engine through the real host.

mod common;

use std::collections::BTreeMap;

use common::*;
use tos_engine_api::{Call, ExitStatus, ModuleTag};
use tos_host::{
    ActivationSchedule, BuiltinConfig, ContractModule, DeployRequest, EngineRegistry, Error,
    GasSwitch, Host, InvokeRequest, MemoryProvider, ScheduleError,
};

// Link the extra syscall, whose feature no preset names.
use tos_extra_syscall as _;

/// Every engine configuration: (label, tag, TBPF JIT).
const ENGINES: [(&str, ModuleTag, bool); 4] = [
    ("tbpf-interpreter", ModuleTag::TBPF, false),
    ("tbpf-jit", ModuleTag::TBPF, cfg!(target_arch = "x86_64")),
    ("legacy", ModuleTag::LEGACY, false),
    ("wasm", ModuleTag::WASM, false),
];

fn switch(from: u64, version: u32, set: &[(&str, u64)]) -> GasSwitch {
    GasSwitch {
        from,
        version,
        set: set.iter().map(|(n, g)| ((*n).to_owned(), *g)).collect(),
    }
}

fn call_at(
    host: &Host,
    state: &mut MemoryProvider,
    contract: [u8; 32],
    height: u64,
    gas: u64,
) -> Result<tos_host::CallReport, Error> {
    host.invoke(
        state,
        &tx(height, ALICE),
        &InvokeRequest {
            contract,
            call: Call::Entry(0),
            params: vec![],
            gas_limit: gas,
            deposits: vec![],
        },
    )
}

#[test]
fn a_schedule_naming_an_unknown_feature_or_cost_is_refused_with_the_name() {
    let registry = || EngineRegistry::builtin(&BuiltinConfig::default()).unwrap();
    // Programmatic schedules are checked when the host is built.
    let mut s = ActivationSchedule::devnet();
    s.set_feature("abi_v9", 10);
    let e = Host::new(registry(), s).unwrap_err();
    assert!(matches!(e, ScheduleError::Protocol { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("feature `abi_v9` is declared by no linked syscall"),
        "{e}"
    );
    // A cost nothing declares.
    let mut s = ActivationSchedule::devnet();
    s.set_gas(switch(5, 2, &[("syscall.tos_storage_stor.base", 1)]));
    let e = Host::new(registry(), s).unwrap_err().to_string();
    assert!(
        e.contains("`syscall.tos_storage_stor.base`, a cost no linked syscall or engine declares"),
        "{e}"
    );
    // A cost an engine cannot take: wasm fuel is at most 255 per operator.
    let mut s = ActivationSchedule::devnet();
    s.set_gas(switch(5, 2, &[("wasm.op", 256)]));
    let e = Host::new(registry(), s).unwrap_err().to_string();
    assert!(
        e.contains("engine `wasm`") && e.contains("`wasm.op` = 256"),
        "{e}"
    );
    // Schedule files are checked when they load, with the file's name.
    let e = ActivationSchedule::from_toml_str(
        "network = \"x\"\n[features]\nabi_v1 = 0\ntest_dobule = 3\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`test_dobule`") && e.contains("test_double"),
        "{e}"
    );
}

#[test]
fn a_linked_syscall_adds_nothing_until_the_schedule_names_its_feature() {
    // The devnet preset does not name `test_double`: linking the crate changed nothing.
    let host = host();
    let digest_without = {
        let table = tos_syscalls::SyscallTable::global().unwrap();
        let builtin: Vec<_> = table
            .iter()
            .filter(|d| [tos_syscalls::ABI_V1, tos_syscalls::ABI_V2].contains(&d.feature))
            .collect();
        let only_builtin = tos_syscalls::SyscallTable::from_defs(builtin).unwrap();
        only_builtin.active(host.protocol_at(5).protocol()).digest()
    };
    assert_eq!(host.protocol_at(5).table_digest(), digest_without);
    assert!(
        host.protocol_at(u64::MAX)
            .syscalls()
            .by_name("tos_test_double")
            .is_none()
    );
}

#[test]
fn the_digest_changes_exactly_where_a_feature_or_a_cost_changes() {
    let mut s = ActivationSchedule::devnet();
    s.set_feature(tos_extra_syscall::FEATURE, 10);
    s.set_gas(switch(20, 2, &[("syscall.tos_storage_store.base", 2_500)]));
    s.set_gas(switch(30, 3, &[("wasm.memory_page", 300 - 45)]));
    let host = host_with(s, false);
    let p = |h| {
        let a = host.protocol_at(h);
        (a.table_digest(), a.digest(), a.gas().version())
    };
    assert_eq!(p(0), p(9), "nothing changes below 10");
    assert_ne!(p(9).0, p(10).0, "a feature activates at 10");
    assert_eq!(p(10), p(19));
    assert_ne!(p(19).0, p(20).0, "a syscall is re-priced at 20");
    assert_eq!((p(19).2, p(20).2), (1, 2));
    assert_eq!(p(20), p(29));
    // Re-pricing an engine cost changes the protocol, not the syscall table.
    assert_eq!(p(29).0, p(30).0);
    assert_ne!(p(29).1, p(30).1);
    assert_eq!(p(30).2, 3);
    assert_eq!(p(30), p(u64::MAX));
    assert_eq!(host.protocol_at(25).from(), 20);
    assert_eq!(
        host.protocol_at(25)
            .syscalls()
            .by_name("tos_storage_store")
            .unwrap()
            .cost
            .base,
        2_500
    );
}

#[test]
fn repricing_storage_store_at_h_changes_gas_from_h_on_every_engine() {
    const H: u64 = 100;
    for (label, tag, jit) in ENGINES {
        let mut s = ActivationSchedule::devnet();
        s.set_gas(switch(H, 2, &[("syscall.tos_storage_store.base", 2_500)]));
        let host = host_with(s, jit);
        let mut state = MemoryProvider::default();
        let c = deploy(&host, &mut state, &example(tag, "counter"), 1).address;
        let before = call_at(&host, &mut state, c, H - 1, GAS).unwrap();
        let misses = host.cache().stats().misses;
        let at = call_at(&host, &mut state, c, H, GAS).unwrap();
        assert!(before.is_success() && at.is_success(), "{label}");
        // counter.increment stores once: exactly the re-pricing apart.
        assert_eq!(
            at.outcome.gas_used - before.outcome.gas_used,
            2_500 - 1_000,
            "{label}"
        );
        // The module prepared at H-1 is not reused under H's costs.
        assert_eq!(host.cache().stats().misses, misses + 1, "{label}");
        let again = call_at(&host, &mut state, c, H + 1, GAS).unwrap();
        assert_eq!(again.outcome.gas_used, at.outcome.gas_used, "{label}");
        assert_eq!(
            host.cache().stats().misses,
            misses + 1,
            "{label}: cached at H"
        );
    }
}

#[test]
fn engine_costs_from_the_schedule_reach_code_compiled_under_them() {
    // Costs each engine compiles or bakes into a prepared module: wasm's operator table,
    // legacy's opcode table, TBPF's instruction price. Doubling them from H doubles the
    // execution part of a call's gas; below H nothing changes.
    const H: u64 = 50;
    let cases = [
        (
            "wasm",
            ModuleTag::WASM,
            vec![
                ("wasm.op", 2),
                ("wasm.op.call", 2),
                ("wasm.op.memory", 2),
                ("wasm.op.divide", 2),
            ],
        ),
        ("tbpf", ModuleTag::TBPF, vec![("tbpf.instruction", 2)]),
    ];
    for (label, tag, set) in cases {
        let mut s = ActivationSchedule::devnet();
        s.set_gas(switch(H, 2, &set));
        let host = host_with(s, false);
        let mut state = MemoryProvider::default();
        let c = deploy(&host, &mut state, &example(tag, "counter"), 1).address;
        let before = call_at(&host, &mut state, c, H - 1, GAS).unwrap();
        let at = call_at(&host, &mut state, c, H, GAS).unwrap();
        assert!(before.is_success() && at.is_success(), "{label}");
        assert!(at.outcome.gas_used > before.outcome.gas_used, "{label}");
    }
    // Legacy: re-price one opcode the counter runs (`exit`, once per call).
    let mut s = ActivationSchedule::devnet();
    s.set_gas(switch(H, 2, &[("legacy.op.exit", 101)]));
    let host = host_with(s, false);
    let mut state = MemoryProvider::default();
    let c = deploy(&host, &mut state, &example(ModuleTag::LEGACY, "counter"), 1).address;
    let before = call_at(&host, &mut state, c, H - 1, GAS).unwrap();
    let at = call_at(&host, &mut state, c, H, GAS).unwrap();
    assert_eq!(at.outcome.gas_used - before.outcome.gas_used, 100);
}

#[test]
fn a_deploy_costs_base_plus_per_byte_and_one_it_cannot_pay_stores_and_compiles_nothing() {
    for (label, tag, jit) in ENGINES {
        let host = host_with(ActivationSchedule::devnet(), jit);
        let module = example(tag, "counter");
        let engine = label.split('-').next().unwrap();
        let p = host.protocol_at(1);
        let cost = p.deploy_cost_for(engine, module.code.len());
        let engine_cost = |what| p.gas().get(&format!("{engine}.{what}")).unwrap_or(0);
        let per_byte = 20 + engine_cost("prepare_per_byte");
        assert_eq!(
            cost,
            20_000 + engine_cost("prepare_base") + per_byte * module.code.len() as u64,
            "{label}"
        );
        let mut state = MemoryProvider::default();
        let request = |gas_limit| DeployRequest {
            envelope: module.encode(),
            params: vec![],
            gas_limit,
        };
        let e = host
            .deploy(&mut state, &tx(1, OWNER), &request(cost - 1))
            .unwrap_err();
        assert!(
            matches!(e, Error::DeployGasTooLow { needed, .. } if needed == cost),
            "{label}: {e:?}"
        );
        assert!(
            e.to_string().contains(&format!("{cost} gas a deploy of")),
            "{e}"
        );
        assert_eq!(state, MemoryProvider::default(), "{label}: nothing stored");
        assert_eq!(host.cache().stats().misses, 0, "{label}: nothing compiled");
        // Exactly the deploy's cost: the module is prepared, but its constructor (counter has
        // one) runs out of gas before it starts, so nothing is stored and the limit is charged.
        let d = host
            .deploy(&mut state, &tx(1, OWNER), &request(cost))
            .unwrap();
        assert!(!d.deployed, "{label}");
        assert_eq!(
            d.constructor.unwrap().outcome.status,
            ExitStatus::Trap(tos_engine_api::Trap::OutOfGas)
        );
        assert_eq!(d.gas_used, cost, "{label}");
        assert_eq!(state, MemoryProvider::default(), "{label}");
        // With room for the constructor: deployed, charged deploy + constructor.
        let d = host
            .deploy(&mut state, &tx(1, OWNER), &request(GAS))
            .unwrap();
        assert!(d.deployed, "{label}");
        let ctor = d.constructor.unwrap().outcome.gas_used;
        assert_eq!((d.deploy_gas, d.gas_used), (cost, cost + ctor), "{label}");
    }
}

#[test]
fn a_call_or_deploy_above_the_cap_is_refused_naming_it_on_every_engine() {
    for (label, tag, jit) in ENGINES {
        let host = host_with(ActivationSchedule::devnet(), jit);
        let cap = host.protocol_at(1).max_tx_gas();
        assert_eq!(cap, 100_000_000);
        let mut state = MemoryProvider::default();
        let module = example(tag, "counter");
        let e = host
            .deploy(
                &mut state,
                &tx(1, OWNER),
                &DeployRequest {
                    envelope: module.encode(),
                    params: vec![],
                    gas_limit: cap + 1,
                },
            )
            .unwrap_err();
        assert!(
            matches!(e, Error::GasAboveCap { limit, cap: c } if limit == cap + 1 && c == cap),
            "{label}: {e:?}"
        );
        let c = deploy(&host, &mut state, &module, 1).address;
        let before = state.clone();
        let e = call_at(&host, &mut state, c, 2, u64::MAX).unwrap_err();
        assert!(
            e.to_string().contains("above the cap of 100000000 gas"),
            "{label}: {e}"
        );
        assert_eq!(state, before, "{label}");
        assert!(
            call_at(&host, &mut state, c, 2, cap).unwrap().is_success(),
            "{label}"
        );
    }
}

#[test]
fn an_endless_loop_ends_at_the_cap() {
    // The wasm probe's entry 1 loops forever: with the cap as its limit it ends, out of gas.
    let host = host();
    let mut state = MemoryProvider::default();
    let probe = ContractModule::new(ModuleTag::WASM, read("cli/tests/fixtures/probe.wasm"));
    let c = deploy(&host, &mut state, &probe, 1).address;
    let r = host
        .invoke(
            &mut state,
            &tx(2, ALICE),
            &InvokeRequest {
                contract: c,
                call: Call::Entry(1),
                params: vec![],
                gas_limit: host.protocol_at(2).max_tx_gas(),
                deposits: vec![],
            },
        )
        .unwrap();
    assert_eq!(
        r.outcome.status,
        ExitStatus::Trap(tos_engine_api::Trap::OutOfGas)
    );
    assert_eq!(r.outcome.gas_used, 100_000_000);
}

#[test]
fn the_gas_schedule_of_version_1_is_pinned() {
    // Every cost of version 1, as data: a change to any is a consensus change and shows here
    // and in docs/gas-schedule-v1.txt.
    let host = host();
    let v1: BTreeMap<String, u64> = host
        .protocol_at(0)
        .gas()
        .iter()
        .filter(|(n, _)| !n.starts_with("syscall.tos_test_double."))
        .map(|(n, g)| (n.to_owned(), g))
        .collect();
    let text: String = v1.iter().map(|(n, g)| format!("{n} = {g}\n")).collect();
    if std::env::var_os("TOS_BLESS").is_some() {
        std::fs::write(repo("docs/gas-schedule-v1.txt"), format!("# Gas schedule version 1: every cost, by name (tests/tests/protocol.rs pins it).\n{text}")).unwrap();
        return;
    }
    let pinned = String::from_utf8(read("docs/gas-schedule-v1.txt")).unwrap();
    let pinned: String = pinned
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        text, pinned,
        "gas schedule version 1 changed (TOS_BLESS=1 rewrites the file)"
    );
    assert_eq!(host.protocol_at(0).gas().version(), 1);
}

#[test]
fn a_compressed_module_deploys_as_its_code_and_a_bomb_is_refused_cheaply() {
    for (label, tag, jit) in ENGINES {
        let host = host_with(ActivationSchedule::devnet(), jit);
        let module = example(tag, "counter");
        let (mut plain_state, mut zstd_state) =
            (MemoryProvider::default(), MemoryProvider::default());
        let plain = deploy(&host, &mut plain_state, &module, 1);
        let packed = host
            .deploy(
                &mut zstd_state,
                &tx(1, OWNER),
                &DeployRequest {
                    envelope: module.encode_compressed(),
                    params: vec![],
                    gas_limit: GAS,
                },
            )
            .unwrap();
        // Same address, code hash and gas: priced and stored as the decompressed code.
        assert_eq!(
            (packed.address, packed.code_hash, packed.gas_used),
            (plain.address, plain.code_hash, plain.gas_used),
            "{label}"
        );
        assert_eq!(plain_state, zstd_state, "{label}");
    }
    // 64 MiB of zeros compress to a few KiB; declared as 1 KiB, then as 1 GiB.
    let bomb = ContractModule::new(ModuleTag::WASM, vec![0; 64 << 20]).encode_compressed();
    let host = host();
    for declared in [1024u32, 1 << 30] {
        let mut envelope = bomb.clone();
        envelope[1..5].copy_from_slice(&declared.to_le_bytes());
        let mut state = MemoryProvider::default();
        let t = std::time::Instant::now();
        let e = host
            .deploy(
                &mut state,
                &tx(1, OWNER),
                &DeployRequest {
                    envelope,
                    params: vec![],
                    gas_limit: GAS,
                },
            )
            .unwrap_err();
        assert!(matches!(e, Error::Envelope(_)), "{e:?}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{e}: {:?}",
            t.elapsed()
        );
        assert_eq!(state, MemoryProvider::default());
        assert_eq!(host.cache().stats().misses, 0, "nothing compiled");
    }
}
