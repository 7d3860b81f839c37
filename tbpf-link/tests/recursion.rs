//! Recursion through the linker and the TBPF engine: direct recursion of global and static
//! functions, mutual recursion, a recursive entry, and functions whose first instruction calls
//! themselves (`call -1`, which solana-rbpf 0.8.5's SBPFv1 loader takes for an unresolved call
//! and which the linker therefore emits as an `R_BPF_64_32` relocation against a `.dynsym`
//! symbol of the function). Every module is linked from `tests/fixtures/recursion.o` (and a
//! fresh clang build when clang is present), loaded by rbpf's own loader and by `TbpfEngine`,
//! and run on the interpreter and the JIT, which must agree on status, gas and return data.
//! Recursion past the call-depth limit traps with `CallDepthExceeded`.

mod common;

use std::sync::{Arc, LazyLock};

use goblin::elf::{Elf, sym};
use tos_engine_api::{Call, ExecutionEngine, ExitStatus, Outcome, PreparedModule, Trap};
use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
use tos_host::{Host, MemoryProvider, TxContext};
use tos_tbpf_link::{LinkOptions, link};

/// Gas for every run: far more than any call below uses.
const GAS: u64 = 50_000_000;

fn linked() -> Vec<Vec<u8>> {
    common::variants("recursion")
        .iter()
        .map(|o| {
            link(&[("recursion.o", o.as_slice())], &LinkOptions::tos_abi())
                .unwrap_or_else(|e| panic!("link: {e}"))
        })
        .collect()
}

/// Interpreter and JIT engines (the JIT where rbpf has one) with call depth `depth`.
fn engines(depth: usize) -> Vec<(&'static str, TbpfEngine)> {
    let modes: &[(&str, bool)] = if cfg!(all(target_arch = "x86_64", not(target_os = "windows"))) {
        &[("interpreter", false), ("jit", true)]
    } else {
        &[("interpreter", false)]
    };
    modes
        .iter()
        .map(|(name, jit)| {
            let mut c = TbpfConfig::default();
            c.set_jit(*jit).set_call_depth(depth);
            (*name, TbpfEngine::new(c).expect("valid configuration"))
        })
        .collect()
}

/// The module prepared on every engine.
fn prepare(code: &[u8], depth: usize) -> Vec<(&'static str, Arc<dyn PreparedModule>)> {
    engines(depth)
        .into_iter()
        .map(|(name, engine)| {
            let m = engine
                .prepare(code, &tos_syscalls::testing::abi_v1())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, m)
        })
        .collect()
}

/// The real host, which every call runs against.
static HOST: LazyLock<Host> = LazyLock::new(tos_host::testing::devnet_host);

/// Runs entry `id` with `n` as params on every prepared module; they must agree exactly.
fn run(modules: &[(&'static str, Arc<dyn PreparedModule>)], id: u16, n: u64) -> Outcome {
    let call = Call::Entry(id);
    let params = n.to_le_bytes();
    let tx = TxContext {
        height: 1,
        ..TxContext::default()
    };
    let mut outcomes = modules.iter().map(|(name, m)| {
        let mut state = MemoryProvider::default();
        let (o, _) = tos_host::testing::with_call_host(
            &HOST,
            &mut state,
            &tx,
            [1; 32],
            call,
            &params,
            |h| m.run(call, h, GAS),
        )
        .unwrap_or_else(|e| panic!("{name}: the host failed: {e}"));
        (*name, o.unwrap_or_else(|e| panic!("{name}: {e}")))
    });
    let (first_name, first) = outcomes.next().expect("one engine at least");
    for (name, o) in outcomes {
        assert_eq!(
            first, o,
            "{first_name} and {name} disagree on entry_{id}({n})"
        );
    }
    first
}

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn down_a(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        n.wrapping_add(2u64.wrapping_mul(down_b(n - 1)))
    }
}

fn down_b(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        n.wrapping_add(3u64.wrapping_mul(down_a(n - 1)))
    }
}

fn exit(o: &Outcome) -> u64 {
    match o.status {
        ExitStatus::Exit(v) => v,
        ref other => panic!("expected an exit, got {other:?} after {} gas", o.gas_used),
    }
}

