//! The host with real engines and real example contracts: activation, sunset, journal,
//! gas, cache, deposits.

mod common;

use common::*;
use tos_engine_api::{Call, ExitStatus, ModuleTag, NATIVE_ASSET, Trap};
use tos_host::{
    ActivationError, ActivationSchedule, DeployRequest, Error, INTRINSIC_GAS, InvokeRequest,
    MemoryProvider,
};

fn schedule(text: &str) -> ActivationSchedule {
    ActivationSchedule::from_toml_str(text).unwrap()
}

const LOCAL: &str = r#"
    network = "local"
    [engines.tbpf]
    deploy_from = 100
    versions = [{ from = 0, version = 1 }]
    [engines.legacy]
    deploy_from = 0
    deploy_until = 50
    versions = [{ from = 0, version = 1 }]
    [features]
    abi_v1 = 0
"#;

#[test]
fn a_deploy_below_its_tags_activation_height_is_refused_naming_the_height() {
    let host = host_with(schedule(LOCAL), false);
    let mut state = MemoryProvider::default();
    let module = example(ModuleTag::TBPF, "counter");
    let req = DeployRequest {
        envelope: module.encode(),
        params: vec![],
        gas_limit: GAS,
    };
    let e = host.deploy(&mut state, &tx(99, OWNER), &req).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Activation(ActivationError::NotYetActive {
                from: 100,
                height: 99,
                ..
            })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("from height 100"), "{e}");
    assert!(state.contracts.is_empty());
    assert!(
        host.deploy(&mut state, &tx(100, OWNER), &req)
            .unwrap()
            .deployed
    );
}

#[test]
fn after_the_legacy_sunset_deploys_are_refused_and_old_contracts_still_run() {
    let host = host_with(schedule(LOCAL), false);
    let mut state = MemoryProvider::default();
    let counter = example(ModuleTag::LEGACY, "counter");
    let c = deploy(&host, &mut state, &counter, 49).address;
    let token = example(ModuleTag::LEGACY, "token");
    let req = DeployRequest {
        envelope: token.encode(),
        params: vec![],
        gas_limit: GAS,
    };
    let e = host.deploy(&mut state, &tx(50, OWNER), &req).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Activation(ActivationError::Sunset { since: 50, .. })
        ),
        "{e:?}"
    );
    // The invoke helper runs at height 10; run at a height far past the sunset instead.
    let r = host
        .invoke(
            &mut state,
            &tx(5_000, ALICE),
            &InvokeRequest {
                contract: c,
                call: Call::Entry(0),
                params: vec![],
                gas_limit: GAS,
                deposits: vec![],
            },
        )
        .unwrap();
    assert!(r.is_success(), "{:?}", r.outcome);
    assert_eq!(u64_le(&r.outcome.return_data), 1);
}

#[test]
fn a_failing_call_leaves_the_state_untouched_and_charges_gas() {
    let host = host();
    let mut state = MemoryProvider::default();
    let t = deploy(&host, &mut state, &example(ModuleTag::TBPF, "token"), 1).address;
    assert!(
        invoke(
            &host,
            &mut state,
            t,
            OWNER,
            Call::Entry(0),
            &to_amount(&ALICE, 10)
        )
        .is_success()
    );
    let before = state.clone();
    let r = invoke(
        &host,
        &mut state,
        t,
        ALICE,
        Call::Entry(1),
        &to_amount(&BOB, 11),
    );
    assert_eq!(r.outcome.status, ExitStatus::Exit(3));
    assert!(
        r.outcome.gas_used > INTRINSIC_GAS,
        "gas is charged: {}",
        r.outcome.gas_used
    );
    assert!(r.events.is_empty());
    assert_eq!(state, before, "nothing changed");
}

