//! The kit itself: heights and time reach contracts, queries move nothing, modules load from
//! every source, and a failing assertion prints the whole outcome with names.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tos_engine_api::ModuleTag;
use tos_testkit::{BLOCK_SECONDS, Chain, GENESIS_TIMESTAMP, example, from_bytes, legacy_asm, wat};

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should fail");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn heights_and_time_reach_the_contract() {
    let mut chain = Chain::new();
    // The probe example: op 0x0B k stores tos_get_block_timestamp under [k].
    let probe = chain.deploy("alice", &example(ModuleTag::WASM, "probe"));
    assert_eq!(chain.height(), 1);
    chain
        .call("alice", &probe, 0)
        .args(&["hex:0b01"])
        .send()
        .assert_ok();
    let at2 = GENESIS_TIMESTAMP + 2 * BLOCK_SECONDS;
    chain.assert_storage(&probe, &[1], Some(&at2.to_le_bytes()));
    chain.advance(10).advance_time(3_600);
    chain
        .call("alice", &probe, 0)
        .args(&["hex:0b02"])
        .send()
        .assert_ok();
    assert_eq!(chain.height(), 13);
    let at13 = GENESIS_TIMESTAMP + 13 * BLOCK_SECONDS + 3_600;
    assert_eq!(chain.timestamp(), at13);
    chain.assert_storage(&probe, &[2], Some(&at13.to_le_bytes()));
    // A query sees the next block and moves nothing.
    let q = chain.call("alice", &probe, 0).args(&["hex:0b03"]).query();
    q.assert_ok();
    assert_eq!(chain.height(), 13);
    chain.assert_storage(&probe, &[3], None);
}

#[test]
fn modules_load_from_text_bytes_and_examples_on_every_engine() {
    let mut chain = Chain::new();
    let w = wat(r#"(module (memory (export "memory") 1)
        (func (export "entry_0") (result i64) (i64.const 7)))"#);
    let c = chain.deploy("alice", &w);
    chain.call("bob", &c, 0).send().assert_exit(7);
    let l = legacy_asm(".chunk main args=1 locals=1\nimm 5\nexit\n.entry 0 main\n");
    let c = chain.deploy("alice", &l);
    chain.call("bob", &c, 0).send().assert_exit(5);
    let so = std::fs::read(tos_testkit::repo_root().join("sdk/examples/build/counter.so")).unwrap();
    let m = from_bytes(so).unwrap();
    assert_eq!(m.tag, ModuleTag::TBPF);
    let c = chain.deploy("carol", &m);
    assert_eq!(chain.call("bob", &c, 0).send().assert_ok().return_u64(), 1);
    assert!(from_bytes(b"junk".to_vec()).unwrap_err().contains("magic"));
    // Funding and balances, by name or key.
    let dave = chain.account("dave");
    chain.fund("dave", 40).fund(dave, 2);
    chain.assert_balance("dave", 42);
}

#[test]
fn failures_read_well() {
    let mut chain = Chain::new();
    let token = chain.deploy_as(
        "token",
        "owner",
        &example(ModuleTag::TBPF, "token"),
        &[] as &[&str],
    );
    let out = chain
        .call("mallory", &token, 0)
        .args(&["addr:bob", "u64:5"])
        .send();
    let msg = panic_message(|| {
        out.assert_ok();
    });
    assert!(msg.contains("expected exit 0"), "{msg}");
    assert!(msg.contains("outcome    exit 2 on tbpf"), "{msg}");
    assert!(
        msg.contains("tbpf token entry 0: exit 2"),
        "the tree names the contract: {msg}"
    );
    let msg = panic_message(|| chain.assert_balance("bob", 5));
    assert_eq!(msg, "native balance of bob: expected 5, found 0");
    let msg = panic_message(|| chain.assert_storage(&token, b"supply", Some(&[1])));
    assert!(
        msg.contains(
            "storage \"supply\" of token: expected 0x01, found 0x0000000000000000 (u64 0)"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("\"owner\" = "),
        "the whole storage is listed: {msg}"
    );
    let msg = panic_message(|| {
        chain.call("owner", &token, 0).args(&["u64"]);
    });
    assert!(
        msg.contains("argument `u64`") && msg.contains("TYPE:VALUE"),
        "{msg}"
    );
}
