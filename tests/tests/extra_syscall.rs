//! A syscall defined in another crate joins the one table through `inventory::submit!` alone.

use tos_engine_api::{FeatureSet, Protocol};
use tos_syscalls::{SyscallTable, murmur3_32};

// Linking the crate is the whole registration.
use tos_extra_syscall as _;

#[test]
fn a_syscall_from_another_crate_joins_the_table() {
    let table = SyscallTable::global().unwrap();
    let def = table
        .by_name("tos_test_double")
        .expect("registered by tos-extra-syscall");
    assert_eq!(def.id, murmur3_32(b"tos_test_double", 0));
    assert_eq!(table.len(), 26, "17 ABI v1 syscalls, 8 of ABI v2, + 1");
    assert_eq!(def.feature, tos_extra_syscall::FEATURE);
    // It is gated: live only where its feature is.
    let v1 = tos_syscalls::testing::abi_v1();
    assert!(table.active(&v1).by_name("tos_test_double").is_none());
    assert_eq!(table.active(&v1).len(), 17);
    let features: FeatureSet = [tos_syscalls::ABI_V1, tos_extra_syscall::FEATURE]
        .into_iter()
        .collect();
    let live = table.active(&Protocol::from(features));
    assert!(live.by_name("tos_test_double").is_some());
    assert_eq!(live.len(), 18);
    // Linking it changes nothing where its feature is not live: same table, same digest.
    assert_eq!(table.active(&v1).digest(), {
        let builtin: Vec<_> = table
            .iter()
            .filter(|d| d.feature == tos_syscalls::ABI_V1)
            .collect();
        SyscallTable::from_defs(builtin)
            .unwrap()
            .active(&v1)
            .digest()
    });
}

mod common;

use common::*;
use tos_engine_api::{Call, ExitStatus, LoadError, ModuleTag};
use tos_host::{ActivationSchedule, ContractModule, DeployRequest, Error, MemoryProvider};

/// Devnet, with the extra syscall's feature live from height 5.
fn schedule() -> ActivationSchedule {
    let mut s = ActivationSchedule::devnet();
    s.set_feature(tos_extra_syscall::FEATURE, 5);
    s
}

/// Deploys at `height` and calls entry 0: `tos_test_double(21)` as the exit code.
fn deploy_and_call(module: &ContractModule, height: u64) -> Result<ExitStatus, Error> {
    let host = host_with(schedule(), false);
    let mut state = MemoryProvider::default();
    let req = DeployRequest {
        envelope: module.encode(),
        params: vec![],
        gas_limit: GAS,
    };
    let d = host.deploy(&mut state, &tx(height, OWNER), &req)?;
    assert!(d.deployed);
    Ok(
        invoke(&host, &mut state, d.address, ALICE, Call::Entry(0), &[])
            .outcome
            .status,
    )
}

#[test]
fn a_syscall_from_another_crate_runs_on_every_engine_once_its_feature_is_active() {
    let legacy = tos_engine_legacy::assemble(
        ".chunk main args=1\n    imm 21\n    syscall tos_test_double\n    exit\n.entry 0 main\n",
    )
    .unwrap();
    let wasm = wat::parse_str(
        r#"(module
            (import "env" "tos_test_double" (func $double (param i64) (result i64)))
            (memory (export "memory") 1)
            (func (export "entry_0") (result i64) (call $double (i64.const 21))))"#,
    )
    .unwrap();
    for module in [
        ContractModule::new(ModuleTag::LEGACY, legacy.to_bytes().unwrap()),
        ContractModule::new(ModuleTag::WASM, wasm),
    ] {
        let tag = module.tag;
        // Below the feature's height the syscall is not live: the module never deploys.
        let e = deploy_and_call(&module, 4).unwrap_err();
        match e {
            Error::Load {
                source: LoadError::UnknownSyscall(name),
                ..
            } => {
                assert!(name.contains("tos_test_double"), "{tag}: {name}")
            }
            other => panic!("{tag}: expected an unknown-syscall refusal, got {other}"),
        }
        // From it on, the syscall runs, with its body from the other crate.
        assert_eq!(
            deploy_and_call(&module, 5).unwrap(),
            ExitStatus::Exit(42),
            "{tag}"
        );
    }
}