#[test]
fn running_out_of_gas_charges_the_limit_and_changes_nothing() {
    let host = host();
    let mut state = MemoryProvider::default();
    for tag in [ModuleTag::TBPF, ModuleTag::LEGACY, ModuleTag::WASM] {
        let c = deploy(&host, &mut state, &example(tag, "counter"), 1).address;
        let before = state.clone();
        // Enough to start, not enough to finish a storage write.
        let limit = INTRINSIC_GAS + 600;
        let r = invoke_gas(&host, &mut state, c, ALICE, Call::Entry(0), &[], limit);
        assert_eq!(r.outcome.status, ExitStatus::Trap(Trap::OutOfGas), "{tag}");
        assert_eq!(r.outcome.gas_used, limit, "{tag}");
        assert_eq!(state, before, "{tag}");
    }
}

#[test]
fn a_call_to_a_missing_entry_is_refused_without_running() {
    let host = host();
    let mut state = MemoryProvider::default();
    for tag in [ModuleTag::TBPF, ModuleTag::LEGACY, ModuleTag::WASM] {
        let c = deploy(&host, &mut state, &example(tag, "counter"), 1).address;
        let r = invoke(&host, &mut state, c, ALICE, Call::Entry(77), &[]);
        assert_eq!(
            r.outcome.status,
            ExitStatus::Trap(Trap::UnknownEntry(Call::Entry(77))),
            "{tag}"
        );
        assert_eq!(r.outcome.gas_used, INTRINSIC_GAS, "{tag}: nothing executed");
        let r = invoke(&host, &mut state, c, ALICE, Call::Hook(5), &[]);
        assert_eq!(
            r.outcome.status,
            ExitStatus::Trap(Trap::UnknownEntry(Call::Hook(5))),
            "{tag}"
        );
    }
}

#[test]
fn warm_calls_use_the_prepared_module_cache() {
    let host = host();
    let mut state = MemoryProvider::default();
    let c = deploy(&host, &mut state, &example(ModuleTag::TBPF, "counter"), 1).address;
    let misses = host.cache().stats().misses;
    for _ in 0..5 {
        assert!(invoke(&host, &mut state, c, ALICE, Call::Entry(0), &[]).is_success());
    }
    let stats = host.cache().stats();
    assert_eq!(stats.misses, misses, "no call prepared the module again");
    assert!(stats.hits >= 5);
}

#[test]
fn deposits_are_credited_only_when_the_call_succeeds() {
    let host = host();
    let mut state = MemoryProvider::default();
    let t = deploy(&host, &mut state, &example(ModuleTag::TBPF, "token"), 1).address;
    let call = |params: Vec<u8>| InvokeRequest {
        contract: t,
        call: Call::Entry(1),
        params,
        gas_limit: GAS,
        deposits: vec![(NATIVE_ASSET, 500)],
    };
    // A failing call: the deposit is not credited.
    let r = host
        .invoke(&mut state, &tx(2, ALICE), &call(to_amount(&BOB, 1)))
        .unwrap();
    assert_eq!(r.outcome.status, ExitStatus::Exit(3));
    assert_eq!(state.balances.get(&(t, NATIVE_ASSET)), None);
    // A succeeding call (a zero transfer): the deposit is credited.
    let r = host
        .invoke(&mut state, &tx(3, ALICE), &call(to_amount(&BOB, 0)))
        .unwrap();
    assert!(r.is_success(), "{:?}", r.outcome);
    assert_eq!(state.balances.get(&(t, NATIVE_ASSET)), Some(&500));
}

