//! Unit tests of the VM: every opcode, validation, gas, the assembler round trip, and a
//! randomized no-panic test over mutated modules and random programs.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use tos_engine_api::{Call, ExecutionEngine, ExitStatus, Hash, HostAbi, LoadError, Trap};
use tos_host::{CallFrame, Host, MemoryProvider, TxContext};

use crate::limits::{MAX_BYTES_LEN, MAX_CALL_DEPTH, MAX_COLLECTION_LEN};
use crate::opcode::{Instr, Opcode, OperandKind};
use crate::vm::{VM, VmError};
use crate::{LegacyConfig, LegacyEngine, Module, ValueCell, assemble, disassemble};

use ValueCell::{Bool, Bytes, Null, U8, U16, U32, U64, U128};

const GAS: u64 = 1_000_000;

/// The real host (crate `tos-host`, a dev-dependency). It links its own copy of this crate;
/// only trait objects of `tos-engine-api` (`HostAbi`, `PreparedModule`) cross between the two.
static HOST: LazyLock<Host> = LazyLock::new(tos_host::testing::devnet_host);

/// A contract on the real host, over a state in memory that outlives each session.
struct Chain {
    state: MemoryProvider,
    tx: TxContext,
    contract: Hash,
    /// The call whose input the host gives.
    call: Call,
    params: Vec<u8>,
    /// The frame of the last session: events, logs, return data left set.
    last: Option<CallFrame>,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            state: MemoryProvider::default(),
            tx: TxContext {
                height: 1,
                ..TxContext::default()
            },
            contract: [0xC0; 32],
            call: Call::Entry(0),
            params: Vec::new(),
            last: None,
        }
    }
}

impl Chain {
    /// A chain whose host gives the input of `call` with `params`.
    fn calling(call: Call, params: &[u8]) -> Self {
        Chain {
            call,
            params: params.to_vec(),
            ..Chain::default()
        }
    }

    /// Runs `f` with the host interface of the call; what `f` staged is then in `state`, and
    /// the frame in `last`.
    fn session<R>(&mut self, f: impl FnOnce(&mut dyn HostAbi) -> R) -> R {
        let (r, frame) = tos_host::testing::with_call_host(
            &HOST,
            &mut self.state,
            &self.tx,
            self.contract,
            self.call,
            &self.params,
            f,
        )
        .unwrap_or_else(|e| panic!("the host failed: {e}"));
        self.last = Some(frame);
        r
    }

    /// Runs `call` with `params` on `prepared`, as the host does.
    fn run(
        &mut self,
        prepared: &dyn tos_engine_api::PreparedModule,
        call: Call,
        params: &[u8],
        gas: u64,
    ) -> tos_engine_api::Outcome {
        self.call = call;
        self.params = params.to_vec();
        self.session(|h| prepared.run(call, h, gas)).unwrap()
    }

    /// The contract's value under `key`.
    fn stored(&self, key: &[u8]) -> Option<&[u8]> {
        let value = self.state.storage.get(&(self.contract, key.to_vec()));
        value.map(Vec::as_slice)
    }

    fn last(&self) -> &CallFrame {
        self.last.as_ref().expect("a session ran")
    }

    /// The events of the last session: (id, data).
    fn events(&self) -> Vec<(u64, Vec<u8>)> {
        let events = self.last().kept_events();
        events.into_iter().map(|e| (e.id, e.data)).collect()
    }

    /// The log lines of the last session.
    fn logs(&self) -> Vec<Vec<u8>> {
        self.last().all_logs()
    }
}

