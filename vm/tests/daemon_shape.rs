//! The daemon's contract code, in the shape of the TBPF guide, through `tos-vm` on every
//! engine (legacy, TBPF interpreted, TBPF JIT, wasm), against the real `Host::deploy` /
//! `Host::invoke` over a `MemoryProvider` for the same calls: same exit codes, traps, return
//! data, events, logs, transfers, gas, and the same state after every call.

use tos_engine_api::{Call, ExitStatus, Hash, ModuleTag, NATIVE_ASSET, Trap};
use tos_host::{
    ActivationSchedule, BuiltinConfig, CallReport, DeployRequest, EngineRegistry, Host,
    InvokeRequest, MemoryProvider, TxContext,
};
use tos_vm::{Environment, Module, ParamsEncoding, VM, ValueCell, VmError, encode_params};

// Link the wasm plug-in engine: the host finds it through `inventory`.
use tos_engine_wasm as _;

const OWNER: Hash = [0x11; 32];
const ALICE: Hash = [0xA1; 32];
const BOB: Hash = [0xB0; 32];
const DEPLOY_GAS: u64 = 10_000_000;
const MAX_GAS: u64 = 1_000_000;

/// One engine (and mode) under test.
#[derive(Clone, Copy, Debug)]
struct Engine {
    name: &'static str,
    tag: ModuleTag,
    jit: bool,
}

fn engines() -> Vec<Engine> {
    let mut all = vec![
        Engine {
            name: "legacy",
            tag: ModuleTag::LEGACY,
            jit: false,
        },
        Engine {
            name: "tbpf interpreter",
            tag: ModuleTag::TBPF,
            jit: false,
        },
        Engine {
            name: "wasm",
            tag: ModuleTag::WASM,
            jit: false,
        },
    ];
    if cfg!(target_arch = "x86_64") {
        all.push(Engine {
            name: "tbpf jit",
            tag: ModuleTag::TBPF,
            jit: true,
        });
    } else {
        eprintln!("no rbpf JIT on this target: TBPF runs interpreted only");
    }
    all
}

fn host(engine: Engine) -> Host {
    let mut cfg = BuiltinConfig::default();
    cfg.set_tbpf_jit(engine.jit);
    Host::new(
        EngineRegistry::builtin(&cfg).expect("engines start"),
        ActivationSchedule::devnet(),
    )
    .expect("devnet schedule")
}

