//! The bodies of the fuzz targets of `fuzz/` (cargo-fuzz, nightly), as plain functions.
//!
//! Each `pub fn name(data: &[u8])` feeds hostile bytes to one public entry point and panics
//! only when the code under test panicked or broke an invariant it promises (a round trip that
//! does not round-trip, interpreter and JIT that disagree). The fuzz targets are one-line
//! wrappers over these, and `tests/tests/fuzz_corpus.rs` replays every committed corpus and
//! crash file through them on stable Rust, so a fixed crash stays fixed.
//!
//! Engines and hosts are built once per process (they are expensive: a JIT, a wasmtime
//! engine) and shared by every input; everything an input can change (the state a module runs
//! over with the real host) is built fresh per input.

use std::sync::{Arc, LazyLock};

use tos_engine_api::{
    Call, CallInput, ExecutionEngine, Gas, ModuleTag, Outcome, PreparedModule, Protocol,
};
use tos_engine_legacy::{LegacyConfig, LegacyEngine};
use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
use tos_engine_wasm::{WasmConfig, WasmEngine};
use tos_host::{
    ActivationSchedule, CallFrame, ContractModule, DEFAULT_MAX_MODULE_SIZE, DeployRequest,
    EngineRegistry, Host, HostConfig, InvokeRequest, MemoryProvider, TxContext,
};
use tos_syscalls::testing::abi_v1;

/// Gas limit of a call made on a module that loaded (small: the fuzzer wants many inputs per
/// second, and a loop costs the same in both modes anyway).
const CALL_GAS: Gas = 20_000;

/// Constructor and call budget of a deploy, on top of what the deploy itself costs.
const DEPLOY_EXTRA_GAS: Gas = 100_000;

/// Whether rbpf has a JIT on this target.
const HAS_JIT: bool = cfg!(all(target_arch = "x86_64", not(target_os = "windows")));

static PROTOCOL: LazyLock<Protocol> = LazyLock::new(abi_v1);

fn tbpf_engine(jit: bool) -> TbpfEngine {
    let mut config = TbpfConfig::default();
    config.set_jit(jit);
    TbpfEngine::new(config).expect("the default TBPF configuration is valid")
}

static TBPF_INTERPRETER: LazyLock<Arc<TbpfEngine>> = LazyLock::new(|| Arc::new(tbpf_engine(false)));
static TBPF_JIT: LazyLock<Option<Arc<TbpfEngine>>> =
    LazyLock::new(|| HAS_JIT.then(|| Arc::new(tbpf_engine(true))));
static LEGACY: LazyLock<Arc<LegacyEngine>> = LazyLock::new(|| {
    Arc::new(LegacyEngine::new(LegacyConfig::default()).expect("legacy defaults are valid"))
});
static WASM: LazyLock<Arc<WasmEngine>> = LazyLock::new(|| {
    Arc::new(WasmEngine::new(WasmConfig::default()).expect("wasm defaults are valid"))
});

/// The devnet host (every engine, the JIT where there is one), with a small module cache.
static DEVNET_HOST: LazyLock<Host> = LazyLock::new(|| {
    let mut config = HostConfig::default();
    config.set_cache_capacity(16);
    Host::with_config(registry(), ActivationSchedule::devnet(), config)
        .expect("the devnet schedule is valid")
});

/// A registry of the shared engines (cheap: no engine is started again).
fn registry() -> EngineRegistry {
    let mut registry = EngineRegistry::empty();
    let tbpf: Arc<dyn ExecutionEngine> = match TBPF_JIT.as_ref() {
        Some(jit) => jit.clone(),
        None => TBPF_INTERPRETER.clone(),
    };
    let legacy: Arc<dyn ExecutionEngine> = LEGACY.clone();
    let wasm: Arc<dyn ExecutionEngine> = WASM.clone();
    for engine in [tbpf, legacy, wasm] {
        registry
            .register(engine)
            .expect("one engine per tag and version");
    }
    registry
}

fn tx(height: u64) -> TxContext {
    TxContext {
        height,
        block_hash: [height as u8; 32],
        tx_hash: [0x7a; 32],
        source: [0x11; 32],
        timestamp: 1_700_000_000 + height,
    }
}

/// The address the modules prepared here run at.
const CONTRACT: tos_engine_api::Hash = [0xC0; 32];

/// A fresh state for one run of a prepared module.
fn fresh_state() -> MemoryProvider {
    let mut state = MemoryProvider::default();
    // Something to move, burn and read, so balance syscalls do more than refuse.
    state
        .balances
        .insert((CONTRACT, tos_engine_api::NATIVE_ASSET), 1_000_000);
    state
}

/// Everything a run of a prepared module can change: the state it left and its frame
/// (events, logs, transfers, return data left unset), for comparing two runs.
type Effects = (MemoryProvider, Option<CallFrame>);

/// Runs `call` on `module` against the real host of the devnet over a fresh state; the
/// outcome (or the fault, as text) and the effects.
fn run_on_host(
    module: &dyn PreparedModule,
    call: Call,
    params: &[u8],
    gas: Gas,
) -> (Result<Outcome, String>, Effects) {
    let mut state = fresh_state();
    let ran = tos_host::testing::with_call_host(
        &DEVNET_HOST,
        &mut state,
        &tx(1),
        CONTRACT,
        call,
        params,
        |host| module.run(call, host, gas).map_err(|e| e.to_string()),
    );
    match ran {
        Ok((outcome, frame)) => (outcome, (state, Some(frame))),
        // The host itself failed (a nested call faulted the node): as text, like a fault.
        Err(e) => (Err(format!("host: {e}")), (state, None)),
    }
}