#[test]
fn refusals_before_execution_are_errors_naming_the_problem() {
    let host = host();
    let mut state = MemoryProvider::default();
    let counter = example(ModuleTag::TBPF, "counter");
    let c = deploy(&host, &mut state, &counter, 1).address;
    let req = DeployRequest {
        envelope: counter.encode(),
        params: vec![],
        gas_limit: GAS,
    };
    assert!(
        matches!(host.deploy(&mut state, &tx(2, OWNER), &req), Err(Error::ContractExists(a)) if a == c)
    );
    let e = host
        .invoke(
            &mut state,
            &tx(2, ALICE),
            &InvokeRequest {
                contract: [9; 32],
                call: Call::Entry(0),
                params: vec![],
                gas_limit: GAS,
                deposits: vec![],
            },
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("no contract at 0909"), "{e}");
    let e = host
        .invoke(
            &mut state,
            &tx(2, ALICE),
            &InvokeRequest {
                contract: c,
                call: Call::Entry(0),
                params: vec![],
                gas_limit: INTRINSIC_GAS - 1,
                deposits: vec![],
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::GasTooLow { .. }), "{e}");
    // The constructor ran at deploy; nobody may run it again.
    let e = host
        .invoke(
            &mut state,
            &tx(2, OWNER),
            &InvokeRequest {
                contract: c,
                call: Call::CONSTRUCTOR,
                params: vec![],
                gas_limit: GAS,
                deposits: vec![],
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::ConstructorCall), "{e}");
    // Garbage code under a valid tag never reaches the state.
    let bad = tos_host::ContractModule::new(ModuleTag::TBPF, b"not an elf".to_vec());
    let e = host
        .deploy(
            &mut state,
            &tx(3, OWNER),
            &DeployRequest {
                envelope: bad.encode(),
                params: vec![],
                gas_limit: GAS,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Load {
                tag: ModuleTag::TBPF,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(state.contracts.len(), 1);
}

#[test]
fn an_engine_version_switch_serves_the_old_configuration_below_its_height_and_the_new_from_it() {
    use std::sync::Arc;
    use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
    use tos_host::{EngineRegistry, Host};

    // Version 1 is the default configuration; the new one has a smaller heap (16 KiB).
    let old = TbpfEngine::new(TbpfConfig::default()).unwrap();
    let mut small_heap = TbpfConfig::default();
    small_heap.set_heap_size(16 * 1024);
    let new = TbpfEngine::new(small_heap).unwrap();
    let new_version = tos_engine_api::ExecutionEngine::version(&new);
    assert_ne!(new_version, 1);
    let mut registry = EngineRegistry::empty();
    registry
        .register(Arc::new(old))
        .unwrap()
        .register(Arc::new(new))
        .unwrap();
    let schedule = schedule(&format!(
        "network = \"switch\"\n[engines.tbpf]\ndeploy_from = 0\nversions = [{{ from = 0, version = 1 }}, {{ from = 200, version = {new_version} }}]\n[features]\nabi_v1 = 0"
    ));
    let host = Host::new(registry, schedule).unwrap();
    let mut state = MemoryProvider::default();
    let c = deploy(&host, &mut state, &example(ModuleTag::TBPF, "compute"), 1).address;
    // The sieve of 32768 needs 32 KiB of heap.
    let sieve = |height| {
        host.invoke(
            &mut state.clone(),
            &tx(height, ALICE),
            &InvokeRequest {
                contract: c,
                call: Call::Entry(1),
                params: 32768u32.to_le_bytes().to_vec(),
                gas_limit: 100_000_000,
                deposits: vec![],
            },
        )
        .unwrap()
    };
    let below = sieve(199);
    assert_eq!(below.engine_version, 1);
    assert!(below.is_success(), "{:?}", below.outcome);
    assert_eq!(
        u64_le(&below.outcome.return_data),
        3512,
        "primes below 32768"
    );
    let at = sieve(200);
    assert_eq!(at.engine_version, new_version);
    assert!(
        matches!(
            at.outcome.status,
            ExitStatus::Trap(Trap::MemoryAccess { .. })
        ),
        "the 16 KiB heap cannot hold the sieve: {:?}",
        at.outcome.status
    );
}

#[test]
fn a_failing_constructor_stores_nothing_and_charges_its_gas() {
    let host = host();
    let mut state = MemoryProvider::default();
    let code = tos_engine_legacy::assemble(
        ".const key b\"k\"\n.const v b\"v\"\n\
         .chunk init args=1\n    const key\n    const v\n    syscall tos_storage_store\n    pop\n    imm 7\n    exit\n\
         .chunk noop args=1\n    imm 0\n    exit\n\
         .hook 0 init\n.entry 0 noop\n",
    )
    .unwrap();
    let module = tos_host::ContractModule::new(ModuleTag::LEGACY, code.to_bytes().unwrap());
    let d = deploy(&host, &mut state, &module, 1);
    assert!(!d.deployed);
    let ctor = d.constructor.expect("hook 0 ran");
    assert_eq!(ctor.outcome.status, ExitStatus::Exit(7));
    assert!(ctor.outcome.gas_used > INTRINSIC_GAS);
    assert_eq!(
        d.deploy_gas,
        host.protocol_at(1)
            .deploy_cost_for("legacy", module.code.len())
    );
    assert_eq!(d.gas_used, d.deploy_gas + ctor.outcome.gas_used);
    assert_eq!(
        state,
        MemoryProvider::default(),
        "neither the module nor its write was stored"
    );
    let e = host
        .invoke(
            &mut state,
            &tx(2, ALICE),
            &InvokeRequest {
                contract: d.address,
                call: Call::Entry(0),
                params: vec![],
                gas_limit: GAS,
                deposits: vec![],
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::UnknownContract(_)), "{e}");
}

#[test]
fn the_wasm_engine_comes_from_the_plug_in_registry_and_the_host_never_names_it() {
    let manifest = std::fs::read_to_string(repo("host/Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("engine-wasm"),
        "host must not depend on engine-wasm"
    );
    let api = std::fs::read_to_string(repo("engine-api/Cargo.toml")).unwrap();
    assert!(!api.contains("engine-wasm"));
    let host = host();
    let engines: Vec<_> = host.registry().engines().collect();
    let wasm = engines
        .iter()
        .find(|e| e.tag == ModuleTag::WASM)
        .expect("wasm engine registered");
    assert_eq!(wasm.origin, tos_host::EngineOrigin::Plugin);
    assert_eq!(wasm.name, "wasm");
    for builtin in [ModuleTag::LEGACY, ModuleTag::TBPF] {
        let e = engines.iter().find(|e| e.tag == builtin).unwrap();
        assert_eq!(e.origin, tos_host::EngineOrigin::Builtin, "{builtin}");
    }
}

/// An engine whose node-side preparation fails: the only way to reach that path, since the
/// real engines fail only on a broken node.
struct BrokenNodeEngine;

impl tos_engine_api::ExecutionEngine for BrokenNodeEngine {
    fn name(&self) -> &'static str {
        "broken-node"
    }
    fn tag(&self) -> ModuleTag {
        ModuleTag::WASM
    }
    fn version(&self) -> u32 {
        7
    }
    fn prepare(
        &self,
        _code: &[u8],
        _protocol: &tos_engine_api::Protocol,
    ) -> Result<std::sync::Arc<dyn tos_engine_api::PreparedModule>, tos_engine_api::LoadError> {
        Err(tos_engine_api::LoadError::Fault(
            tos_engine_api::EngineFault::new("broken-node", "out of executable memory"),
        ))
    }
}

#[test]
fn a_node_fault_while_preparing_is_a_fault_not_a_refusal_of_the_module() {
    let mut registry = tos_host::EngineRegistry::empty();
    registry
        .register(std::sync::Arc::new(BrokenNodeEngine))
        .unwrap();
    let host = tos_host::Host::new(
        registry,
        schedule(
            "network = \"n\"\n[engines.wasm]\ndeploy_from = 0\nversions = [{ from = 0, version = 7 }]",
        ),
    )
    .unwrap();
    let mut state = MemoryProvider::default();
    let module = example(ModuleTag::WASM, "counter");
    let req = DeployRequest {
        envelope: module.encode(),
        params: vec![],
        gas_limit: GAS,
    };
    let e = host.deploy(&mut state, &tx(1, OWNER), &req).unwrap_err();
    assert!(matches!(e, Error::Fault(_)), "{e:?}");
    assert!(e.to_string().contains("out of executable memory"), "{e}");
}
