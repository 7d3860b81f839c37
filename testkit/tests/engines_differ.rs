//! Pins, on wasm, the behaviours docs/ENGINES-DIFFER.md lists as differing from TBPF, so the
//! page stays true: deep recursion, writes to low addresses, per-call globals, and the gas of
//! a trap. (TBPF's side — 64 frames, nothing mapped below 0x1_0000_0000, no writable
//! sections, exact trap gas — is pinned by engine-tbpf's own tests.)

use tos_testkit::{Chain, wat};

const MODULE: &str = r#"(module
  (import "env" "tos_get_input" (func $input (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (global $calls (mut i64) (i64.const 0))
  (func $down (param $n i64) (result i64)
    (if (i64.eqz (local.get $n)) (then (return (i64.const 0))))
    (call $down (i64.sub (local.get $n) (i64.const 1))))
  ;; entry 0: recurse n deep (n: u64 params)
  (func (export "entry_0") (result i64)
    (drop (call $input (i64.const 0) (i64.const 64)))
    (call $down (i64.load (i32.const 8))))
  ;; entry 1: write through address 0x10, read it back
  (func (export "entry_1") (result i64)
    (i64.store (i32.const 16) (i64.const 42))
    (i64.sub (i64.load (i32.const 16)) (i64.const 42)))
  ;; entry 2: count calls in a mutable global
  (func (export "entry_2") (result i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (global.get $calls))
  ;; entry 3: a little work, then a trap
  (func (export "entry_3") (result i64)
    (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    unreachable))"#;

#[test]
fn wasm_differs_from_tbpf_as_documented() {
    let mut chain = Chain::new();
    let c = chain.deploy("alice", &wat(MODULE));
    // Far deeper than TBPF's 64 frames, and bounded by the deterministic stack.
    chain
        .call("alice", &c, 0)
        .args(&["u64:1000"])
        .send()
        .assert_exit(0);
    chain
        .call("alice", &c, 0)
        .args(&["u64:100000"])
        .send()
        .assert_trap("stack overflow");
    // Address 0x10 is ordinary memory: no trap.
    chain.call("alice", &c, 1).send().assert_exit(0);
    // A global starts afresh on every call.
    chain.call("alice", &c, 2).send().assert_exit(1);
    chain.call("alice", &c, 2).send().assert_exit(1);
    // A trap raised by an instruction is charged the whole limit.
    let out = chain.call("alice", &c, 3).gas(50_000).send();
    out.assert_trap("unreachable");
    assert_eq!(out.gas_used(), 50_000);
}