/// Runs `call` on the interpreter's and the JIT's preparation of one module and panics when
/// they differ in outcome, gas or effects.
fn compare_modes(
    what: &str,
    interpreted: &dyn PreparedModule,
    jitted: &dyn PreparedModule,
    call: Call,
    params: &[u8],
    gas: Gas,
) {
    let (a, effects_a) = run_on_host(interpreted, call, params, gas);
    let (b, effects_b) = run_on_host(jitted, call, params, gas);
    assert_eq!(
        a, b,
        "{what}: interpreter and JIT give different outcomes for {call}"
    );
    assert_eq!(
        effects_a, effects_b,
        "{what}: interpreter and JIT leave different effects for {call}"
    );
}

// ---------------------------------------------------------------------------------------------
// envelope

/// A cap small enough that inputs reach it, to exercise the cap checks.
const SMALL_CAP: usize = 4096;

/// `ContractModule::decode` of plain and compressed envelopes under two caps, a round trip of
/// what decodes through both forms, then a full devnet `Host::deploy` (and two calls when it
/// deploys) under a bounded gas limit.
pub fn envelope(data: &[u8]) {
    let full = ContractModule::decode_with_info(data, DEFAULT_MAX_MODULE_SIZE);
    let small = ContractModule::decode_with_info(data, SMALL_CAP);
    // A smaller cap may refuse more, never accept something else.
    if let Ok(small) = &small {
        assert_eq!(
            full.as_ref().ok(),
            Some(small),
            "decode under a {SMALL_CAP}-byte cap accepted what the default cap refused"
        );
    }
    let Ok((module, _form)) = full else { return };
    assert_eq!(
        module.tag.0 & 0x80,
        0,
        "a decoded tag has the compressed bit"
    );
    assert!(module.code.len() <= DEFAULT_MAX_MODULE_SIZE);

    // Round trips: plain always, compressed when cheap enough to do per input.
    let plain = module.encode();
    assert!(!plain.is_empty(), "encode of a decoded module is empty");
    assert_eq!(
        ContractModule::decode(&plain, usize::MAX).as_ref(),
        Ok(&module),
        "plain envelope does not round-trip"
    );
    if module.code.len() <= 64 * 1024 {
        let compressed = module.encode_compressed();
        assert!(!compressed.is_empty(), "encode_compressed is empty");
        assert_eq!(
            ContractModule::decode(&compressed, usize::MAX).as_ref(),
            Ok(&module),
            "compressed envelope does not round-trip"
        );
    }

    let host = &*DEVNET_HOST;
    let tx = tx(1);
    let gas_limit = host
        .protocol_at(tx.height)
        .deploy_cost(module.code.len())
        .saturating_add(DEPLOY_EXTRA_GAS);
    let mut state = MemoryProvider::default();
    let deployed = host.deploy(
        &mut state,
        &tx,
        &DeployRequest {
            envelope: data.to_vec(),
            params: vec![],
            gas_limit,
        },
    );
    let Ok(deployed) = deployed else { return };
    assert!(
        deployed.gas_used <= gas_limit,
        "deploy used {} gas over its limit {gas_limit}",
        deployed.gas_used
    );
    assert_eq!(deployed.code_hash, module.code_hash());
    if !deployed.deployed {
        return;
    }
    for call in [Call::Entry(0), Call::Entry(1)] {
        let request = InvokeRequest {
            contract: deployed.address,
            call,
            params: 7u64.to_le_bytes().to_vec(),
            gas_limit: CALL_GAS,
            deposits: vec![],
        };
        if let Ok(report) = host.invoke(&mut state, &tx, &request) {
            assert!(
                report.outcome.gas_used <= CALL_GAS,
                "{call} used {} gas over its limit {CALL_GAS}",
                report.outcome.gas_used
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tbpf_prepare

/// TBPF prepare on the interpreter and the JIT engine: both must accept or refuse alike, and
/// when both accept, calls must give identical outcomes, gas and effects.
pub fn tbpf_prepare(data: &[u8]) {
    let interpreted = TBPF_INTERPRETER.prepare(data, &PROTOCOL);
    let Some(jit) = TBPF_JIT.as_ref() else {
        if let Ok(module) = interpreted {
            let _ = run_on_host(&*module, Call::Entry(0), &[], CALL_GAS);
        }
        return;
    };
    let jitted = jit.prepare(data, &PROTOCOL);
    match (interpreted, jitted) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                a.info(),
                b.info(),
                "interpreter and JIT read different info"
            );
            let mut calls = vec![Call::Entry(0)];
            calls.extend(
                a.info()
                    .entries
                    .entries
                    .iter()
                    .take(2)
                    .map(|&id| Call::Entry(id)),
            );
            calls.extend(
                a.info()
                    .entries
                    .hooks
                    .iter()
                    .take(1)
                    .map(|&id| Call::Hook(id)),
            );
            calls.dedup();
            for call in calls {
                compare_modes("tbpf_prepare", &*a, &*b, call, &[1, 2, 3, 4], CALL_GAS);
            }
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "interpreter and JIT disagree on loading: interpreter {:?}, JIT {:?}",
            a.map(|_| "accepted"),
            b.map(|_| "accepted")
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// tbpf_link

/// Cuts `data` into 1–3 objects and links them: the first byte picks the count (low two bits)
/// and the link options (bit 2: the TOS ABI's syscall list); each object but the last is
/// preceded by its u16 LE length. A module that links is then prepared on the TBPF engine.
pub fn tbpf_link(data: &[u8]) {
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let count = 1 + usize::from(head & 3) % 3;
    let mut objects: Vec<&[u8]> = Vec::with_capacity(count);
    for _ in 1..count {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (object, tail) = tail.split_at(len);
        objects.push(object);
        rest = tail;
    }
    objects.push(rest);
    let names = ["a.o", "b.o", "c.o"];
    let inputs: Vec<(&str, &[u8])> = names.iter().copied().zip(objects).collect();
    let options = if head & 4 != 0 {
        tos_tbpf_link::LinkOptions::tos_abi()
    } else {
        tos_tbpf_link::LinkOptions::default()
    };
    let Ok(linked) = tos_tbpf_link::link_module(&inputs, &options) else {
        return;
    };
    // Output depends only on the input bytes and their order.
    let again = tos_tbpf_link::link(&inputs, &options).expect("a second link of the same input");
    assert_eq!(linked.bytes, again, "two links of the same objects differ");
    if let Ok(module) = TBPF_INTERPRETER.prepare(&linked.bytes, &PROTOCOL) {
        let _ = run_on_host(&*module, Call::Entry(0), &[], CALL_GAS);
    }
}

// ---------------------------------------------------------------------------------------------
// legacy_module

/// Legacy module decode, a round trip of what decodes, prepare, and a run of entry 0 with a
/// small gas limit when it loads.
pub fn legacy_module(data: &[u8]) {
    if let Ok(module) = tos_engine_legacy::Module::from_bytes(data)
        && let Ok(bytes) = module.to_bytes()
    {
        let again = tos_engine_legacy::Module::from_bytes(&bytes)
            .expect("the encoding of a decoded module decodes");
        assert_eq!(
            again.to_bytes().ok(),
            Some(bytes),
            "legacy module encoding is not stable"
        );
        // The text form must not panic either (tools print untrusted modules).
        let _ = tos_engine_legacy::disassemble(&module);
    }
    let Ok(prepared) = LEGACY.prepare(data, &PROTOCOL) else {
        return;
    };
    let _ = prepared.disassemble();
    let (outcome, _) = run_on_host(&*prepared, Call::Entry(0), &[9; 16], CALL_GAS);
    if let Ok(outcome) = outcome {
        assert!(outcome.gas_used <= CALL_GAS, "legacy call overran its gas");
    }
}

// ---------------------------------------------------------------------------------------------
// wasm_prepare

/// Wasm prepare, and a call of entry 0 (and the constructor) with a small gas limit when it
/// loads.
pub fn wasm_prepare(data: &[u8]) {
    let Ok(module) = WASM.prepare(data, &PROTOCOL) else {
        return;
    };
    for call in [Call::Entry(0), Call::Hook(0)] {
        let (outcome, _) = run_on_host(&*module, call, &[5; 8], CALL_GAS);
        if let Ok(outcome) = outcome {
            assert!(outcome.gas_used <= CALL_GAS, "wasm call overran its gas");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// call_input

/// `CallInput::decode`, and an exact round trip of what decodes.
pub fn call_input(data: &[u8]) {
    let Ok(input) = CallInput::decode(data) else {
        return;
    };
    let encoded = input
        .try_encode()
        .expect("decoded params fit the length field");
    assert_eq!(encoded, data, "call input does not re-encode to its bytes");
    assert_eq!(CallInput::decode(&encoded).as_ref(), Ok(&input));
    let header =
        CallInput::header(input.call, input.params.len()).expect("decoded params fit the header");
    assert_eq!(&header[..], &data[..8]);
}

// ---------------------------------------------------------------------------------------------
// schedule_toml

/// `ActivationSchedule::from_toml_str` on the input as (lossy) UTF-8; a schedule that parses
/// is checked, built into a host over the shared engines, and asked its predicates.
pub fn schedule_toml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(schedule) = ActivationSchedule::from_toml_str(&text) else {
        return;
    };
    let _ = schedule.check();
    let mut heights = schedule.protocol_heights();
    heights.extend([0, 1, u64::MAX]);
    for tag in [
        ModuleTag::LEGACY,
        ModuleTag::TBPF,
        ModuleTag::WASM,
        ModuleTag(9),
    ] {
        for &h in &heights {
            let _ = schedule.check_deploy(tag, h);
            let _ = schedule.engine_version(tag, h);
        }
    }
    for &h in &heights {
        let _ = schedule.features_at(h);
        let _ = schedule.gas_at(h).1.count();
    }
    let Ok(host) = Host::new(registry(), schedule) else {
        return;
    };
    for &h in &heights {
        let protocol = host.protocol_at(h);
        let _ = (protocol.deploy_cost(usize::MAX), protocol.intrinsic());
        let _ = host.features_at(h);
    }
}

// ---------------------------------------------------------------------------------------------
// sbpf_differential

/// Random SBPF programs, interpreter against JIT: see [`sbpf`] for how the input becomes a
/// program and a module.
pub fn sbpf_differential(data: &[u8]) {
    let Some(jit) = TBPF_JIT.as_ref() else { return };
    let program = sbpf::Program::from_fuzz(data);
    let elf = program.elf();
    let interpreted = TBPF_INTERPRETER.prepare(&elf, &PROTOCOL);
    let jitted = jit.prepare(&elf, &PROTOCOL);
    match (interpreted, jitted) {
        (Ok(a), Ok(b)) => {
            compare_modes(
                "sbpf_differential",
                &*a,
                &*b,
                Call::Entry(program.entry),
                &program.params,
                program.gas,
            );
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "interpreter and JIT disagree on loading a generated program: interpreter {:?}, JIT {:?}",
            a.map(|_| "accepted"),
            b.map(|_| "accepted")
        ),
    }
}

/// A generator of SBPF programs from fuzz bytes and a writer of the minimal ELF module that
/// holds one (`.text`, `.dynamic`, `.dynsym` with `entrypoint`, `.dynstr`, `.rel.dyn` for
/// SBPFv1 syscall imports), in the shape rbpf 0.8.5's loader and the engine's checks accept.
pub mod sbpf {
    /// Slots of the text at most (the generator stops there).
    const MAX_SLOTS: usize = 512;

    /// The syscalls a program may import: those of ABI v1, as the linker knows them (the
    /// first 17 of its list; the generator runs under ABI v1, and its corpus keeps meaning
    /// the same programs).
    const SYSCALLS: &[&str] = tos_tbpf_link::TOS_SYSCALLS.split_at(17).0;

    /// ALU operations (high nibble) valid in both SBPF versions.
    const ALU_COMMON: &[u8] = &[0x00, 0x10, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0];
    /// ALU operations of SBPFv1 only (mul, div, neg, mod).
    const ALU_V1: &[u8] = &[0x20, 0x30, 0x80, 0x90];
    /// SBPFv2 product/quotient/remainder opcodes (class 6), immediate and register forms.
    const PQR_V2: &[u8] = &[
        0x36, 0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e, 0x86, 0x8e, 0x96, 0x9e, 0xb6,
        0xbe, 0xc6, 0xce, 0xd6, 0xde, 0xe6, 0xee, 0xf6, 0xfe,
    ];
    /// Conditional jumps (immediate form; `| 0x08` is the register form).
    const JUMPS: &[u8] = &[
        0x15, 0x25, 0x35, 0x45, 0x55, 0x65, 0x75, 0xa5, 0xb5, 0xc5, 0xd5,
    ];
    /// Load, store-immediate and store-register opcodes for sizes b, h, w, dw.
    const LDX: [u8; 4] = [0x71, 0x69, 0x61, 0x79];
    const ST: [u8; 4] = [0x72, 0x6a, 0x62, 0x7a];
    const STX: [u8; 4] = [0x73, 0x6b, 0x63, 0x7b];

    const CALL_IMM: u8 = 0x85;
    const CALLX: u8 = 0x8d;
    const EXIT: u8 = 0x95;
    const JA: u8 = 0x05;
    const LDDW: u8 = 0x18;
    const MOV64_IMM: u8 = 0xb7;
    const MOV64_REG: u8 = 0xbf;
    const ADD64_IMM: u8 = 0x07;
    const MOV32_IMM: u8 = 0xb4;
    const HOR64_IMM: u8 = 0xf7;

    /// rbpf's region starts.
    const MM_PROGRAM_START: u64 = 0x1_0000_0000;
    const MM_HEAP_START: u64 = 0x3_0000_0000;
    const MM_INPUT_START: u64 = 0x4_0000_0000;

    /// One 8-byte instruction slot.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Insn {
        opc: u8,
        dst: u8,
        src: u8,
        off: i16,
        imm: i32,
    }

    impl Insn {
        fn new(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
            Insn {
                opc,
                dst,
                src,
                off,
                imm,
            }
        }
        fn bytes(self) -> [u8; 8] {
            let off = self.off.to_le_bytes();
            let imm = self.imm.to_le_bytes();
            [
                self.opc,
                (self.src << 4) | (self.dst & 0xf),
                off[0],
                off[1],
                imm[0],
                imm[1],
                imm[2],
                imm[3],
            ]
        }
    }

    /// What a slot will become once the whole program is known.
    #[derive(Clone, Debug)]
    enum Slot {
        Plain(Insn),
        /// A jump (opcode given) to `target % len` slots; `off` is computed at the end.
        Jump(Insn, u16),
        /// A pc-relative call to slot `target % len`.
        Call(u16),
        /// A call of syscall `SYSCALLS[i]`.
        Syscall(usize),
    }

    /// A generated program: its text, what to call and with how much gas.
    #[derive(Clone, Debug)]
    pub struct Program {
        /// SBPFv2 (`e_flags` 0x20, static syscalls) instead of SBPFv1.
        pub v2: bool,
        /// The instruction slots.
        text: Vec<[u8; 8]>,
        /// Syscall imports by slot (SBPFv1 relocations).
        imports: Vec<(usize, &'static str)>,
        /// The entry id called (the module dispatches itself, so any id runs `entrypoint`).
        pub entry: u16,
        /// The call's params.
        pub params: Vec<u8>,
        /// The gas limit.
        pub gas: u64,
    }

    /// A reader of fuzz bytes that yields zeros once they run out.
    struct Bytes<'a>(&'a [u8]);
    impl Bytes<'_> {
        fn u8(&mut self) -> u8 {
            match self.0.split_first() {
                Some((&b, rest)) => {
                    self.0 = rest;
                    b
                }
                None => 0,
            }
        }
        fn u16(&mut self) -> u16 {
            u16::from_le_bytes([self.u8(), self.u8()])
        }
        fn i32(&mut self) -> i32 {
            i32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
        }
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[usize::from(self.u8()) % items.len()]
        }
        fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    /// A register a program may write (r0–r9).
    fn dst(b: u8) -> u8 {
        b % 10
    }

    /// Any register (r0–r10).
    fn src(b: u8) -> u8 {
        b % 11
    }

    impl Program {
        /// Builds a program from fuzz bytes: a header (version, gas, params), then
        /// instructions of 1–8 bytes each drawn from the valid opcode space, with memory
        /// operands biased towards the stack, heap and input, jumps and calls kept inside the
        /// text, and syscalls called with pointer/length arguments into the stack.
        pub fn from_fuzz(data: &[u8]) -> Program {
            let mut b = Bytes(data);
            let flags = b.u8();
            let v2 = flags & 1 != 0;
            let gas = 1 + u64::from(b.u16()) % 50_000;
            let params_len = usize::from(b.u8() % 32);
            let params: Vec<u8> = (0..params_len).map(|_| b.u8()).collect();
            let mut slots: Vec<Slot> = Vec::new();
            // Registers start as rbpf sets them (r1 = input, r10 = frame); give the program a
            // heap pointer in r9 and some stack contents, so effects are visible.
            push_addr(&mut slots, v2, 9, MM_HEAP_START);
            while !b.is_empty() && slots.len() < MAX_SLOTS - 16 {
                generate(&mut b, v2, &mut slots);
            }
            // Never fall off the end: return r0.
            slots.push(Slot::Plain(Insn::new(EXIT, 0, 0, 0, 0)));
            let len = slots.len();
            // Jumps and calls must not land on the second slot of an `lddw`.
            let lddw_hi: Vec<bool> = (0..len)
                .map(|pc| !v2 && pc > 0 && matches!(slots[pc - 1], Slot::Plain(i) if i.opc == LDDW))
                .collect();
            // SBPFv2's verifier cuts the text into functions at call targets, wants each to
            // end in `exit` (or `ja`) and no jump to leave its function: there, the text is
            // cut into segments after each `exit`, calls go to segment starts and jumps stay
            // inside their segment.
            let mut starts = vec![0usize];
            for (pc, slot) in slots.iter().enumerate() {
                if matches!(slot, Slot::Plain(i) if i.opc == EXIT) && pc + 1 < len {
                    starts.push(pc + 1);
                }
            }
            let segment = |pc: usize| {
                let i = starts.partition_point(|&start| start <= pc) - 1;
                (starts[i], starts.get(i + 1).copied().unwrap_or(len))
            };
            let jump_target = |pc: usize, target: u16| {
                if v2 {
                    let (start, end) = segment(pc);
                    return start + usize::from(target) % (end - start);
                }
                let target = usize::from(target) % len;
                if lddw_hi[target] { target - 1 } else { target }
            };
            let call_target = |target: u16| {
                if v2 {
                    return starts[usize::from(target) % starts.len()];
                }
                let target = usize::from(target) % len;
                if lddw_hi[target] { target - 1 } else { target }
            };
            let mut text = Vec::with_capacity(len);
            let mut imports = Vec::new();
            for (pc, slot) in slots.iter().enumerate() {
                let insn = match slot {
                    Slot::Plain(insn) => *insn,
                    Slot::Jump(insn, target) => {
                        let target = jump_target(pc, *target);
                        let off = target as i64 - pc as i64 - 1;
                        Insn {
                            off: off as i16,
                            ..*insn
                        }
                    }
                    Slot::Call(target) => {
                        let target = call_target(*target);
                        let rel = target as i64 - pc as i64 - 1;
                        if rel == -1 {
                            // `call -1` reads as an unresolved call in SBPFv1: call the next
                            // slot instead.
                            Insn::new(CALL_IMM, 0, 1, 0, 0)
                        } else {
                            Insn::new(CALL_IMM, 0, 1, 0, rel as i32)
                        }
                    }
                    Slot::Syscall(i) => {
                        let name = SYSCALLS[*i];
                        if v2 {
                            let hash = tos_syscalls::murmur3_32(name.as_bytes(), 0);
                            Insn::new(CALL_IMM, 0, 0, 0, hash as i32)
                        } else {
                            imports.push((pc, name));
                            Insn::new(CALL_IMM, 0, 0, 0, -1)
                        }
                    }
                };
                text.push(insn.bytes());
            }
            Program {
                v2,
                text,
                imports,
                entry: u16::from(flags >> 4),
                params,
                gas,
            }
        }

        /// The number of instruction slots.
        pub fn len(&self) -> usize {
            self.text.len()
        }

        /// Whether the program has no instruction (never: it always ends with `exit`).
        pub fn is_empty(&self) -> bool {
            self.text.is_empty()
        }

        /// The module: a minimal ELF shared object holding the program.
        pub fn elf(&self) -> Vec<u8> {
            write_elf(self)
        }
    }

    /// Loads a 64-bit constant into `reg`: `lddw` (SBPFv1) or `mov32` + `hor64` (SBPFv2).
    fn push_addr(slots: &mut Vec<Slot>, v2: bool, reg: u8, value: u64) {
        let (lo, hi) = (value as u32 as i32, (value >> 32) as u32 as i32);
        if v2 {
            slots.push(Slot::Plain(Insn::new(MOV32_IMM, reg, 0, 0, lo)));
            slots.push(Slot::Plain(Insn::new(HOR64_IMM, reg, 0, 0, hi)));
        } else {
            slots.push(Slot::Plain(Insn::new(LDDW, reg, 0, 0, lo)));
            slots.push(Slot::Plain(Insn::new(0, 0, 0, 0, hi)));
        }
    }

    /// A memory operand: a base register and an offset, mostly somewhere valid.
    fn mem_operand(b: &mut Bytes<'_>, size: i16) -> (u8, i16) {
        let sel = b.u8();
        let raw = b.u16();
        match sel % 6 {
            // The stack frame: below r10.
            0..=2 => (10, -(((raw % 512) as i16 + 1) * size.max(1)).max(-4096)),
            // The heap through r9 (valid unless the program moved r9).
            3 => (9, ((raw % 4096) as i16) & !(size - 1)),
            // The input through r1 (read-only: stores trap).
            4 => (1, (raw % 64) as i16),
            // Anything.
            _ => (src(raw as u8), raw as i16),
        }
    }

    /// Appends one generated instruction (or a short sequence) to `slots`.
    fn generate(b: &mut Bytes<'_>, v2: bool, slots: &mut Vec<Slot>) {
        let kind = b.u8();
        let regs = b.u8();
        let (d, s) = (dst(regs & 0xf), src(regs >> 4));
        match kind % 16 {
            // ALU, 64 or 32 bit, immediate or register.
            0..=3 => {
                let op = if v2 || kind & 0x80 == 0 {
                    b.pick(ALU_COMMON)
                } else {
                    b.pick(ALU_V1)
                };
                let class = if kind & 0x40 != 0 { 0x07 } else { 0x04 };
                // neg has no register form.
                let source = if kind & 0x20 != 0 && op != 0x80 {
                    0x08
                } else {
                    0x00
                };
                let imm = fix_imm(op, class == 0x07, source == 0, small_imm(b));
                slots.push(Slot::Plain(Insn::new(op | class | source, d, s, 0, imm)));
            }
            // Byte swaps: be16/32/64 (le too in SBPFv1).
            4 => {
                let opc = if v2 || kind & 0x80 == 0 { 0xdc } else { 0xd4 };
                let imm = [16, 32, 64][usize::from(b.u8()) % 3];
                slots.push(Slot::Plain(Insn::new(opc, d, 0, 0, imm)));
            }
            // Product/quotient/remainder of SBPFv2; a mov otherwise.
            5 => {
                let imm = small_imm(b);
                if v2 {
                    let opc = b.pick(PQR_V2);
                    // The verifier refuses a division by an immediate 0.
                    let imm = if opc & 0x08 == 0 && imm == 0 { 1 } else { imm };
                    slots.push(Slot::Plain(Insn::new(opc, d, s, 0, imm)));
                } else {
                    slots.push(Slot::Plain(Insn::new(MOV64_IMM, d, 0, 0, imm)));
                }
            }
            // A 64-bit constant or an address in a region.
            6 => {
                let value = match b.u8() % 5 {
                    0 => MM_HEAP_START + u64::from(b.u16() % 0x9000),
                    1 => MM_INPUT_START + u64::from(b.u8()),
                    2 => MM_PROGRAM_START + u64::from(b.u16()),
                    _ => u64::from(b.i32() as u32) | (u64::from(b.i32() as u32) << 32),
                };
                push_addr(slots, v2, d, value);
            }
            // Loads.
            7 => {
                let size = b.u8() % 4;
                let (base, off) = mem_operand(b, 1 << size);
                slots.push(Slot::Plain(Insn::new(
                    LDX[usize::from(size)],
                    d,
                    base,
                    off,
                    0,
                )));
            }
            // Stores of a register or an immediate.
            8 | 9 => {
                let size = b.u8() % 4;
                let (base, off) = mem_operand(b, 1 << size);
                let insn = if kind & 1 == 0 {
                    Insn::new(STX[usize::from(size)], base, s, off, 0)
                } else {
                    Insn::new(ST[usize::from(size)], base, 0, off, small_imm(b))
                };
                slots.push(Slot::Plain(insn));
            }
            // Conditional and unconditional jumps.
            10 | 11 => {
                let opc = if kind & 0x80 != 0 {
                    JA
                } else {
                    b.pick(JUMPS) | if kind & 0x40 != 0 { 0x08 } else { 0 }
                };
                let target = b.u16();
                let imm = small_imm(b);
                slots.push(Slot::Jump(Insn::new(opc, d, s, 0, imm), target));
            }
            // Calls: internal, indirect (callx), or a syscall with pointer/length arguments.
            12 => slots.push(Slot::Call(b.u16())),
            13 => {
                if kind & 0x80 != 0 {
                    // callx: SBPFv1 takes the register from imm, SBPFv2 from src (not r10).
                    let s = s % 10;
                    let insn = if v2 {
                        Insn::new(CALLX, 0, s, 0, 0)
                    } else {
                        Insn::new(CALLX, 0, 0, 0, i32::from(s))
                    };
                    slots.push(Slot::Plain(insn));
                } else {
                    slots.push(Slot::Plain(Insn::new(EXIT, 0, 0, 0, 0)));
                }
            }
            14 | 15 => {
                let which = usize::from(b.u8()) % SYSCALLS.len();
                // r1..r4: stack pointers and small lengths.
                for reg in [1u8, 3] {
                    let back = i32::from(b.u8() % 64 + 1) * 8;
                    slots.push(Slot::Plain(Insn::new(MOV64_REG, reg, 10, 0, 0)));
                    slots.push(Slot::Plain(Insn::new(ADD64_IMM, reg, 0, 0, -back)));
                    let len = i32::from(b.u8() % 48);
                    slots.push(Slot::Plain(Insn::new(MOV64_IMM, reg + 1, 0, 0, len)));
                }
                slots.push(Slot::Syscall(which));
            }
            _ => unreachable!("kind % 16"),
        }
    }

    /// An immediate the verifier accepts for ALU operation `op`: no division by an immediate
    /// 0, no shift by the operand's width or more.
    fn fix_imm(op: u8, wide: bool, immediate: bool, imm: i32) -> i32 {
        if !immediate {
            return imm;
        }
        match op {
            0x30 | 0x90 if imm == 0 => 1,
            0x60 | 0x70 | 0xc0 => imm.rem_euclid(if wide { 64 } else { 32 }),
            _ => imm,
        }
    }

    /// An immediate: mostly small, sometimes extreme.
    fn small_imm(b: &mut Bytes<'_>) -> i32 {
        match b.u8() % 4 {
            0 => b.i32(),
            1 => [0, 1, -1, i32::MIN, i32::MAX, 63, 64, 32, 31][usize::from(b.u8()) % 9],
            _ => i32::from(b.u8() as i8),
        }
    }

    fn put_u16(v: &mut [u8], at: usize, x: u16) {
        v[at..at + 2].copy_from_slice(&x.to_le_bytes());
    }
    fn put_u32(v: &mut [u8], at: usize, x: u32) {
        v[at..at + 4].copy_from_slice(&x.to_le_bytes());
    }
    fn put_u64(v: &mut [u8], at: usize, x: u64) {
        v[at..at + 8].copy_from_slice(&x.to_le_bytes());
    }
    fn align8(v: &mut Vec<u8>) {
        v.resize(v.len().next_multiple_of(8), 0);
    }

    const EHDR: usize = 64;
    const PHDR: usize = 56;
    const SHDR: usize = 64;

    /// Writes the module: ELF header, `PT_LOAD` over everything loadable and `PT_DYNAMIC`,
    /// `.text` at the first 8-byte boundary after the headers, then the dynamic tables, then
    /// the section names and headers. Virtual addresses equal file offsets (SBPFv1) or file
    /// offsets plus `MM_PROGRAM_START` (SBPFv2).
    fn write_elf(p: &Program) -> Vec<u8> {
        let base = if p.v2 { MM_PROGRAM_START } else { 0 };
        let mut out = vec![0u8; EHDR + 2 * PHDR];
        align8(&mut out);
        let text_off = out.len();
        let text_vaddr = base + text_off as u64;
        for slot in &p.text {
            out.extend_from_slice(slot);
        }
        let text_size = p.text.len() * 8;

        // .dynsym: null, the imports, then `entrypoint` at the start of .text.
        let mut dynstr = vec![0u8];
        let mut syms: Vec<(u32, u8, u16, u64)> = vec![(0, 0, 0, 0)];
        let mut import_sym = std::collections::BTreeMap::new();
        for (_, name) in &p.imports {
            if !import_sym.contains_key(name) {
                import_sym.insert(*name, syms.len() as u32);
                syms.push((dynstr.len() as u32, 0x10, 0, 0));
                dynstr.extend_from_slice(name.as_bytes());
                dynstr.push(0);
            }
        }
        syms.push((dynstr.len() as u32, 0x12, 1, text_vaddr));
        dynstr.extend_from_slice(b"entrypoint\0");
        let relocs: Vec<(u64, u64)> = p
            .imports
            .iter()
            .map(|(pc, name)| {
                let offset = text_vaddr + (*pc as u64) * 8;
                (offset, (u64::from(import_sym[name]) << 32) | 10) // R_BPF_64_32
            })
            .collect();

        let dyn_count = if relocs.is_empty() { 6 } else { 9 };
        align8(&mut out);
        let dynamic_off = out.len();
        out.resize(out.len() + dyn_count * 16, 0);
        let dynsym_off = out.len();
        for (name, info, shndx, value) in &syms {
            let mut s = [0u8; 24];
            put_u32(&mut s, 0, *name);
            s[4] = *info;
            put_u16(&mut s, 6, *shndx);
            put_u64(&mut s, 8, *value);
            out.extend_from_slice(&s);
        }
        let dynstr_off = out.len();
        out.extend_from_slice(&dynstr);
        align8(&mut out);
        let rel_off = out.len();
        for (offset, info) in &relocs {
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&info.to_le_bytes());
        }
        let load_end = out.len();
        let mut dyns: Vec<(u64, u64)> = vec![
            (6, base + dynsym_off as u64), // DT_SYMTAB
            (5, base + dynstr_off as u64), // DT_STRTAB
            (10, dynstr.len() as u64),     // DT_STRSZ
            (11, 24),                      // DT_SYMENT
        ];
        if !relocs.is_empty() {
            dyns.push((17, base + rel_off as u64)); // DT_REL
            dyns.push((18, (relocs.len() * 16) as u64)); // DT_RELSZ
            dyns.push((19, 16)); // DT_RELENT
        }
        dyns.push((0x6fff_fffb, 0)); // DT_FLAGS_1
        dyns.push((0, 0)); // DT_NULL
        for (i, (tag, value)) in dyns.iter().enumerate() {
            put_u64(&mut out, dynamic_off + i * 16, *tag);
            put_u64(&mut out, dynamic_off + i * 16 + 8, *value);
        }

        // Section headers: (name, type, flags, offset, size, link, info, entsize).
        let mut names = vec![0u8];
        let mut name = |n: &str| {
            let at = names.len() as u32;
            names.extend_from_slice(n.as_bytes());
            names.push(0);
            at
        };
        type Sh = (u32, u32, u64, usize, usize, u32, u32, u64);
        let mut shdrs: Vec<Sh> = vec![(0, 0, 0, 0, 0, 0, 0, 0)];
        shdrs.push((name(".text"), 1, 0x6, text_off, text_size, 0, 0, 0));
        let dynstr_index = shdrs.len() as u32 + 2;
        shdrs.push((
            name(".dynamic"),
            6,
            0x3,
            dynamic_off,
            dyn_count * 16,
            dynstr_index,
            0,
            16,
        ));
        let dynsym_index = shdrs.len() as u32;
        shdrs.push((
            name(".dynsym"),
            11,
            0x2,
            dynsym_off,
            syms.len() * 24,
            dynstr_index,
            1,
            24,
        ));
        shdrs.push((name(".dynstr"), 3, 0x2, dynstr_off, dynstr.len(), 0, 0, 0));
        if !relocs.is_empty() {
            shdrs.push((
                name(".rel.dyn"),
                9,
                0x2,
                rel_off,
                relocs.len() * 16,
                dynsym_index,
                0,
                16,
            ));
        }
        let shstrtab_name = name(".shstrtab");
        let shstrtab_off = out.len();
        out.extend_from_slice(&names);
        shdrs.push((shstrtab_name, 3, 0, shstrtab_off, names.len(), 0, 0, 0));
        align8(&mut out);
        let shoff = out.len();
        let last = shdrs.len() - 1;
        for (i, (name, ty, flags, off, size, link, info, entsize)) in
            shdrs.iter().copied().enumerate()
        {
            let mut s = [0u8; SHDR];
            put_u32(&mut s, 0, name);
            put_u32(&mut s, 4, ty);
            put_u64(&mut s, 8, flags);
            // Allocated sections have addresses; the null section and .shstrtab do not.
            let addr = if i == 0 || i == last {
                0
            } else {
                base + off as u64
            };
            put_u64(&mut s, 16, addr);
            put_u64(&mut s, 24, off as u64);
            put_u64(&mut s, 32, size as u64);
            put_u32(&mut s, 40, link);
            put_u32(&mut s, 44, info);
            put_u64(&mut s, 48, if i == last { 1 } else { 8 });
            put_u64(&mut s, 56, entsize);
            out.extend_from_slice(&s);
        }

        out[0..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little-endian
        out[6] = 1; // EV_CURRENT
        put_u16(&mut out, 16, 3); // ET_DYN
        put_u16(&mut out, 18, 247); // EM_BPF
        put_u32(&mut out, 20, 1);
        put_u64(&mut out, 24, text_vaddr); // e_entry: `entrypoint`
        put_u64(&mut out, 32, EHDR as u64);
        put_u64(&mut out, 40, shoff as u64);
        put_u32(&mut out, 48, if p.v2 { 0x20 } else { 0 });
        put_u16(&mut out, 52, EHDR as u16);
        put_u16(&mut out, 54, PHDR as u16);
        put_u16(&mut out, 56, 2);
        put_u16(&mut out, 58, SHDR as u16);
        put_u16(&mut out, 60, shdrs.len() as u16);
        put_u16(&mut out, 62, last as u16);
        for (i, (ty, flags, off, size)) in [
            (1u32, 7u32, 0usize, load_end),
            (2, 6, dynamic_off, dyn_count * 16),
        ]
        .into_iter()
        .enumerate()
        {
            let at = EHDR + i * PHDR;
            put_u32(&mut out, at, ty);
            put_u32(&mut out, at + 4, flags);
            put_u64(&mut out, at + 8, off as u64);
            put_u64(&mut out, at + 16, base + off as u64);
            put_u64(&mut out, at + 24, base + off as u64);
            put_u64(&mut out, at + 32, size as u64);
            put_u64(&mut out, at + 40, size as u64);
            put_u64(&mut out, at + 48, 8);
        }
        out
    }
}