fn example(tag: ModuleTag, name: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let path = match tag {
        ModuleTag::LEGACY => format!("{root}/engine-legacy/examples/{name}.tosl"),
        ModuleTag::TBPF => format!("{root}/sdk/examples/build/{name}.so"),
        _ => format!("{root}/sdk/examples/build/{name}.wasm"),
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// `..TxContext::default()` on purpose: TxContext is gaining fields (a block timestamp).
#[allow(clippy::needless_update)]
fn tx(height: u64, source: Hash) -> TxContext {
    TxContext {
        height,
        block_hash: [height as u8; 32],
        tx_hash: [source[0]; 32],
        source,
        ..TxContext::default()
    }
}

/// What the daemon's code got back from one run.
struct Daemon {
    result: Result<u64, VmError>,
    gas_usage: u64,
    report: Option<CallReport>,
}

/// The guide's snippet. Only the environment's construction (here: `contract_environment`
/// is built by the caller) and the imports differ.
fn daemon_invoke(
    contract_environment: ContractEnvironment<'_>,
    entry: u16,
    parameters: Vec<ValueCell>,
    max_gas: u64,
) -> Daemon {
    let parameters = parameters.into_iter();
    let mut vm = VM::new(contract_environment.environment);
    let result = (|| {
        vm.append_module(contract_environment.module)?;
        vm.invoke_entry_chunk(entry)?;
        for constant in parameters.rev() {
            vm.push_stack(constant)?;
        }
        vm.context_mut().set_gas_limit(max_gas);
        let result = vm.run()?;
        Ok::<u64, VmError>(result)
    })();
    let gas_usage = vm.context().current_gas_usage().min(max_gas);
    Daemon {
        result,
        gas_usage,
        report: vm.context().report().cloned(),
    }
}

/// The same shape for a deploy: `invoke_deploy` replaces the old daemon's "store the module,
/// then invoke hook 0 if it has one".
fn daemon_deploy(
    contract_environment: ContractEnvironment<'_>,
    parameters: Vec<ValueCell>,
    max_gas: u64,
) -> (Daemon, Option<tos_host::DeployResult>) {
    let parameters = parameters.into_iter();
    let mut vm = VM::new(contract_environment.environment);
    let result = (|| {
        vm.append_module(contract_environment.module)?;
        vm.invoke_deploy()?;
        for constant in parameters.rev() {
            vm.push_stack(constant)?;
        }
        vm.context_mut().set_gas_limit(max_gas);
        let result = vm.run()?;
        Ok::<u64, VmError>(result)
    })();
    let gas_usage = vm.context().current_gas_usage().min(max_gas);
    let deployed = vm.context().deploy_result().cloned();
    (
        Daemon {
            result,
            gas_usage,
            report: vm.context().report().cloned(),
        },
        deployed,
    )
}

/// What the daemon hands the VM: the environment and the contract's module.
struct ContractEnvironment<'a> {
    environment: Environment<'a>,
    module: Module,
}

/// Two worlds, one driven through `tos-vm`, one through `Host` directly.
struct Pair {
    engine: Engine,
    vm_host: Host,
    vm_state: MemoryProvider,
    ref_host: Host,
    ref_state: MemoryProvider,
}

impl Pair {
    fn new(engine: Engine) -> Pair {
        Pair {
            engine,
            vm_host: host(engine),
            vm_state: MemoryProvider::default(),
            ref_host: host(engine),
            ref_state: MemoryProvider::default(),
        }
    }

    fn module(&self, name: &str) -> Module {
        // Raw bytes: the engine is told by the magic.
        let module = Module::new(example(self.engine.tag, name)).expect("known magic");
        assert_eq!(module.tag(), self.engine.tag);
        module
    }

    fn deploy(&mut self, name: &str) -> Hash {
        let module = self.module(name);
        let t = tx(1, OWNER);
        let contract = module.address(&t.source);
        let env = Environment::new(&self.vm_host, &mut self.vm_state, t.clone(), contract);
        let (got, deployed) = daemon_deploy(
            ContractEnvironment {
                environment: env,
                module: module.clone(),
            },
            vec![],
            DEPLOY_GAS,
        );
        let expected = self
            .ref_host
            .deploy(
                &mut self.ref_state,
                &t,
                &DeployRequest {
                    envelope: module.envelope(),
                    params: vec![],
                    gas_limit: DEPLOY_GAS,
                },
            )
            .expect("reference deploy");
        let what = format!("{}: deploy {name}", self.engine.name);
        assert_eq!(
            got.result.as_ref().ok(),
            Some(&0),
            "{what}: {:?}",
            got.result
        );
        assert_eq!(deployed.as_ref(), Some(&expected), "{what}");
        assert!(expected.deployed, "{what}");
        assert_eq!(
            got.gas_usage,
            expected.gas_used.min(DEPLOY_GAS),
            "{what}: gas"
        );
        assert_eq!(
            got.report, expected.constructor,
            "{what}: constructor report"
        );
        assert_eq!(self.vm_state, self.ref_state, "{what}: state");
        expected.address
    }

    /// One call, both ways; everything must agree. Returns the reference report.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        contract: Hash,
        name: &str,
        from: Hash,
        entry: u16,
        encoding: ParamsEncoding,
        parameters: Vec<ValueCell>,
        deposits: Vec<(Hash, u64)>,
        max_gas: u64,
    ) -> CallReport {
        let module = self.module(name);
        let t = tx(10, from);
        // What the contract receives, as documented: raw bytes for legacy or
        // `ParamsEncoding::Bytes`, otherwise the borsh encodings in call order.
        let params = if self.engine.tag == ModuleTag::LEGACY || encoding == ParamsEncoding::Bytes {
            match parameters.as_slice() {
                [] => vec![],
                [ValueCell::Bytes(b)] => b.clone(),
                other => panic!("not a bytes call: {other:?}"),
            }
        } else {
            encode_params(&parameters).expect("encodable")
        };
        let mut env = Environment::new(&self.vm_host, &mut self.vm_state, t.clone(), contract);
        env.set_params_encoding(encoding)
            .set_deposits(deposits.clone());
        let got = daemon_invoke(
            ContractEnvironment {
                environment: env,
                module,
            },
            entry,
            parameters,
            max_gas,
        );
        let expected = self
            .ref_host
            .invoke(
                &mut self.ref_state,
                &t,
                &InvokeRequest {
                    contract,
                    call: Call::Entry(entry),
                    params,
                    gas_limit: max_gas,
                    deposits,
                },
            )
            .expect("reference invoke");
        let what = format!("{}: {name} entry {entry}", self.engine.name);
        match (&got.result, &expected.outcome.status) {
            (Ok(code), ExitStatus::Exit(want)) => assert_eq!(code, want, "{what}: exit code"),
            (Err(VmError::Trap(trap)), ExitStatus::Trap(want)) => {
                assert_eq!(trap, want, "{what}: trap")
            }
            (got, want) => panic!("{what}: tos-vm gave {got:?}, the host {want:?}"),
        }
        assert_eq!(
            got.gas_usage,
            expected.outcome.gas_used.min(max_gas),
            "{what}: gas"
        );
        assert_eq!(got.report.as_ref(), Some(&expected), "{what}: report");
        assert_eq!(self.vm_state, self.ref_state, "{what}: state");
        expected
    }
}