/// Runs `body` as a chunk with no arguments that returns `rets` values; gives the values
/// (bottom first) or the error, and the gas used.
fn eval_with(
    chain: &mut Chain,
    rets: u8,
    prelude: &str,
    body: &str,
) -> (Result<Vec<ValueCell>, VmError>, u64) {
    let text = format!("{prelude}\n.chunk main rets={rets} locals=8\n{body}\n");
    let module = assemble(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    chain.session(|host| {
        let mut vm = VM::new(host, &tos_syscalls::testing::abi_v1());
        if let Err(e) = vm.append_module(module) {
            return (Err(e), 0);
        }
        vm.invoke_chunk_id(0).unwrap();
        vm.context_mut().set_gas_limit(GAS);
        let result = vm.run().map(|_| {
            let mut out: Vec<ValueCell> = (0..rets).map(|_| vm.pop_stack().unwrap()).collect();
            out.reverse();
            out
        });
        (result, vm.context().current_gas_usage())
    })
}

fn eval(rets: u8, body: &str) -> Result<Vec<ValueCell>, VmError> {
    eval_with(&mut Chain::default(), rets, "", body).0
}

fn one(body: &str) -> ValueCell {
    match eval(1, &format!("{body}\nret")) {
        Ok(mut v) => v.remove(0),
        Err(e) => panic!("{body}: {e}"),
    }
}

fn trap(body: &str) -> Trap {
    match eval(0, &format!("{body}\nabort")) {
        Err(VmError::Trap(t)) => t,
        other => panic!("{body}: expected a trap, got {other:?}"),
    }
}

fn invalid(body: &str, needle: &str) {
    match trap(body) {
        Trap::Invalid(msg) => assert!(msg.contains(needle), "{body}: {msg}"),
        other => panic!("{body}: expected an invalid-operation trap, got {other:?}"),
    }
}

fn load_error(text: &str) -> LoadError {
    let module = assemble(text).unwrap_or_else(|e| panic!("{e}"));
    Chain::default().session(|host| {
        let mut vm = VM::new(host, &tos_syscalls::testing::abi_v1());
        match vm.append_module(module) {
            Err(VmError::Load(e)) => e,
            other => panic!("expected a load error, got {other:?}"),
        }
    })
}

#[test]
fn constants_stack_and_locals() {
    let out = eval(
        5,
        "nop
         imm 1
         imm 2
         swap 1          ; 2 1
         copy 1          ; 2 1 2
         store 0         ; 2 1
         pop             ; 2
         load 0          ; 2 2
         load 1          ; 2 2 null  (locals past the arguments start null)
         const \"s\"
         const [u8 1, {u16 2: u32 3}]
         ret",
    )
    .unwrap();
    let mut map = BTreeMap::new();
    map.insert(U16(2), U32(3));
    assert_eq!(
        out,
        [
            U64(2),
            U64(2),
            Null,
            ValueCell::String("s".into()),
            ValueCell::Array(vec![U8(1), ValueCell::Map(map)])
        ]
    );
    assert_eq!(
        eval(3, "null\ntrue\nfalse\nret").unwrap(),
        [Null, Bool(true), Bool(false)]
    );
    assert_eq!(
        one("const u128 340282366920938463463374607431768211455"),
        U128(u128::MAX)
    );
}

#[test]
fn checked_arithmetic() {
    assert_eq!(one("imm 7\nimm 5\nadd"), U64(12));
    assert_eq!(one("imm 7\nimm 5\nsub"), U64(2));
    assert_eq!(one("imm 7\nimm 5\nmul"), U64(35));
    assert_eq!(one("imm 7\nimm 2\ndiv"), U64(3));
    assert_eq!(one("imm 7\nimm 2\nrem"), U64(1));
    assert_eq!(one("const u8 200\nconst u8 55\nadd"), U8(255));
    assert_eq!(one("const u16 300\nconst u16 3\nmul"), U16(900));
    assert_eq!(one("const u32 9\nconst u32 4\nrem"), U32(1));
    assert_eq!(one("const u128 10\nconst u128 3\ndiv"), U128(3));
    assert_eq!(
        trap("const u8 200\nconst u8 56\nadd"),
        Trap::ArithmeticOverflow
    );
    assert_eq!(trap("imm 1\nimm 2\nsub"), Trap::ArithmeticOverflow);
    assert_eq!(
        trap("const u64 18446744073709551615\nimm 2\nmul"),
        Trap::ArithmeticOverflow
    );
    assert_eq!(trap("imm 1\nimm 0\ndiv"), Trap::DivisionByZero);
    assert_eq!(trap("const u16 1\nconst u16 0\nrem"), Trap::DivisionByZero);
    invalid("imm 1\nconst u32 1\nadd", "`add` cannot take u64 and u32");
    invalid("true\ntrue\nadd", "cannot take bool and bool");
}

#[test]
fn shifts_and_bitwise() {
    assert_eq!(one("imm 1\nimm 63\nshl"), U64(1 << 63));
    assert_eq!(one("const u8 128\nconst u128 7\nshr"), U8(1));
    assert_eq!(trap("imm 1\nimm 64\nshl"), Trap::ArithmeticOverflow);
    assert_eq!(trap("const u8 1\nimm 8\nshr"), Trap::ArithmeticOverflow);
    assert_eq!(
        trap("imm 1\nconst u128 4294967296\nshl"),
        Trap::ArithmeticOverflow
    );
    invalid("imm 1\ntrue\nshl", "`shl` cannot take u64 and bool");
    assert_eq!(one("imm 12\nimm 10\nand"), U64(8));
    assert_eq!(one("imm 12\nimm 10\nor"), U64(14));
    assert_eq!(one("imm 12\nimm 10\nxor"), U64(6));
    assert_eq!(one("const u8 15\nnot"), U8(240));
    assert_eq!(one("true\nfalse\nand"), Bool(false));
    assert_eq!(one("true\nfalse\nor"), Bool(true));
    assert_eq!(one("true\ntrue\nxor"), Bool(false));
    assert_eq!(one("false\nnot"), Bool(true));
    invalid(
        "null\nnot",
        "`not` expects an integer or a bool, found null",
    );
    invalid("imm 1\ntrue\nor", "cannot take u64 and bool");
}

#[test]
fn comparisons_and_casts() {
    assert_eq!(
        one("const [u64 1, b\"x\"]\nconst [u64 1, b\"x\"]\neq"),
        Bool(true)
    );
    assert_eq!(one("imm 1\nconst u8 1\neq"), Bool(false));
    assert_eq!(one("imm 1\nconst u8 1\nne"), Bool(true));
    assert_eq!(one("imm 1\nimm 2\nlt"), Bool(true));
    assert_eq!(one("imm 2\nimm 2\nle"), Bool(true));
    assert_eq!(one("imm 2\nimm 1\ngt"), Bool(true));
    assert_eq!(one("imm 1\nimm 2\nge"), Bool(false));
    assert_eq!(one("const b\"ab\"\nconst b\"b\"\nlt"), Bool(true));
    assert_eq!(one("const \"b\"\nconst \"ab\"\ngt"), Bool(true));
    invalid("imm 1\nconst u8 2\nlt", "`lt` cannot take u64 and u8");
    invalid("null\nnull\nlt", "cannot take null and null");
    assert_eq!(one("null\nis_null"), Bool(true));
    assert_eq!(one("imm 0\nis_null"), Bool(false));
    assert_eq!(one("imm 255\ncast.u8"), U8(255));
    assert_eq!(trap("const u16 256\ncast.u8"), Trap::ArithmeticOverflow);
    assert_eq!(one("true\ncast.u16"), U16(1));
    assert_eq!(one("const u128 4294967295\ncast.u32"), U32(u32::MAX));
    assert_eq!(
        trap("const u128 18446744073709551616\ncast.u64"),
        Trap::ArithmeticOverflow
    );
    assert_eq!(one("const u8 3\ncast.u64"), U64(3));
    assert_eq!(one("imm 3\ncast.u128"), U128(3));
    invalid(
        "const \"1\"\ncast.u64",
        "`cast.u64` expects an integer or a bool, found string",
    );
}

#[test]
fn jumps_loop_and_branch() {
    // Sum 1..=10 with a loop; local 0 = i, local 1 = sum.
    let sum = one("imm 0
         store 1
         imm 10
         store 0
     top:
         load 0
         imm 0
         eq
         jmp.if done
         load 1
         load 0
         add
         store 1
         load 0
         imm 1
         sub
         store 0
         jmp top
     done:
         load 1");
    assert_eq!(sum, U64(55));
    assert_eq!(one("false\njmp.ifnot yes\nimm 0\nret\nyes:\nimm 1"), U64(1));
    invalid("imm 1\njmp.if x\nx:", "`jmp.if` expects a bool, found u64");
}

#[test]
fn calls_returns_and_recursion() {
    // fact(n) = n <= 1 ? 1 : n * fact(n - 1), recursively.
    let text = "
.chunk main rets=1
    imm 20
    call fact
    ret
.chunk fact args=1 rets=1
    load 0
    imm 1
    le
    jmp.if base
    load 0
    load 0
    imm 1
    sub
    call fact
    mul
    ret
base:
    imm 1
    ret
";
    Chain::default().session(|host| {
        let mut vm = VM::new(host, &tos_syscalls::testing::abi_v1());
        vm.append_module(assemble(text).unwrap()).unwrap();
        vm.invoke_chunk_id(0).unwrap();
        vm.context_mut().set_gas_limit(GAS);
        assert_eq!(vm.run(), Ok(0));
        assert_eq!(vm.pop_stack(), Some(U64(2_432_902_008_176_640_000)));
    });

    // Unbounded recursion hits the call depth limit.
    let (r, _) = eval_with(
        &mut Chain::default(),
        0,
        ".chunk forever\n call forever\n ret",
        "call forever\nret",
    );
    assert_eq!(
        r,
        Err(VmError::Trap(Trap::CallDepthExceeded {
            limit: u64::from(MAX_CALL_DEPTH)
        }))
    );
    // A chunk whose frame needs 40 stack slots overflows the 1024-value stack before depth.
    let wide = format!(
        ".chunk wide\n{}call wide\n{}ret",
        "imm 0\n".repeat(40),
        "pop\n".repeat(40)
    );
    let (r, _) = eval_with(&mut Chain::default(), 0, &wide, "call wide\nret");
    assert_eq!(r, Err(VmError::Trap(Trap::StackOverflow)));
}

#[test]
fn exit_and_abort() {
    let exit = |body: &str| {
        let module = assemble(&format!(".chunk main\n{body}")).unwrap();
        Chain::default().session(|host| {
            let mut vm = VM::new(host, &tos_syscalls::testing::abi_v1());
            vm.append_module(module).unwrap();
            vm.invoke_chunk_id(0).unwrap();
            vm.context_mut().set_gas_limit(GAS);
            vm.run()
        })
    };
    assert_eq!(exit("imm 42\nexit"), Ok(42));
    assert_eq!(exit("const u128 7\nexit"), Ok(7));
    assert_eq!(exit("ret"), Ok(0));
    assert_eq!(exit("abort"), Err(VmError::Trap(Trap::Unreachable)));
    match exit("const u128 18446744073709551616\nexit") {
        Err(VmError::Trap(Trap::Invalid(msg))) => {
            assert_eq!(
                msg,
                "chunk 0 at offset 0x3 (`exit`): `exit` expects an unsigned integer that fits \
                 u64, found u128"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn arrays() {
    assert_eq!(
        one("imm 1\nimm 2\nimm 3\narray.new 3"),
        ValueCell::Array(vec![U64(1), U64(2), U64(3)])
    );
    assert_eq!(one("imm 1\nimm 2\narray.new 2\nimm 1\narray.get"), U64(2));
    assert_eq!(
        one("array.new 0\nimm 5\narray.push\nimm 0\ntrue\narray.set"),
        ValueCell::Array(vec![Bool(true)])
    );
    assert_eq!(
        eval(2, "imm 1\nimm 2\narray.new 2\narray.pop\nret").unwrap(),
        [ValueCell::Array(vec![U64(1)]), U64(2)]
    );
    assert_eq!(one("imm 1\narray.new 1\nlen"), U64(1));
    invalid(
        "array.new 0\nimm 0\narray.get",
        "index 0 is out of range for length 0",
    );
    invalid("array.new 0\narray.pop", "empty array");
    invalid(
        "imm 1\nimm 0\narray.get",
        "`array.get` expects an array, found u64",
    );
    invalid(
        "imm 1\nlen",
        "`len` expects a string, bytes, an array or a map",
    );
    // Pushing past the length limit traps.
    let fill = format!(
        "array.new 0\nstore 0\nimm 0\nstore 1\ntop:\nload 0\nnull\narray.push\nstore 0\nload 1\nimm 1\nadd\ncopy 0\nstore 1\nconst u64 {}\nlt\njmp.if top",
        MAX_COLLECTION_LEN + 1
    );
    invalid(&fill, "array of length 1025 exceeds the limit of 1024");
    // Nesting past the depth limit traps.
    invalid(
        "array.new 0\nstore 0\ntop:\nload 0\narray.new 1\nstore 0\njmp top",
        "nested deeper than the limit of 16",
    );
}

#[test]
fn maps() {
    let mut m = BTreeMap::new();
    m.insert(ValueCell::String("a".into()), U64(1));
    assert_eq!(
        one("map.new\nconst \"a\"\nimm 1\nmap.set"),
        ValueCell::Map(m)
    );
    assert_eq!(
        one("map.new\nconst \"a\"\nimm 1\nmap.set\nconst \"a\"\nmap.get"),
        U64(1)
    );
    assert_eq!(one("map.new\nconst \"a\"\nmap.get"), Null);
    assert_eq!(
        one("map.new\nimm 3\nimm 1\nmap.set\nimm 3\nmap.has"),
        Bool(true)
    );
    assert_eq!(
        one("map.new\nimm 3\nimm 1\nmap.set\nimm 3\nmap.remove\nlen"),
        U64(0)
    );
    invalid(
        "map.new\nnull\nmap.get",
        "a map key must be a bool, an integer, a string or bytes",
    );
    invalid(
        "map.new\nconst u64 257\nbytes.new\nimm 1\nmap.set",
        "map key of 257 bytes exceeds the limit of 256",
    );
    invalid(
        "imm 1\nimm 1\nmap.has",
        "`map.has` expects a map, found u64",
    );
}

#[test]
fn bytes_and_strings() {
    assert_eq!(one("imm 3\nbytes.new"), Bytes(vec![0; 3]));
    assert_eq!(one("const b\"abc\"\nimm 1\nbytes.get"), U8(b'b'));
    assert_eq!(
        one("const b\"hello\"\nimm 1\nimm 3\nbytes.slice"),
        Bytes(b"el".to_vec())
    );
    assert_eq!(
        one("const b\"ab\"\nconst b\"cd\"\nbytes.concat"),
        Bytes(b"abcd".to_vec())
    );
    assert_eq!(one("const u16 258\nbytes.from_int"), Bytes(vec![2, 1]));
    assert_eq!(
        one("const u64 1\nbytes.from_int"),
        Bytes(vec![1, 0, 0, 0, 0, 0, 0, 0])
    );
    assert_eq!(one("const x\"0201\"\nbytes.to_u16"), U16(0x0102));
    assert_eq!(one("const x\"04030201\"\nbytes.to_u32"), U32(0x0102_0304));
    assert_eq!(one("const x\"0100000000000000\"\nbytes.to_u64"), U64(1));
    assert_eq!(
        one("const x\"ffffffffffffffffffffffffffffffff\"\nbytes.to_u128"),
        U128(u128::MAX)
    );
    assert_eq!(
        one("const \"hé\"\nstr.bytes"),
        Bytes("hé".as_bytes().to_vec())
    );
    assert_eq!(
        one("const b\"ok\"\nstr.from_bytes"),
        ValueCell::String("ok".into())
    );
    assert_eq!(one("const b\"abc\"\nlen"), U64(3));
    invalid("const x\"ff\"\nstr.from_bytes", "not UTF-8");
    invalid(
        "const b\"abc\"\nimm 2\nimm 4\nbytes.slice",
        "range 2..4 is not within 0..3",
    );
    invalid("const b\"abc\"\nimm 3\nimm 1\nbytes.slice", "not within");
    invalid(
        "const b\"abc\"\nimm 0\nnull\nbytes.slice",
        "`bytes.slice` expects integer bounds that fit u64, found null",
    );
    invalid(
        "const b\"abc\"\nimm 3\nbytes.get",
        "index 3 is out of range for length 3",
    );
    invalid(
        "const b\"abc\"\nbytes.to_u64",
        "`bytes.to_u64` needs exactly 8 bytes, found 3",
    );
    invalid(
        "const \"abc\"\nbytes.to_u16",
        "`bytes.to_u16` expects bytes, found string",
    );
    invalid("true\nbytes.from_int", "expects an integer");
    invalid("imm 1\nstr.bytes", "expects a string");
    invalid(
        &format!("const u64 {}\nbytes.new", MAX_BYTES_LEN + 1),
        "length 65537 exceeds the limit of 65536",
    );
    invalid(
        &format!("const u64 {MAX_BYTES_LEN}\nbytes.new\nimm 1\nbytes.new\nbytes.concat"),
        "result of 65537 bytes exceeds the limit",
    );
}

#[test]
fn syscalls_through_scratch_memory() {
    // The input [0, 0, 1, 0, 2, 0, 0, 0, 7, 8]: entry 1 with params [7, 8].
    let mut host = Chain::calling(Call::Entry(1), &[7, 8]);
    host.tx.height = 99;
    host.tx.source = [5; 32];
    host.contract = [1; 32];
    host.state.balances.insert(([1; 32], [0; 32]), 1234);
    host.state
        .storage
        .insert(([1; 32], b"k".to_vec()), b"value".to_vec());
    let (out, _) = eval_with(
        &mut host,
        7,
        "",
        "syscall tos_get_block_height    ; 99
         syscall tos_get_tx_source       ; hash 0
         pop
         const b\"k\"
         syscall tos_storage_load        ; value 5
         const b\"missing\"
         syscall tos_storage_load        ; null u64::MAX
         pop
         const x\"0000000000000000000000000000000000000000000000000000000000000000\"
         syscall tos_get_balance         ; 1234 0
         pop
         syscall tos_get_input           ; input 10
         pop
         ret",
    );
    assert_eq!(
        out.unwrap(),
        [
            U64(99),
            Bytes(vec![5; 32]),
            Bytes(b"value".to_vec()),
            U64(5),
            Null,
            U64(1234),
            Bytes(vec![0, 0, 1, 0, 2, 0, 0, 0, 7, 8]),
        ]
    );

    // Storing, events, logs and return data go through the shared bodies.
    let mut host = Chain::default();
    let (out, _) = eval_with(
        &mut host,
        4,
        "",
        "const b\"key\"
         const \"text values are passed as their UTF-8 bytes\"
         syscall tos_storage_store
         imm 9
         const b\"payload\"
         syscall tos_fire_event
         const b\"log line\"
         syscall tos_log
         const b\"rd\"
         syscall tos_set_return_data
         ret",
    );
    assert_eq!(out.unwrap(), [U64(0), U64(0), U64(0), U64(0)]);
    assert_eq!(
        host.stored(b"key"),
        Some(&b"text values are passed as their UTF-8 bytes"[..])
    );
    assert_eq!(host.events(), [(9, b"payload".to_vec())]);
    assert_eq!(host.logs(), [b"log line".to_vec()]);
    assert_eq!(host.last().outcome.return_data, b"rd");

    // Bad argument shapes trap naming the syscall and the argument.
    let t = |body: &str| match eval_with(&mut Chain::default(), 0, "", body).0 {
        Err(VmError::Trap(t)) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        t("const b\"short\"\nimm 1\nsyscall tos_burn\npop\nret"),
        Trap::Syscall {
            name: "tos_burn".into(),
            reason: "argument 0: expected 32 bytes, found 5".into()
        }
    );
    assert_eq!(
        t("imm 1\nimm 1\nsyscall tos_fire_event\npop\nret"),
        Trap::Syscall {
            name: "tos_fire_event".into(),
            reason: "argument 1: expected bytes, found u64".into()
        }
    );
    assert_eq!(
        t("const b\"k\"\ntrue\nsyscall tos_storage_store\npop\nret"),
        Trap::Syscall {
            name: "tos_storage_store".into(),
            reason: "argument 1: expected bytes, found bool".into()
        }
    );
    // A limit of the shared body: keys longer than 256 bytes.
    match t("imm 255\nimm 2\nadd\nbytes.new\nsyscall tos_storage_delete\npop\nret") {
        Trap::Syscall { name, reason } => {
            assert_eq!(name, "tos_storage_delete");
            assert!(
                reason.contains("storage key of 257 bytes exceeds the limit of 256"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn asset_syscalls() {
    let mut host = Chain {
        contract: [3; 32],
        ..Chain::default()
    };
    let (out, _) = eval_with(
        &mut host,
        1,
        "",
        "const b\"GOLD\"
         imm 8
         syscall tos_asset_create    ; [asset, 0]
         pop
         store 0
         load 0
         imm 100
         syscall tos_asset_mint
         pop
         load 0
         const x\"0909090909090909090909090909090909090909090909090909090909090909\"
         swap 1
         imm 30
         swap 1
         syscall tos_transfer
         pop
         load 0
         imm 20
         syscall tos_burn
         pop
         load 0
         syscall tos_get_balance
         pop
         ret",
    );
    assert_eq!(out.unwrap(), [U64(50)]);
    let gold = tos_host::asset_id(&[3; 32], b"GOLD");
    assert_eq!(host.state.balances[&([3; 32], gold)], 50);
    assert_eq!(host.state.balances[&([9; 32], gold)], 30);
    assert_eq!(
        host.state.balances.values().copied().sum::<u64>(),
        80,
        "100 minted, 20 burnt"
    );
    // Burning lowers the supply too.
    let asset = &host.state.assets[&gold];
    assert_eq!(
        (asset.creator, asset.decimals, asset.supply),
        ([3; 32], 8, 80)
    );
}

#[test]
fn gas_is_per_opcode_plus_size_and_out_of_gas_charges_the_limit() {
    // imm, imm, add, ret: 1 + 1 + 1 + 2.
    let (_, gas) = eval_with(&mut Chain::default(), 1, "", "imm 1\nimm 2\nadd\nret");
    assert_eq!(gas, 5);
    // const of 17 bytes: 1 + 3 words; copy: 1 + 3; eq: 1 + 3; ret 2.
    let (_, gas) = eval_with(
        &mut Chain::default(),
        1,
        "",
        "const b\"0123456789abcdefg\"\ncopy 0\neq\nret",
    );
    assert_eq!(gas, 4 + 4 + 4 + 2);
    // An infinite loop stops with OutOfGas and charges exactly the limit.
    let module = assemble(".chunk main\ntop:\njmp top").unwrap();
    Chain::default().session(|host| {
        let mut vm = VM::new(host, &tos_syscalls::testing::abi_v1());
        vm.append_module(module).unwrap();
        vm.invoke_chunk_id(0).unwrap();
        vm.context_mut().set_gas_limit(12_345);
        assert_eq!(vm.run(), Err(VmError::Trap(Trap::OutOfGas)));
        assert_eq!(vm.context().current_gas_usage(), 12_345);
        // The default limit is 0: nothing runs.
        vm.invoke_chunk_id(0).unwrap();
        assert_eq!(vm.run(), Err(VmError::Trap(Trap::OutOfGas)));
    });
}

#[test]
fn validation_refuses_bad_code() {
    let verification = |text: &str, needle: &str| match load_error(text) {
        LoadError::Verification(msg) => assert!(msg.contains(needle), "{msg}"),
        other => panic!("{other:?}"),
    };
    // A jump into the middle of an instruction (imm is 2 bytes).
    verification(
        ".chunk m\nimm 0\njmp @1",
        "jump target 0x1 is not an instruction",
    );
    verification(".chunk m\njmp @200", "jump target 0xc8");
    verification(
        ".chunk m\nconst #3\nret",
        "constant 3 does not exist (the pool has 0)",
    );
    verification(
        ".chunk m\ncall 4\nret",
        "chunk 4 does not exist (the module has 1)",
    );
    verification(
        ".chunk m locals=2\nload 2\nret",
        "local 2 does not exist (the chunk has 2)",
    );
    verification(
        ".chunk m\nimm 1\nadd\nret",
        "stack underflow: `add` needs 2 values, the stack holds 1",
    );
    verification(
        ".chunk m\ncopy 0\nret",
        "`copy` needs 1 values, the stack holds 0",
    );
    verification(".chunk m\nimm 1\nswap 1\nret", "`swap` needs 2 values");
    verification(
        ".chunk m rets=1\nret",
        "`ret` with 0 values on the stack; the chunk returns 1",
    );
    verification(
        ".chunk m\nimm 1",
        "control falls off the end of the chunk after `imm`",
    );
    verification(
        ".chunk m\ntrue\njmp.if x\nimm 1\nx:\nret",
        "paths reach this instruction with stack heights",
    );
    verification(".chunk m\n.bytes x\"ff\"", "unknown opcode 0xff");
    verification(".chunk m\n.bytes x\"05\"", "code ends inside an operand");
    verification(".chunk m\n.chunk n\nret", "chunk 0 has no code");
    verification(
        ".chunk m\nret\n.entry 0 m",
        "entry 0 runs chunk 0, which takes 0 arguments and returns 0 values",
    );
    verification(
        &format!(".chunk m\n{}ret", "imm 0\n".repeat(1025)),
        "stack height exceeds the limit of 1024",
    );
    assert_eq!(
        load_error(".chunk m\nsyscall 0x12345678\nret"),
        LoadError::UnknownSyscall("0x12345678".into())
    );
    assert_eq!(
        load_error(".chunk m\nsyscall tos_no_such_thing\nret"),
        LoadError::UnknownSyscall(format!(
            "{:#010x}",
            tos_syscalls::murmur3_32(b"tos_no_such_thing", 0)
        ))
    );
}

fn engine() -> LegacyEngine {
    LegacyEngine::new(LegacyConfig::default()).unwrap()
}

#[test]
fn engine_contract() {
    let e = engine();
    assert_eq!(e.name(), "legacy");
    assert_eq!(e.tag(), tos_engine_api::ModuleTag::LEGACY);
    assert_eq!(e.version(), 1);
    assert!(LegacyEngine::new(LegacyConfig::new().set_max_call_depth(0).clone()).is_err());
    assert!(LegacyEngine::new(LegacyConfig::new().set_max_call_depth(257).clone()).is_err());
    assert!(LegacyEngine::new(LegacyConfig::new().set_max_module_size(0).clone()).is_err());

    let small = LegacyEngine::new(LegacyConfig::new().set_max_module_size(8).clone()).unwrap();
    assert_eq!(
        small
            .prepare(&[0; 9], &tos_syscalls::testing::abi_v1())
            .err(),
        Some(LoadError::TooLarge { size: 9, limit: 8 })
    );
    assert!(matches!(
        e.prepare(b"\x7fELF", &tos_syscalls::testing::abi_v1()).err(),
        Some(LoadError::Malformed(m)) if m.contains("bad magic")
    ));

    let code = assemble(
        ".chunk main args=1\n load 0\n syscall tos_log\n pop\n load 0\n len\n exit\n\
         .chunk deep args=1\n load 0\n call deep\n ret\n\
         .entry 0 main\n.entry 7 deep\n.hook 0 main\n",
    )
    .unwrap()
    .to_bytes()
    .unwrap();
    let prepared = e.prepare(&code, &tos_syscalls::testing::abi_v1()).unwrap();
    let info = prepared.info();
    assert_eq!(
        info.entries.entries.iter().copied().collect::<Vec<_>>(),
        [0, 7]
    );
    assert_eq!(info.entries.hooks.iter().copied().collect::<Vec<_>>(), [0]);
    assert!(!info.entries.self_dispatch);
    assert_eq!(info.imports, ["tos_log"]);
    assert_eq!(info.code_size, code.len());
    assert!(prepared.disassemble().unwrap().contains("syscall tos_log"));

    let run = |call: Call, params: &[u8], gas: u64| {
        let mut host = Chain::default();
        let outcome = host.run(&*prepared, call, params, gas);
        (outcome, host)
    };
    let (out, host) = run(Call::Entry(0), b"abc", 1000);
    assert_eq!(out.status, ExitStatus::Exit(3));
    assert_eq!(host.logs(), [b"abc".to_vec()]);
    // load 1+1, syscall 5+100+3, pop, load 1+1, len, exit.
    assert_eq!(out.gas_used, 2 + 108 + 1 + 2 + 1 + 1);
    let (out, _) = run(Call::Hook(0), b"", 1000);
    assert_eq!(out.status, ExitStatus::Exit(0));
    // Unknown entries run nothing and use no gas.
    let (out, _) = run(Call::Entry(1), b"", 1000);
    assert_eq!(
        out.status,
        ExitStatus::Trap(Trap::UnknownEntry(Call::Entry(1)))
    );
    assert_eq!(out.gas_used, 0);
    let (out, _) = run(Call::Hook(1), b"", 1000);
    assert_eq!(
        out.status,
        ExitStatus::Trap(Trap::UnknownEntry(Call::Hook(1)))
    );
    // Recursion: the configured depth.
    let (out, _) = run(Call::Entry(7), b"", 1_000_000);
    assert_eq!(
        out.status,
        ExitStatus::Trap(Trap::CallDepthExceeded { limit: 64 })
    );
    let shallow = LegacyEngine::new(LegacyConfig::new().set_max_call_depth(3).clone())
        .unwrap()
        .prepare(&code, &tos_syscalls::testing::abi_v1())
        .unwrap();
    let out = Chain::default().run(&*shallow, Call::Entry(7), b"", 1_000);
    assert_eq!(
        out.status,
        ExitStatus::Trap(Trap::CallDepthExceeded { limit: 3 })
    );
    // 3 frames, each paying `load` (1) and `call` (4); the third call traps.
    assert_eq!(out.gas_used, 15);
    // Out of gas charges the limit.
    let (out, _) = run(Call::Entry(0), b"abc", 50);
    assert_eq!(out.status, ExitStatus::Trap(Trap::OutOfGas));
    assert_eq!(out.gas_used, 50);
    // Params longer than a bytes value may be are refused as a trap, with no gas used.
    let (out, _) = run(Call::Entry(0), &vec![0; MAX_BYTES_LEN + 1], 1000);
    assert!(matches!(&out.status, ExitStatus::Trap(Trap::Invalid(m)) if m.contains("params")));
    assert_eq!(out.gas_used, 0);
}

/// A module holding one instruction of every opcode (operands in range but not meaningful),
/// plus constants of every kind of value.
fn every_opcode_module() -> Module {
    let mut code = Vec::new();
    for op in Opcode::ALL {
        let values: Vec<u32> = op
            .operands()
            .iter()
            .map(|k| match k {
                OperandKind::Syscall => tos_syscalls::murmur3_32(b"tos_log", 0),
                OperandKind::Target => 0,
                _ => 1,
            })
            .collect();
        Instr::from_parts(*op, &values).unwrap().encode(&mut code);
    }
    let mut map = BTreeMap::new();
    map.insert(
        ValueCell::String("k\"\\\n\u{1}é".into()),
        Bytes(vec![0, 0x7f, b'"']),
    );
    map.insert(U128(5), ValueCell::Array(vec![]));
    let constants = vec![
        Null,
        Bool(false),
        U8(1),
        U16(2),
        U32(3),
        U64(4),
        U128(5),
        ValueCell::String(String::new()),
        Bytes(b"say \"hi\"\\".to_vec()),
        ValueCell::Map(map),
    ];
    let mut m = Module {
        constants,
        ..Module::default()
    };
    m.chunks.push(crate::module::Chunk {
        args: 1,
        rets: 2,
        locals: 3,
        code,
    });
    m.chunks.push(crate::module::Chunk {
        args: 0,
        rets: 0,
        locals: 0,
        code: vec![0x30, 0x01, 0x00, 0x05, 0x00, 0xee, 0x01],
    });
    m.entries.insert(65535, 1);
    m.hooks.insert(255, 0);
    m
}

#[test]
fn disassembly_reassembles_to_identical_bytes() {
    let mut modules = vec![every_opcode_module()];
    for text in [
        include_str!("../examples/hello.tasm"),
        include_str!("../examples/counter.tasm"),
        include_str!("../examples/token.tasm"),
    ] {
        modules.push(assemble(text).unwrap());
    }
    for m in modules {
        let bytes = m.to_bytes().unwrap();
        let text = disassemble(&m);
        let again = assemble(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again.to_bytes().unwrap(), bytes, "{text}");
        assert_eq!(Module::from_bytes(&bytes).unwrap(), m);
        // Disassembling the reassembled module gives the same text.
        assert_eq!(disassemble(&again), text);
    }
}

#[test]
fn assembler_errors_name_the_line() {
    let e = |text: &str| assemble(text).unwrap_err().to_string();
    assert_eq!(
        e("imm 1"),
        "line 1: code outside a chunk (start one with `.chunk`)"
    );
    assert_eq!(e(".chunk m\n  frob"), "line 2: unknown mnemonic `frob`");
    assert_eq!(
        e(".chunk m\nimm 256"),
        "line 2: operand [256] of `imm` is out of range"
    );
    assert_eq!(
        e(".chunk m\njmp nowhere"),
        "line 2: unknown label `nowhere`"
    );
    assert_eq!(
        e(".chunk m\ncall nothing"),
        "line 2: unknown chunk `nothing`"
    );
    assert_eq!(
        e(".chunk m\nconst zork"),
        "line 2: `zork` is not a value or a constant"
    );
    assert_eq!(e(".const a u8 256"), "line 1: 256 does not fit u8");
    assert_eq!(e(".const a \"x"), "line 1: unterminated literal");
    assert_eq!(
        e(".const null u8 1"),
        "line 1: `null` cannot name a constant"
    );
    assert_eq!(
        e(".chunk m\n.chunk m"),
        "line 2: chunk `m` is declared twice"
    );
    assert_eq!(
        e(".chunk m\nx:\nx:\nret"),
        "line 3: label `x` is defined twice"
    );
    assert_eq!(
        e(".chunk m args=2 locals=1\nret"),
        "line 1: chunk 0 has 1 locals but takes 2 arguments"
    );
    assert_eq!(
        e(".chunk m\nret\n.entry 0 m\n.entry 0 m"),
        "line 4: entry 0 is declared twice"
    );
    assert_eq!(e(".frob"), "line 1: unknown directive `.frob`");
    assert!(
        e(&format!(
            ".const deep {}null{}",
            "[".repeat(17),
            "]".repeat(17)
        ))
        .contains("nested deeper")
    );
    assert!(e(".const m {null: u8 1}").contains("map key"));
}

/// A small deterministic generator (xorshift64*), so the randomized tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn run_everything(prepared: &dyn tos_engine_api::PreparedModule, params: &[u8]) {
    let info = prepared.info().clone();
    let calls = info
        .entries
        .entries
        .iter()
        .map(|&e| Call::Entry(e))
        .chain(info.entries.hooks.iter().map(|&h| Call::Hook(h)));
    for call in calls {
        let mut host = Chain::default();
        let count = (host.contract, b"count".to_vec());
        host.state.storage.insert(count, vec![1, 2, 3]);
        let out = host.run(prepared, call, params, 20_000);
        assert!(out.gas_used <= 20_000);
    }
    let _ = prepared.disassemble();
}

#[test]
fn mutated_modules_never_panic() {
    let e = engine();
    let features = tos_syscalls::testing::abi_v1();
    let seeds: Vec<Vec<u8>> = vec![
        include_bytes!("../examples/hello.tosl").to_vec(),
        include_bytes!("../examples/counter.tosl").to_vec(),
        include_bytes!("../examples/token.tosl").to_vec(),
        every_opcode_module().to_bytes().unwrap(),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut prepared_ok, mut decoded_ok) = (0, 0);
    for round in 0..3000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        if round % 2 == 1 {
            // Structured: keep the container, change a few bytes of one chunk's code, so most
            // mutants decode and many validate and run.
            let mut m = Module::from_bytes(&bytes).unwrap();
            let ci = rng.below(m.chunks.len());
            let code = &mut m.chunks[ci].code;
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(code.len());
                code[at] = rng.next() as u8;
            }
            bytes = m.to_bytes().unwrap();
        }
        for _ in 0..(round % 2 == 0) as usize * (1 + rng.below(4)) {
            let at = rng.below(bytes.len());
            match rng.below(5) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes[at] ^= 1 << rng.below(8),
                2 => bytes.insert(at, rng.next() as u8),
                3 => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
            if bytes.is_empty() {
                break;
            }
        }
        if let Ok(m) = Module::from_bytes(&bytes) {
            decoded_ok += 1;
            // Every decodable module survives the text round trip.
            let again = assemble(&disassemble(&m)).unwrap();
            assert_eq!(again.to_bytes().unwrap(), bytes);
        }
        if let Ok(p) = e.prepare(&bytes, &features) {
            prepared_ok += 1;
            run_everything(p.as_ref(), &[7; 40]);
            run_everything(p.as_ref(), &[]);
        }
    }
    // The mutations must reach both decoding and execution, or the test proves little.
    assert!(decoded_ok > 200, "{decoded_ok}");
    assert!(prepared_ok > 40, "{prepared_ok}");
}

#[test]
fn random_programs_never_panic() {
    let e = engine();
    let features = tos_syscalls::testing::abi_v1();
    let syscalls: Vec<u32> = tos_syscalls::SyscallTable::global()
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    let mut rng = Rng(42);
    let mut ran = 0;
    for _ in 0..3000 {
        let mut code = Vec::new();
        // Seed the stack with values of assorted types, then random instructions.
        for c in 0..6u16 {
            Instr::Const(c).encode(&mut code);
        }
        let len = 1 + rng.below(24);
        for _ in 0..len {
            let op = Opcode::ALL[rng.below(Opcode::ALL.len())];
            let values: Vec<u32> = op
                .operands()
                .iter()
                .map(|k| match k {
                    OperandKind::Syscall => syscalls[rng.below(syscalls.len())],
                    OperandKind::Const => rng.below(6) as u32,
                    OperandKind::Chunk => 0,
                    OperandKind::Local => rng.below(4) as u32,
                    OperandKind::Target => 0,
                    _ => rng.below(4) as u32,
                })
                .collect();
            Instr::from_parts(op, &values).unwrap().encode(&mut code);
        }
        Instr::Exit().encode(&mut code);
        let constants = vec![
            U64(rng.next()),
            Bytes((0..rng.below(40)).map(|_| rng.next() as u8).collect()),
            U8(rng.next() as u8),
            ValueCell::Array(vec![U64(1), Null]),
            ValueCell::String("s".into()),
            Bool(true),
        ];
        let mut m = Module {
            constants,
            ..Module::default()
        };
        m.chunks.push(crate::module::Chunk {
            args: 1,
            rets: 0,
            locals: 4,
            code,
        });
        m.entries.insert(0, 0);
        let Ok(bytes) = m.to_bytes() else { continue };
        if let Ok(p) = e.prepare(&bytes, &features) {
            ran += 1;
            run_everything(p.as_ref(), &[1, 2, 3]);
        }
    }
    assert!(ran > 200, "{ran}");
}

#[test]
fn every_opcode_is_exercised_by_these_tests() {
    let source = include_str!("tests.rs").replace("\\n", " ");
    let words: std::collections::HashSet<&str> = source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .collect();
    for op in Opcode::ALL {
        assert!(words.contains(op.name()), "no test uses `{}`", op.name());
    }
}

#[test]
fn errors_stay_small() {
    assert!(
        std::mem::size_of::<VmError>() <= 64,
        "{}",
        std::mem::size_of::<VmError>()
    );
}

#[test]
fn every_option_that_changes_results_changes_the_version() {
    use crate::{LegacyConfig, LegacyEngine};
    let version =
        |c: &LegacyConfig| ExecutionEngine::version(&LegacyEngine::new(c.clone()).unwrap());
    let default = version(&LegacyConfig::default());
    assert_eq!(default, 1);
    let mut small = LegacyConfig::default();
    small.set_max_module_size(1000);
    let mut shallow = LegacyConfig::default();
    shallow.set_max_call_depth(8);
    let versions = [default, version(&small), version(&shallow)];
    let distinct: std::collections::BTreeSet<_> = versions.iter().collect();
    assert_eq!(distinct.len(), 3, "{versions:?}");
    assert!(versions[1] >= 0x8000_0000 && versions[2] >= 0x8000_0000);
}