#[test]
fn self_calls_are_emitted_as_relocations_against_the_function() {
    for code in linked() {
        let elf = Elf::parse(&code).expect("goblin reads the module");
        let text = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".text"))
            .expect(".text");
        // Dynamic R_BPF_64_32 relocations against defined functions, by symbol name.
        let mut local_calls = Vec::new();
        for r in elf.dynrels.iter().filter(|r| r.r_type == 10) {
            let s = elf.dynsyms.get(r.r_sym).expect("relocation symbol");
            if s.st_shndx == 0 {
                continue; // a syscall import
            }
            assert_eq!(s.st_type(), sym::STT_FUNC);
            let at = (r.r_offset - text.sh_offset) as usize;
            let insn = &code[text.sh_offset as usize + at..][..8];
            assert_eq!(insn[0], 0x85, "the relocation patches a call");
            assert_eq!(
                i32::from_le_bytes(insn[4..8].try_into().unwrap()),
                -1,
                "only calls of themselves need the relocation"
            );
            assert_eq!(
                r.r_offset, s.st_value,
                "the call is the function's first instruction"
            );
            local_calls.push(elf.dynstrtab.get_at(s.st_name).unwrap().to_owned());
        }
        local_calls.sort();
        assert_eq!(local_calls, ["forever", "forever_global"]);
        // Static functions get local symbols, listed before the exports (sh_info).
        let forever = elf
            .dynsyms
            .iter()
            .find(|s| elf.dynstrtab.get_at(s.st_name) == Some("forever"))
            .unwrap();
        assert_eq!(forever.st_bind(), sym::STB_LOCAL);
        // No other call of the module is `call -1` without a relocation.
        let relocated: Vec<u64> = elf.dynrels.iter().map(|r| r.r_offset).collect();
        let body = &code[text.sh_offset as usize..][..text.sh_size as usize];
        for (i, insn) in body.chunks_exact(8).enumerate() {
            let at = text.sh_offset + 8 * i as u64;
            if insn[0] == 0x85 && insn[4..8] == [0xff; 4] {
                assert!(relocated.contains(&at), "unresolved call at {at:#x}");
            }
        }
        // rbpf's own loader (reject_broken_elfs) and verifier accept it.
        common::load(&code).expect("rbpf loads the module");
    }
}

#[test]
fn recursion_runs_alike_on_interpreter_and_jit() {
    for code in linked() {
        let modules = prepare(&code, TbpfConfig::DEFAULT_CALL_DEPTH);
        for n in 0..=20 {
            assert_eq!(exit(&run(&modules, 0, n)), fib(n), "global fib({n})");
            assert_eq!(exit(&run(&modules, 1, n)), fib(n), "static fib({n})");
        }
        for n in 0..=40 {
            assert_eq!(exit(&run(&modules, 2, n)), down_a(n), "down_a({n})");
        }
        for n in [0, 1, 10, 40] {
            assert_eq!(exit(&run(&modules, 5, n)), 7 + n, "entry_5({n})");
        }
        // The static and the global fib compile to the same code: their gas differs only by
        // the one more comparison the generated dispatcher makes to reach entry 1. Each call
        // costs more than the previous one.
        let mut last = 0;
        for n in 0..=20 {
            let (a, b) = (run(&modules, 0, n), run(&modules, 1, n));
            assert_eq!(a.gas_used + 1, b.gas_used, "fib({n})");
            assert!(
                a.gas_used >= last,
                "fib({n}) is cheaper than fib({})",
                n - 1
            );
            last = a.gas_used;
        }
    }
}

/// Golden gas of the committed fixture (one unit per instruction, the dispatcher included):
/// a change in code generation or metering shows up here.
#[test]
fn recursion_gas_is_pinned() {
    let code = link(
        &[("recursion.o", common::fixture("recursion").as_slice())],
        &LinkOptions::tos_abi(),
    )
    .unwrap();
    let modules = prepare(&code, TbpfConfig::DEFAULT_CALL_DEPTH);
    let got: Vec<(u16, u64, u64, u64)> = [(0, 20), (1, 20), (2, 30), (5, 40)]
        .into_iter()
        .map(|(id, n)| {
            let o = run(&modules, id, n);
            (id, n, exit(&o), o.gas_used)
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, 20, 6765, GOLDEN[0]),
            (1, 20, 6765, GOLDEN[1]),
            (2, 30, down_a(30), GOLDEN[2]),
            (5, 40, 47, GOLDEN[3]),
        ]
    );
}

const GOLDEN: [u64; 4] = [149_148, 149_149, 368, 4_496];

#[test]
fn recursion_past_the_call_depth_traps() {
    for code in linked() {
        for depth in [TbpfConfig::DEFAULT_CALL_DEPTH, 8] {
            let modules = prepare(&code, depth);
            let trap = ExitStatus::Trap(Trap::CallDepthExceeded {
                limit: depth as u64,
            });
            // Unbounded self-calls through the relocation (static and global function).
            for id in [3, 4] {
                let o = run(&modules, id, 0);
                assert_eq!(o.status, trap, "entry_{id} with depth {depth}");
                assert!(o.gas_used > depth as u64 && o.gas_used < GAS);
            }
            // entry_5(n) holds n + 1 frames of its own plus the dispatcher's: n = depth - 2
            // is the deepest that fits.
            let deepest = depth as u64 - 2;
            assert_eq!(exit(&run(&modules, 5, deepest)), 7 + deepest);
            assert_eq!(run(&modules, 5, deepest + 1).status, trap, "depth {depth}");
            // fib's recursion is as deep as its argument.
            assert_eq!(run(&modules, 0, 100).status, trap);
            assert_eq!(run(&modules, 1, 100).status, trap);
            assert_eq!(run(&modules, 2, 1000).status, trap);
        }
    }
}
