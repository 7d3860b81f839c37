//! `sdk/include/tos_params.h` decodes what tos-vm's `ParamsEncoding::Borsh` sends: a C
//! contract using it (tests/contracts/params.c) is compiled with the SDK's flags for TBPF and
//! wasm, deployed and called through `tos-vm`. Skipped, saying why, without clang (or wasm-ld
//! for the wasm half).

use std::path::Path;
use std::process::Command;

use tos_engine_api::{ExitStatus, ModuleTag};
use tos_host::{
    ActivationSchedule, BuiltinConfig, EngineRegistry, Host, MemoryProvider, TxContext,
};
use tos_vm::{Environment, Module, VM, ValueCell, VmError};

use tos_engine_wasm as _;

const CFLAGS: [&str; 7] = [
    "-O2",
    "-ffreestanding",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-I",
];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn compile(target: &[&str], dir: &Path, out: &str) -> Vec<u8> {
    let include = root().join("sdk/include");
    let source = root().join("vm/tests/contracts/params.c");
    let obj = dir.join(out);
    run(Command::new("clang")
        .args(target)
        .args(CFLAGS)
        .arg(&include)
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&obj));
    std::fs::read(&obj).unwrap()
}

/// The TBPF and (when wasm-ld exists) wasm modules of the test contract.
fn modules() -> Option<Vec<Module>> {
    if !have("clang") {
        eprintln!("skipped: clang not found (apt-get install -y clang lld)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let obj = compile(&["-target", "bpf", "-mcpu=v2"], dir.path(), "params.bpf.o");
    let so = tos_tbpf_link::link(
        &[("params.bpf.o", &obj)],
        &tos_tbpf_link::LinkOptions::tos_abi(),
    )
    .expect("tbpf-link");
    let mut modules = vec![Module::new(so).unwrap()];
    if have("wasm-ld") {
        compile(
            &["--target=wasm32", "-nostdlib"],
            dir.path(),
            "params.wasm.o",
        );
        let wasm = dir.path().join("params.wasm");
        run(Command::new("wasm-ld")
            .args(["--no-entry", "--export=entry_0", "-o"])
            .arg(&wasm)
            .arg(dir.path().join("params.wasm.o")));
        modules.push(Module::new(std::fs::read(&wasm).unwrap()).unwrap());
    } else {
        eprintln!("wasm half skipped: wasm-ld not found (apt-get install -y lld)");
    }
    Some(modules)
}

fn host(jit: bool) -> Host {
    let mut cfg = BuiltinConfig::default();
    cfg.set_tbpf_jit(jit);
    Host::new(
        EngineRegistry::builtin(&cfg).unwrap(),
        ActivationSchedule::devnet(),
    )
    .unwrap()
}

#[test]
fn the_c_sdk_decodes_pushed_values_on_tbpf_and_wasm() {
    let Some(modules) = modules() else { return };
    let modes: &[bool] = if cfg!(target_arch = "x86_64") {
        &[false, true]
    } else {
        &[false]
    };
    for module in &modules {
        for &jit in modes {
            if jit && module.tag() != ModuleTag::TBPF {
                continue;
            }
            let what = format!("{} (jit {jit})", module.tag());
            let host = host(jit);
            let mut state = MemoryProvider::default();
            let tx = TxContext {
                height: 1,
                source: [3; 32],
                ..TxContext::default()
            };
            let contract = module.address(&tx.source);
            let mut vm = VM::new(Environment::new(&host, &mut state, tx, contract));
            vm.append_module(module.clone()).unwrap();
            vm.invoke_deploy().unwrap();
            vm.context_mut().set_gas_limit(10_000_000);
            assert_eq!(vm.run().unwrap(), 0, "{what}");

            let mut call =
                |parameters: Vec<ValueCell>| -> (Result<u64, VmError>, Vec<Vec<u8>>, Vec<u8>) {
                    vm.invoke_entry_chunk(0).unwrap();
                    // The daemon's way: push in reverse, so the first parameter is on top.
                    for constant in parameters.into_iter().rev() {
                        vm.push_stack(constant).unwrap();
                    }
                    let used = vm.context().current_gas_usage();
                    vm.context_mut().set_gas_limit(used + 1_000_000);
                    let result = vm.run();
                    (
                        result,
                        vm.context().logs().to_vec(),
                        vm.context().return_data().to_vec(),
                    )
                };
            let account = [0xAC; 32];
            let good = vec![
                ValueCell::U64(0x0102_0304_0506_0708),
                ValueCell::Bytes(b"some data".to_vec()),
                ValueCell::String("héllo".into()),
                ValueCell::Bytes(account.to_vec()),
            ];
            let (result, logs, data) = call(good.clone());
            assert_eq!(result.unwrap(), 0, "{what}");
            assert_eq!(
                logs,
                [b"some data".to_vec(), "héllo".as_bytes().to_vec()],
                "{what}"
            );
            assert_eq!(
                data,
                [&0x0102_0304_0506_0708u64.to_le_bytes()[..], &account].concat()
            );

            // Each reader refuses the wrong type, a short hash, and the contract sees leftovers.
            let with = |i: usize, v: ValueCell| {
                let mut p = good.clone();
                p[i] = v;
                p
            };
            let mut code = |p| call(p).0.unwrap();
            assert_eq!(
                code(with(0, ValueCell::U32(1))),
                102,
                "{what}: u64 of another type"
            );
            assert_eq!(code(with(1, ValueCell::String("x".into()))), 202, "{what}");
            assert_eq!(code(with(2, ValueCell::Bytes(vec![1]))), 302, "{what}");
            assert_eq!(
                code(with(3, ValueCell::Bytes(vec![0; 31]))),
                403,
                "{what}: 31-byte hash"
            );
            assert_eq!(code(good[..3].to_vec()), 401, "{what}: missing hash");
            assert_eq!(code(vec![]), 101, "{what}: no params");
            let mut extra = good.clone();
            extra.push(ValueCell::Null);
            assert_eq!(code(extra), 500, "{what}: left over");
            // A status, not a trap, for every malformed case.
            assert!(matches!(
                vm.context().exit_status(),
                Some(ExitStatus::Exit(500))
            ));
        }
    }
}
