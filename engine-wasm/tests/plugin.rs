//! The engine reaches a binary only through `inventory`: this test names nothing of the crate
//! but links it, as a node would.

use tos_engine_api::{Call, ExitStatus, ModuleTag, plugins};
use tos_engine_wasm as _;
use tos_host::testing::{devnet_host, with_call_host};
use tos_host::{MemoryProvider, TxContext};

#[test]
fn the_plugin_registry_finds_the_wasm_engine() {
    let found: Vec<_> = plugins().filter(|p| p.tag == ModuleTag::WASM).collect();
    assert_eq!(found.len(), 1, "exactly one plug-in for tag 2");
    let plugin = found[0];
    assert_eq!(plugin.name, "wasm");

    let engine = (plugin.create)().expect("the default engine builds");
    assert_eq!(engine.name(), "wasm");
    assert_eq!(engine.tag(), ModuleTag::WASM);

    // The engine the plug-in made runs a real module through the trait objects alone.
    let code = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/counter.wasm"
    ))
    .unwrap();
    let module = engine
        .prepare(&code, &tos_syscalls::testing::abi_v1())
        .unwrap();
    let host = devnet_host();
    let mut state = MemoryProvider::default();
    let tx = TxContext {
        height: 1,
        ..TxContext::default()
    };
    let call = Call::Entry(0);
    let (outcome, _) = with_call_host(&host, &mut state, &tx, [5; 32], call, &[], |h| {
        module.run(call, h, 100_000)
    })
    .unwrap();
    let outcome = outcome.unwrap();
    assert_eq!(outcome.status, ExitStatus::Exit(0));
    assert_eq!(outcome.return_data, 1u64.to_le_bytes());
}