fn bytes(b: impl Into<Vec<u8>>) -> Vec<ValueCell> {
    vec![ValueCell::Bytes(b.into())]
}

fn to_amount(to: &Hash, amount: u64) -> Vec<u8> {
    [to.as_slice(), &amount.to_le_bytes()].concat()
}

fn u64_le(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

#[test]
fn counter_and_token_agree_with_the_host_on_every_engine() {
    use ParamsEncoding::{Borsh, Bytes};
    for engine in engines() {
        let mut p = Pair::new(engine);
        let counter = p.deploy("counter");
        let token = p.deploy("token");

        // counter: increment twice, get, add(41) as raw bytes.
        for expected in [1u64, 2] {
            let r = p.call(counter, "counter", ALICE, 0, Borsh, vec![], vec![], MAX_GAS);
            assert!(r.is_success(), "{}: {:?}", engine.name, r.outcome);
            assert_eq!(u64_le(&r.outcome.return_data), expected);
            assert_eq!(r.events.len(), 1);
        }
        let r = p.call(counter, "counter", ALICE, 1, Borsh, vec![], vec![], MAX_GAS);
        assert_eq!(u64_le(&r.outcome.return_data), 2);
        let r = p.call(
            counter,
            "counter",
            ALICE,
            2,
            Bytes,
            bytes(41u64.to_le_bytes()),
            vec![],
            MAX_GAS,
        );
        assert_eq!(u64_le(&r.outcome.return_data), 43, "{}", engine.name);
        // add(u64) pushed as a typed value: on TBPF and wasm the contract sees its borsh
        // encoding (9 bytes) and refuses it with exit 1, like the host given those bytes.
        if engine.tag != ModuleTag::LEGACY {
            let r = p.call(
                counter,
                "counter",
                ALICE,
                2,
                Borsh,
                vec![ValueCell::U64(5)],
                vec![],
                MAX_GAS,
            );
            assert_eq!(r.outcome.status, ExitStatus::Exit(1), "{}", engine.name);
        }
        // Deposits are credited in the call's journal, and kept because it succeeds.
        let r = p.call(
            counter,
            "counter",
            ALICE,
            0,
            Borsh,
            vec![],
            vec![(NATIVE_ASSET, 5)],
            MAX_GAS,
        );
        assert!(r.is_success());
        assert_eq!(
            p.vm_state.balances.get(&(counter, NATIVE_ASSET)),
            Some(&5),
            "{}",
            engine.name
        );

        // token: mint by the owner, transfers, a failing transfer, reads.
        let r = p.call(
            token,
            "token",
            OWNER,
            0,
            Bytes,
            bytes(to_amount(&ALICE, 1_000)),
            vec![],
            MAX_GAS,
        );
        assert!(r.is_success(), "{}: mint {:?}", engine.name, r.outcome);
        let r = p.call(
            token,
            "token",
            ALICE,
            1,
            Bytes,
            bytes(to_amount(&BOB, 250)),
            vec![],
            MAX_GAS,
        );
        assert!(r.is_success());
        assert_eq!(r.events[0].id, 2);
        let r = p.call(
            token,
            "token",
            BOB,
            1,
            Bytes,
            bytes(to_amount(&ALICE, 251)),
            vec![],
            MAX_GAS,
        );
        assert_eq!(
            r.outcome.status,
            ExitStatus::Exit(3),
            "{}: insufficient",
            engine.name
        );
        let r = p.call(
            token,
            "token",
            ALICE,
            2,
            Bytes,
            bytes(ALICE),
            vec![],
            MAX_GAS,
        );
        assert_eq!(u64_le(&r.outcome.return_data), 750);
        let r = p.call(token, "token", ALICE, 3, Borsh, vec![], vec![], MAX_GAS);
        assert_eq!(u64_le(&r.outcome.return_data), 1_000);
        // Not the owner: exit 2, nothing written, gas charged.
        let r = p.call(
            token,
            "token",
            BOB,
            0,
            Bytes,
            bytes(to_amount(&BOB, 1)),
            vec![],
            MAX_GAS,
        );
        assert_eq!(r.outcome.status, ExitStatus::Exit(2));
        // An entry the module lacks: a trap charged the intrinsic gas, as on every node.
        let r = p.call(token, "token", ALICE, 9, Borsh, vec![], vec![], MAX_GAS);
        assert_eq!(
            r.outcome.status,
            ExitStatus::Trap(Trap::UnknownEntry(Call::Entry(9)))
        );
        // Out of gas mid-call: the whole limit is charged, the deposit is not credited.
        let r = p.call(
            token,
            "token",
            OWNER,
            0,
            Bytes,
            bytes(to_amount(&ALICE, 1)),
            vec![(NATIVE_ASSET, 7)],
            1_200,
        );
        assert_eq!(
            r.outcome.status,
            ExitStatus::Trap(Trap::OutOfGas),
            "{}",
            engine.name
        );
        assert_eq!(r.outcome.gas_used, 1_200);
        assert_eq!(p.vm_state.balances.get(&(token, NATIVE_ASSET)), None);
    }
}

#[test]
fn refusals_name_the_problem_and_charge_nothing() {
    let engine = Engine {
        name: "tbpf",
        tag: ModuleTag::TBPF,
        jit: false,
    };
    let mut p = Pair::new(engine);
    let counter = p.deploy("counter");
    let token = p.deploy("token");
    let counter_module = p.module("counter");
    let before = p.vm_state.clone();

    // The module is not the contract at the address.
    let t = tx(10, ALICE);
    let mut vm = VM::new(Environment::new(
        &p.vm_host,
        &mut p.vm_state,
        t.clone(),
        token,
    ));
    vm.append_module(counter_module.clone()).unwrap();
    vm.invoke_entry_chunk(0).unwrap();
    vm.context_mut().set_gas_limit(MAX_GAS);
    let e = vm.run().unwrap_err();
    assert!(matches!(e, VmError::ModuleMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("is not the contract at"), "{e}");
    assert_eq!(vm.context().current_gas_usage(), 0);
    // Run consumed the invocation.
    assert!(matches!(vm.run(), Err(VmError::NothingInvoked)));
    // Hook 0 is the constructor; a hook the module lacks is `false`.
    vm.environment_mut().set_contract(counter);
    assert!(matches!(
        vm.invoke_hook_id(0),
        Err(VmError::ConstructorHook)
    ));
    assert!(!vm.invoke_hook_id(3).unwrap());
    assert!(matches!(vm.run(), Err(VmError::NothingInvoked)));
    // A limit below the intrinsic gas: the host refuses, nothing charged.
    vm.invoke_entry_chunk(0).unwrap();
    vm.context_mut().set_gas_limit(999);
    let e = vm.run().unwrap_err();
    assert!(
        matches!(e, VmError::Host(tos_host::Error::GasTooLow { .. })),
        "{e:?}"
    );
    assert_eq!(vm.context().current_gas_usage(), 0);
    assert!(vm.context().report().is_none());
    // A second module, or nothing to run.
    assert!(matches!(
        vm.append_module(counter_module.clone()),
        Err(VmError::ModuleAlreadyAppended)
    ));
    drop(vm);
    let mut vm = VM::new(Environment::new(
        &p.vm_host,
        &mut p.vm_state,
        t.clone(),
        counter,
    ));
    assert!(matches!(vm.invoke_entry_chunk(0), Err(VmError::NoModule)));
    assert!(matches!(vm.run(), Err(VmError::NoModule)));
    // Unknown contract.
    vm.environment_mut().set_contract([9; 32]);
    vm.append_module(counter_module.clone()).unwrap();
    vm.invoke_entry_chunk(0).unwrap();
    vm.context_mut().set_gas_limit(MAX_GAS);
    let e = vm.run().unwrap_err();
    assert!(
        matches!(e, VmError::Host(tos_host::Error::UnknownContract(_))),
        "{e:?}"
    );
    assert!(matches!(
        vm.invoke_hook_id(1),
        Err(VmError::Host(tos_host::Error::UnknownContract(_)))
    ));
    drop(vm);
    // A deploy whose environment names another address.
    let mut vm = VM::new(Environment::new(
        &p.vm_host,
        &mut p.vm_state,
        t.clone(),
        counter,
    ));
    vm.append_module(counter_module.clone()).unwrap();
    vm.invoke_deploy().unwrap();
    vm.context_mut().set_gas_limit(DEPLOY_GAS);
    let e = vm.run().unwrap_err();
    assert!(matches!(e, VmError::AddressMismatch { .. }), "{e}");
    // The same module deployed twice by the same deployer: the host refuses.
    vm.environment_mut().set_tx(tx(1, OWNER));
    vm.invoke_deploy().unwrap();
    let e = vm.run().unwrap_err();
    assert!(
        matches!(e, VmError::Host(tos_host::Error::ContractExists(_))),
        "{e:?}"
    );
    drop(vm);
    // Parameters the contract's engine cannot take are refused before the call.
    let mut vm = VM::new(Environment::new(&p.vm_host, &mut p.vm_state, t, counter));
    vm.environment_mut()
        .set_params_encoding(ParamsEncoding::Bytes);
    vm.append_module(counter_module).unwrap();
    vm.invoke_entry_chunk(2).unwrap();
    vm.push_stack(ValueCell::U64(1)).unwrap();
    vm.push_stack(ValueCell::U64(2)).unwrap();
    vm.context_mut().set_gas_limit(MAX_GAS);
    let e = vm.run().unwrap_err();
    assert!(e.to_string().contains("not 2 values"), "{e}");
    let mut deep = ValueCell::Null;
    for _ in 0..64 {
        deep = ValueCell::Array(vec![deep]);
    }
    vm.invoke_entry_chunk(2).unwrap();
    let e = vm.push_stack(deep).unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
    assert_eq!(vm.context().current_gas_usage(), 0);
    drop(vm);
    assert_eq!(p.vm_state, before, "no refusal touched the state");
}

#[test]
fn a_legacy_module_from_the_assembler_and_a_hook_run_through_the_vm() {
    // A legacy module built in code, with hook 1 echoing its params as return data.
    let asm = tos_engine_legacy::assemble(
        ".chunk init args=1\n imm 0\n exit\n\
         .chunk echo args=1 locals=1\n load 0\n syscall tos_set_return_data\n pop\n imm 7\n exit\n\
         .hook 0 init\n.hook 1 echo\n",
    )
    .unwrap();
    let module = Module::from_legacy(&asm).unwrap();
    assert_eq!(module.tag(), ModuleTag::LEGACY);
    let host = host(Engine {
        name: "legacy",
        tag: ModuleTag::LEGACY,
        jit: false,
    });
    let mut state = MemoryProvider::default();
    let t = tx(1, OWNER);
    let contract = module.address(&t.source);
    let mut vm = VM::new(Environment::new(&host, &mut state, t, contract));
    vm.append_module(module).unwrap();
    vm.invoke_deploy().unwrap();
    vm.context_mut().set_gas_limit(DEPLOY_GAS);
    assert_eq!(vm.run().unwrap(), 0);
    assert!(vm.context().deploy_result().unwrap().deployed);
    let deploy_gas = vm.context().current_gas_usage();
    assert!(vm.invoke_hook_id(1).unwrap());
    vm.push_stack(ValueCell::Bytes(b"echo".to_vec())).unwrap();
    assert_eq!(
        vm.run().unwrap(),
        7,
        "the exit code, as the old API returned it"
    );
    assert_eq!(vm.context().return_data(), b"echo");
    // The gas of both runs adds up; a non-zero exit is charged like any call.
    let call_gas = vm.context().report().unwrap().outcome.gas_used;
    assert_eq!(vm.context().current_gas_usage(), deploy_gas + call_gas);
    assert!(!vm.invoke_hook_id(2).unwrap());
}

/// One run of the daemon's deploy through `tos-vm` at `height`, by OWNER.
fn deploy_at(
    host: &Host,
    state: &mut MemoryProvider,
    module: &Module,
    height: u64,
) -> Result<u64, VmError> {
    let t = tx(height, OWNER);
    let contract = module.address(&t.source);
    let mut vm = VM::new(Environment::new(host, state, t, contract));
    vm.append_module(module.clone())?;
    vm.invoke_deploy()?;
    vm.context_mut().set_gas_limit(DEPLOY_GAS);
    vm.run()
}

#[test]
fn the_schedule_decides_by_height_and_the_cache_prepares_once() {
    use tos_host::ActivationError;
    let schedule = ActivationSchedule::from_toml_str(
        r#"
        network = "switch"
        [engines.legacy]
        deploy_from = 0
        deploy_until = 50
        versions = [{ from = 0, version = 1 }]
        [engines.tbpf]
        deploy_from = 100
        versions = [{ from = 100, version = 1 }]
        [features]
        abi_v1 = 0
        "#,
    )
    .unwrap();
    let host = Host::new(
        EngineRegistry::builtin(&BuiltinConfig::default()).unwrap(),
        schedule,
    )
    .unwrap();
    let mut state = MemoryProvider::default();
    let legacy = Module::new(example(ModuleTag::LEGACY, "counter")).unwrap();
    let tbpf = Module::new(example(ModuleTag::TBPF, "counter")).unwrap();
    let wasm = Module::new(example(ModuleTag::WASM, "counter")).unwrap();

    // Before the TBPF height: refused, naming it; nothing charged or stored.
    let e = deploy_at(&host, &mut state, &tbpf, 99).unwrap_err();
    assert!(
        matches!(
            e,
            VmError::Host(tos_host::Error::Activation(ActivationError::NotYetActive {
                from: 100,
                ..
            }))
        ),
        "{e:?}"
    );
    assert!(state.contracts.is_empty());
    assert_eq!(deploy_at(&host, &mut state, &tbpf, 100).unwrap(), 0);
    // Legacy deploys stop at the sunset; a legacy contract deployed before keeps running.
    assert_eq!(deploy_at(&host, &mut state, &legacy, 49).unwrap(), 0);
    let e = deploy_at(
        &host,
        &mut state,
        &Module::new(example(ModuleTag::LEGACY, "token")).unwrap(),
        50,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            VmError::Host(tos_host::Error::Activation(ActivationError::Sunset { .. }))
        ),
        "{e:?}"
    );
    // The schedule names no wasm engine: refused as unavailable.
    let e = deploy_at(&host, &mut state, &wasm, 200).unwrap_err();
    assert!(matches!(e, VmError::Host(_)), "{e:?}");

    let before = host.cache().stats();
    for module in [&legacy, &tbpf] {
        for _ in 0..3 {
            let t = tx(5_000, ALICE);
            let contract = module.address(&OWNER);
            let mut vm = VM::new(Environment::new(&host, &mut state, t, contract));
            vm.append_module(module.clone()).unwrap();
            vm.invoke_entry_chunk(0).unwrap();
            vm.context_mut().set_gas_limit(MAX_GAS);
            assert_eq!(vm.run().unwrap(), 0, "{}", module.tag());
        }
    }
    let after = host.cache().stats();
    assert_eq!(
        after.misses, before.misses,
        "deployed modules are prepared once, at deploy"
    );
    assert_eq!(after.hits, before.hits + 6);
}
