//! Running modules: results, storage effects, gas (pinned), traps, on the interpreter and the JIT.
//! Every run goes through `run_all`, which fails when the two modes disagree in anything.

mod support;

use solana_rbpf::ebpf::{MM_INPUT_START, MM_PROGRAM_START};
use support::*;
use tos_engine_api::{Access, Call, ExecutionEngine, ExitStatus, Trap};
use tos_syscalls::SyscallTable;

const BOTH: [Sbpf; 2] = [Sbpf::V1, Sbpf::V2];

fn cost(name: &str, bytes: u64) -> u64 {
    SyscallTable::global()
        .unwrap()
        .by_name(name)
        .unwrap()
        .cost
        .charge(bytes)
}

/// Runs `code` with every limit from 0 to `exact + 3`: it must succeed with `exit` from `exact`
/// gas on, charging `exact`, and run out of gas below it, charging the limit.
fn sweep_limits(code: &[u8], exact: u64, exit: u64) {
    sweep_limits_with(code, &[], exact, exit);
}

fn sweep_limits_with(code: &[u8], params: &[u8], exact: u64, exit: u64) {
    for limit in 0..=exact + 3 {
        let (o, _) = run(code, Call::Entry(0), params, limit);
        if limit >= exact {
            assert_eq!(
                (o.status, o.gas_used),
                (ExitStatus::Exit(exit), exact),
                "limit {limit}"
            );
        } else {
            assert_eq!(
                (o.status, o.gas_used),
                (ExitStatus::Trap(Trap::OutOfGas), limit),
                "limit {limit}"
            );
        }
    }
}

fn rodata_module(v: Sbpf) -> Module {
    Module::new(
        v,
        "entrypoint:
         addr r1, rodata+8
         ldxdw r0, [r1+0]
         exit",
    )
    .rodata(&[1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0])
}

#[test]
fn returns_a_value_from_rodata() {
    // SBPFv1 loads the address with one `lddw` (one instruction, one gas); SBPFv2 with
    // `mov32` + `hor64`.
    for (v, gas) in [(Sbpf::V1, 3), (Sbpf::V2, 4)] {
        let code = rodata_module(v).build().bytes;
        let (o, _) = run(&code, Call::Entry(0), &[], 1_000);
        assert_eq!((o.status, o.gas_used), (ExitStatus::Exit(42), gas), "{v:?}");
        assert!(o.return_data.is_empty());
        sweep_limits(&code, gas, 42);
    }
}

#[test]
fn relative_calls_return_and_charge_every_instruction() {
    let asm = "entrypoint:
               mov64 r1, 5
               call add_two
               call add_two
               exit
               add_two:
               mov64 r0, r1
               add64 r0, 2
               mov64 r1, r0
               exit";
    for v in BOTH {
        let code = Module::new(v, asm).build().bytes;
        let (o, _) = run(&code, Call::Entry(0), &[], 1_000);
        // 4 instructions in entrypoint + 2 × 4 in add_two.
        assert_eq!((o.status, o.gas_used), (ExitStatus::Exit(9), 12), "{v:?}");
        sweep_limits(&code, 12, 9);
    }
}

#[test]
fn function_pointer_table_in_data_rel_ro() {
    // SBPFv1: any address in .text may be called through a pointer.
    let asm = "entrypoint:
               addr r1, relro+8
               ldxdw r2, [r1+0]
               mov64 r1, 40
               callx r2
               exit
               double:
               mov64 r0, r1
               add64 r0, r1
               exit";
    let m = Module::new(Sbpf::V1, asm).relro(vec![
        RelRo::Bytes(7u64.to_le_bytes().to_vec()),
        RelRo::FnPtr("double".into()),
    ]);
    let code = m.build().bytes;
    let (o, _) = run(&code, Call::Entry(0), &[], 1_000);
    assert_eq!((o.status, o.gas_used), (ExitStatus::Exit(80), 8));
    sweep_limits(&code, 8, 80);

    // SBPFv2: `callx` may only reach registered functions (here: also called directly).
    let asm_v2 = "entrypoint:
                  addr r1, relro+8
                  ldxdw r2, [r1+0]
                  mov64 r1, 40
                  callx r2
                  mov64 r6, r0
                  mov64 r1, 1
                  call double
                  add64 r0, r6
                  exit
                  double:
                  mov64 r0, r1
                  add64 r0, r1
                  exit";
    let code = Module::new(Sbpf::V2, asm_v2)
        .relro(vec![
            RelRo::Bytes(vec![0; 8]),
            RelRo::FnPtr("double".into()),
        ])
        .build()
        .bytes;
    let (o, _) = run(&code, Call::Entry(0), &[], 1_000);
    assert_eq!((o.status, o.gas_used), (ExitStatus::Exit(82), 16));
}

#[test]
fn sbpf_v2_callx_to_an_unregistered_function_traps_identically() {
    let asm = "entrypoint:
               addr r1, relro+0
               ldxdw r2, [r1+0]
               callx r2
               exit
               lonely:
               mov64 r0, 3
               exit";
    let code = Module::new(Sbpf::V2, asm)
        .relro(vec![RelRo::FnPtr("lonely".into())])
        .build()
        .bytes;
    let (o, _) = run(&code, Call::Entry(0), &[], 1_000);
    // The pc is the target the call tried to enter (instruction 5).
    assert_eq!(
        (o.status, o.gas_used),
        (ExitStatus::Trap(Trap::InvalidInstruction { pc: 5 }), 5)
    );
}

const COUNTER_ASM: &str = "entrypoint:
    mov64 r6, r1
    ldxdw r7, [r6+8]
    stxdw [r10-8], r7
    addr r1, rodata+0
    mov64 r2, 5
    mov64 r3, r10
    add64 r3, -8
    mov64 r4, 8
    syscall tos_storage_store
    addr r1, rodata+5
    mov64 r2, 5
    syscall tos_log
    mov64 r1, 1
    mov64 r2, r10
    add64 r2, -8
    mov64 r3, 8
    syscall tos_fire_event
    mov64 r1, r10
    add64 r1, -8
    mov64 r2, 8
    syscall tos_set_return_data
    mov64 r0, 0
    exit";

#[test]
fn syscalls_reach_the_host_and_charge_the_same_meter() {
    let syscalls = cost("tos_storage_store", 5 + 8)
        + cost("tos_log", 5)
        + cost("tos_fire_event", 8)
        + cost("tos_set_return_data", 8);
    assert_eq!(
        syscalls, 1444,
        "syscall costs changed: update the golden gas below"
    );
    for (v, insns) in [(Sbpf::V1, 23), (Sbpf::V2, 25)] {
        let code = Module::new(v, COUNTER_ASM)
            .rodata(b"counthello")
            .build()
            .bytes;
        let params = 0x1122_3344_5566_7788u64.to_le_bytes();
        let (o, host) = run(&code, Call::Entry(0), &params, 1_000_000);
        assert_eq!(o.status, ExitStatus::Exit(0), "{v:?}");
        assert_eq!(o.gas_used, insns + syscalls, "{v:?}");
        assert_eq!(o.gas_used, [1467, 1469][(v == Sbpf::V2) as usize]);
        assert_eq!(o.return_data, params);
        assert_eq!(host.stored(b"count"), Some(&params.to_vec()));
        assert_eq!(host.events(), vec![(1, params.to_vec())]);
        assert_eq!(host.logs(), vec![b"hello".to_vec()]);
        sweep_limits_with(&code, &params, insns + syscalls, 0);
    }
}

#[test]
fn a_syscall_that_cannot_pay_runs_out_of_gas_and_changes_nothing() {
    let code = Module::new(Sbpf::V1, COUNTER_ASM)
        .rodata(b"counthello")
        .build()
        .bytes;
    // Enough for the 9 instructions up to the store and its base cost, not its bytes.
    let (o, host) = run(&code, Call::Entry(0), &[0; 8], 9 + 1000 + 10);
    assert_eq!(
        (o.status, o.gas_used),
        (ExitStatus::Trap(Trap::OutOfGas), 1019)
    );
    assert!(host.state.storage.is_empty());
}

#[test]
fn out_of_gas_charges_the_whole_limit() {
    let asm = "entrypoint:
               add64 r0, 1
               ja entrypoint";
    for v in BOTH {
        let code = Module::new(v, asm).build().bytes;
        for limit in [0, 1, 2, 3, 1_000, 10_007, 123_456] {
            let (o, _) = run(&code, Call::Entry(0), &[], limit);
            assert_eq!(
                (o.status, o.gas_used),
                (ExitStatus::Trap(Trap::OutOfGas), limit),
                "{v:?}"
            );
        }
    }
}

#[test]
fn a_huge_gas_limit_runs_the_same_in_both_modes() {
    let code = rodata_module(Sbpf::V1).build().bytes;
    for limit in [
        u64::MAX,
        u64::MAX - 1,
        i64::MAX as u64,
        1 << 62,
        (1 << 62) + 1,
    ] {
        let (o, _) = run(&code, Call::Entry(0), &[], limit);
        assert_eq!(
            (o.status, o.gas_used),
            (ExitStatus::Exit(42), 3),
            "limit {limit}"
        );
    }
}

#[test]
fn the_input_is_the_header_and_params_read_only_at_r1() {
    // Returns the input's first 8 bytes (the header), then tries to write to the input.
    let read = "entrypoint:
                ldxdw r0, [r1+0]
                exit";
    let write = "entrypoint:
                 stb [r1+9], 1
                 exit";
    for v in BOTH {
        let code = Module::new(v, read).build().bytes;
        let (o, _) = run(&code, Call::Hook(3), b"xyz", 100);
        assert_eq!(
            o.status,
            ExitStatus::Exit(u64::from_le_bytes([1, 0, 3, 0, 3, 0, 0, 0]))
        );
        let code = Module::new(v, write).build().bytes;
        let (o, _) = run(&code, Call::Entry(0), b"xyz", 100);
        let trap = Trap::MemoryAccess {
            addr: MM_INPUT_START + 9,
            len: 1,
            access: Access::Write,
        };
        assert_eq!((o.status, o.gas_used), (ExitStatus::Trap(trap), 1));
    }
}

/// The input's copy lives in the call's pooled arena, whose input room is not cleared between
/// calls: a call reading one byte past its own input traps, even right after a call whose
/// longer input filled those bytes.
#[test]
fn a_call_cannot_read_past_its_input_into_an_earlier_calls() {
    // Reads the byte just past a 3-byte params input (header 8 + 3 = 11).
    let read = "entrypoint:
                ldxb r0, [r1+11]
                exit";
    for v in BOTH {
        let code = Module::new(v, read).build().bytes;
        let (o, _) = run(&code, Call::Entry(0), &[0xAB; 64], 100);
        assert_eq!(o.status, ExitStatus::Exit(0xAB), "the long input is read");
        let (o, _) = run(&code, Call::Entry(0), b"xyz", 100);
        let trap = Trap::MemoryAccess {
            addr: MM_INPUT_START + 11,
            len: 1,
            access: Access::Read,
        };
        assert_eq!(o.status, ExitStatus::Trap(trap), "nothing past the input");
    }
}

#[test]
fn entry_table_refuses_missing_entries_without_running() {
    let asm = "entrypoint:
               addr r1, rodata+0
               mov64 r2, 2
               syscall tos_log
               mov64 r0, 7
               exit";
    for v in BOTH {
        let code = Module::new(v, asm)
            .rodata(b"hi")
            .export("entry_0", "entrypoint")
            .export("entry_2", "entrypoint")
            .export("hook_0", "entrypoint")
            .build()
            .bytes;
        let module = prepare(&code).unwrap();
        let table = &module.info().entries;
        assert!(!table.self_dispatch);
        assert_eq!(
            table.entries.iter().copied().collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert_eq!(table.hooks.iter().copied().collect::<Vec<_>>(), vec![0]);
        for missing in [Call::Entry(1), Call::Entry(65535), Call::Hook(1)] {
            let (o, host) = run(&code, missing, &[], 1_000);
            assert_eq!(o.status, ExitStatus::Trap(Trap::UnknownEntry(missing)));
            assert_eq!(o.gas_used, 0);
            assert!(host.logs().is_empty(), "nothing may run");
        }
        let (o, host) = run(&code, Call::Entry(2), &[], 1_000);
        assert_eq!(o.status, ExitStatus::Exit(7));
        assert_eq!(host.logs(), vec![b"hi".to_vec()]);

        // Without exports every call runs the entrypoint.
        let code = Module::new(v, asm).rodata(b"hi").build().bytes;
        assert!(prepare(&code).unwrap().info().entries.self_dispatch);
        let (o, _) = run(&code, Call::Hook(9), &[], 1_000);
        assert_eq!(o.status, ExitStatus::Exit(7));
    }
}

/// (name, version, asm, rodata, expected trap, expected gas)
type TrapCase = (&'static str, Sbpf, &'static str, Vec<u8>, Trap, u64);

fn trap_cases() -> Vec<TrapCase> {
    let ro = MM_PROGRAM_START;
    vec![
        (
            "div by zero v1",
            Sbpf::V1,
            "entrypoint:\nmov64 r1, 10\nmov64 r2, 0\ndiv64 r1, r2\nexit",
            vec![],
            Trap::DivisionByZero,
            3,
        ),
        (
            "mod by zero v1",
            Sbpf::V1,
            "entrypoint:\nmov64 r1, 10\nmov64 r2, 0\nmod32 r1, r2\nexit",
            vec![],
            Trap::DivisionByZero,
            3,
        ),
        (
            "div by zero v2",
            Sbpf::V2,
            "entrypoint:\nmov64 r1, 10\nmov64 r2, 0\nudiv64 r1, r2\nexit",
            vec![],
            Trap::DivisionByZero,
            3,
        ),
        (
            "div overflow v2",
            Sbpf::V2,
            "entrypoint:\nmov64 r1, 1\nlsh64 r1, 63\nmov64 r2, -1\nsdiv64 r1, r2\nexit",
            vec![],
            Trap::DivisionOverflow,
            4,
        ),
        (
            "load from address 0",
            Sbpf::V1,
            "entrypoint:\nmov64 r1, 0\nldxb r0, [r1+0]\nexit",
            vec![],
            Trap::MemoryAccess {
                addr: 0,
                len: 1,
                access: Access::Read,
            },
            2,
        ),
        (
            "store to rodata",
            Sbpf::V1,
            "entrypoint:\naddr r1, rodata+0\nstb [r1+0], 1\nexit",
            vec![9; 8],
            Trap::MemoryAccess {
                addr: ro + 0xd0,
                len: 1,
                access: Access::Write,
            },
            2,
        ),
        (
            "heap end",
            Sbpf::V2,
            "entrypoint:\nmov64 r1, 3\nlsh64 r1, 32\nstdw [r1+32764], 1\nexit",
            vec![],
            Trap::MemoryAccess {
                addr: 0x3_0000_0000 + 32764,
                len: 8,
                access: Access::Write,
            },
            3,
        ),
        (
            "stack gap v1",
            Sbpf::V1,
            "entrypoint:\nstb [r10+0], 1\nexit",
            vec![],
            Trap::MemoryAccess {
                addr: 0x2_0000_1000,
                len: 1,
                access: Access::Write,
            },
            1,
        ),
        (
            "recursion",
            Sbpf::V1,
            "entrypoint:\ncall deep\nexit\ndeep:\nmov64 r0, 0\ncall deep\nexit",
            vec![],
            Trap::CallDepthExceeded { limit: 64 },
            127,
        ),
        (
            "recursion v2",
            Sbpf::V2,
            "entrypoint:\ncall deep\nexit\ndeep:\nmov64 r0, 0\ncall deep\nexit",
            vec![],
            Trap::CallDepthExceeded { limit: 64 },
            127,
        ),
        (
            "callx into the middle of lddw",
            Sbpf::V1,
            "entrypoint:\naddr r1, fn:entrypoint\nadd64 r1, 8\ncallx r1\nexit",
            vec![],
            Trap::InvalidInstruction { pc: 1 },
            4,
        ),
        (
            "callx outside text",
            Sbpf::V1,
            "entrypoint:\nmov64 r1, 0\ncallx r1\nexit",
            vec![],
            Trap::InvalidInstruction { pc: 1 },
            2,
        ),
        (
            "syscall reads unmapped memory",
            Sbpf::V1,
            "entrypoint:\nmov64 r1, 16\nmov64 r2, 5\nsyscall tos_log\nexit",
            vec![],
            Trap::MemoryAccess {
                addr: 16,
                len: 5,
                access: Access::Read,
            },
            3 + 105,
        ),
        (
            "syscall writes rodata",
            Sbpf::V2,
            "entrypoint:\naddr r1, rodata+0\nsyscall tos_get_contract_hash\nexit",
            vec![0; 32],
            Trap::MemoryAccess {
                addr: ro + 0xd0,
                len: 32,
                access: Access::Write,
            },
            3 + 50,
        ),
        (
            "syscall refuses a long log",
            Sbpf::V1,
            "entrypoint:\nmov64 r1, r10\nmov64 r2, 2000\nsyscall tos_log\nexit",
            vec![],
            Trap::Syscall {
                name: "tos_log".into(),
                reason: "log message of 2000 bytes exceeds the limit of 1024".into(),
            },
            3 + 100,
        ),
    ]
}

#[test]
fn traps_are_identical_in_both_modes_with_pinned_gas() {
    for (name, v, asm, rodata, trap, gas) in trap_cases() {
        let code = Module::new(v, asm).rodata(&rodata).build().bytes;
        let (o, _) = run(&code, Call::Entry(0), &[], 100_000);
        assert_eq!(
            (o.status, o.gas_used),
            (ExitStatus::Trap(trap.clone()), gas),
            "{name}"
        );
        // With exactly the gas the trap took, the same trap; with one less, out of gas.
        let (o, _) = run(&code, Call::Entry(0), &[], gas);
        assert_eq!(o.status, ExitStatus::Trap(trap), "{name} at its exact gas");
        let (o, _) = run(&code, Call::Entry(0), &[], gas - 1);
        assert_eq!(
            (o.status, o.gas_used),
            (ExitStatus::Trap(Trap::OutOfGas), gas - 1),
            "{name} one gas short"
        );
    }
}

#[test]
fn a_host_fault_is_an_engine_fault_not_a_trap() {
    let code = Module::new(
        Sbpf::V1,
        "entrypoint:\nmov64 r1, r10\nadd64 r1, -8\nmov64 r2, 1\nsyscall tos_log\nexit",
    )
    .build()
    .bytes;
    for (name, engine) in engines() {
        let module = engine
            .prepare(&code, &tos_syscalls::testing::abi_v1())
            .unwrap();
        let fault = World::default()
            .with_host(Call::Entry(0), &[], |host| {
                let mut host = Tampered {
                    host,
                    tamper: Tamper::FailLog("disk on fire"),
                };
                module.run(Call::Entry(0), &mut host, 1_000)
            })
            .unwrap_err();
        assert_eq!(fault.engine, "tbpf", "{name}");
        assert!(
            fault.message.contains("tos_log") && fault.message.contains("disk on fire"),
            "{name}: {fault}"
        );
    }
}

#[test]
fn a_host_whose_input_disagrees_with_the_call_is_a_fault() {
    let code = rodata_module(Sbpf::V1).build().bytes;
    let module = prepare(&code).unwrap();
    let mut world = World::default();
    // The host's input is that of entry 1: running entry 0 (or a hook) against it is refused.
    for other in [Call::Entry(0), Call::Hook(1)] {
        let fault = world
            .with_host(Call::Entry(1), b"ab", |h| module.run(other, h, 100))
            .unwrap_err();
        assert_eq!(fault.engine, "tbpf");
        assert!(fault.message.contains("input"), "{fault}");
    }
    // A header whose length disagrees with the params that follow, or no header at all.
    let mut long = tos_engine_api::CallInput::new(Call::Entry(1), b"ab".to_vec()).encode();
    long.push(b'c');
    for input in [long, vec![0; 7]] {
        let r = world.with_host(Call::Entry(1), b"ab", |host| {
            let mut host = Tampered {
                host,
                tamper: Tamper::Input(input),
            };
            module.run(Call::Entry(1), &mut host, 100)
        });
        assert!(r.is_err(), "{r:?}");
    }
    let r = world.with_host(Call::Entry(1), b"ab", |h| {
        module.run(Call::Entry(1), h, 100)
    });
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn memory_is_fresh_for_every_call() {
    // Reads a stack and a heap word, then writes both: a second run must read zeros again.
    let asm = "entrypoint:
               ldxdw r0, [r10-8]
               mov64 r2, 3
               lsh64 r2, 32
               ldxdw r3, [r2+0]
               add64 r0, r3
               stdw [r10-8], 5
               stdw [r2+0], 6
               exit";
    for v in BOTH {
        let code = Module::new(v, asm).build().bytes;
        for (_, engine) in engines() {
            let module = engine
                .prepare(&code, &tos_syscalls::testing::abi_v1())
                .unwrap();
            for _ in 0..2 {
                let o = World::default()
                    .run(&*module, Call::Entry(0), &[], 100)
                    .unwrap();
                assert_eq!(o.status, ExitStatus::Exit(0));
            }
        }
    }
}

#[test]
fn prepared_modules_run_concurrently() {
    let code = Module::new(Sbpf::V1, COUNTER_ASM)
        .rodata(b"counthello")
        .build()
        .bytes;
    for (_, engine) in engines() {
        let module = engine
            .prepare(&code, &tos_syscalls::testing::abi_v1())
            .unwrap();
        std::thread::scope(|s| {
            for i in 0..4u64 {
                let module = module.clone();
                s.spawn(move || {
                    for j in 0..50u64 {
                        let params = (i * 1000 + j).to_le_bytes();
                        let o = World::default()
                            .run(&*module, Call::Entry(0), &params, 10_000)
                            .unwrap();
                        assert_eq!((o.status, o.gas_used), (ExitStatus::Exit(0), 1467));
                        assert_eq!(o.return_data, params);
                    }
                });
            }
        });
    }
}

#[test]
fn a_compute_loop_agrees_in_both_modes() {
    // splitmix64 n times, n from the params (the `compute` example's hash_chain), v1 and v2.
    let v1 = "entrypoint:
              ldxw r6, [r1+8]
              mov64 r0, 0
              lddw r7, 0x9E3779B97F4A7C15
              lddw r8, 0xBF58476D1CE4E5B9
              lddw r9, 0x94D049BB133111EB
              loop:
              jeq r6, 0, done
              add64 r0, r7
              mov64 r1, r0
              rsh64 r1, 30
              xor64 r1, r0
              mul64 r1, r8
              mov64 r2, r1
              rsh64 r2, 27
              xor64 r2, r1
              mul64 r2, r9
              mov64 r0, r2
              rsh64 r0, 31
              xor64 r0, r2
              add64 r6, -1
              ja loop
              done:
              exit";
    let code = Module::new(Sbpf::V1, v1).build().bytes;
    let mut expected = 0u64;
    let mut x = 0u64;
    for _ in 0..1000 {
        x = x.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        x = z ^ (z >> 31);
        expected = x;
    }
    let (o, _) = run(&code, Call::Entry(0), &1000u32.to_le_bytes(), 1_000_000);
    assert_eq!(o.status, ExitStatus::Exit(expected));
    // 5 set-up instructions, 15 per round, 2 to leave.
    assert_eq!(o.gas_used, 5 + 15 * 1000 + 2);
    for limit in [100, 5_000, 14_999, 15_006, 15_007] {
        let (o, _) = run(&code, Call::Entry(0), &1000u32.to_le_bytes(), limit);
        assert_eq!(o.gas_used, limit.min(15_007));
    }
}

#[test]
fn disassembly_names_functions_and_syscalls() {
    let asm = "entrypoint:
               mov64 r1, 5
               call helper
               syscall tos_get_block_height
               exit
               helper:
               jeq r1, 0, out
               mov64 r0, 1
               out:
               exit";
    for v in BOTH {
        let code = Module::new(v, asm).build().bytes;
        let listing = prepare(&code).unwrap().disassemble().unwrap();
        for needle in [
            "entrypoint:",
            "call function_4",
            "syscall tos_get_block_height",
            "lbb_6",
            "exit",
        ] {
            assert!(
                listing.contains(needle),
                "{v:?}: `{needle}` missing in\n{listing}"
            );
        }
    }
}

#[test]
fn engine_identity() {
    for (_, e) in engines() {
        assert_eq!(e.name(), "tbpf");
        assert_eq!(e.tag(), tos_engine_api::ModuleTag::TBPF);
        assert_eq!(e.version(), 1);
    }
}

/// Stack and heap come from a per-thread pool of slots, cleared in batches, and a slot that
/// was only read goes back without clearing: a call never sees what an earlier one wrote, in
/// either mode, wherever the earlier one wrote it (its own frame, a frame it never called
/// into, the heap's ends, through a syscall), over enough calls that every slot is written,
/// cleared and taken again several times.
#[test]
fn a_call_never_sees_the_memory_of_an_earlier_one() {
    // SBPFv1 with frame gaps: frame k of the stack is at 0x200000000 + k * 8192.
    let places = "lddw r6, 0x200000ff8
                  lddw r7, 0x20007eff8
                  lddw r8, 0x20003e800
                  lddw r9, 0x300000000";
    let writer = |stack: bool, heap: bool| {
        let mut asm = format!("entrypoint:\n{places}\nmov64 r1, 0x55\n");
        if stack {
            // The own frame, the last frame's last word, a middle frame, and 32 bytes from a
            // syscall into frame 40.
            asm += "stxdw [r10-8], r1
                    stxdw [r7+0], r1
                    stxdw [r8+0], r1
                    lddw r1, 0x200050040
                    syscall tos_get_contract_hash
                    mov64 r1, 0x55\n";
        }
        if heap {
            asm += "stxdw [r9+0], r1
                    stxdw [r9+32760], r1
                    mov64 r1, r9
                    add64 r1, 16384
                    syscall tos_get_contract_hash\n";
        }
        asm += "mov64 r0, 0\nexit";
        Module::new(Sbpf::V1, &asm).build().bytes
    };
    let loads: String = [
        "r7+0", "r8+0", "r2+0", "r2+24", "r9+0", "r9+32760", "r9+16384", "r9+16408",
    ]
    .iter()
    .map(|at| format!("ldxdw r3, [{at}]\nor64 r0, r3\n"))
    .collect();
    // ORs every word any writer writes: 0 when nothing of an earlier call is left. It first
    // stores a zero into each region elsewhere, so its loads read the slot's memory (until a
    // region's first store, loads read shared zeros).
    let reader = Module::new(
        Sbpf::V1,
        &format!(
            "entrypoint:
             {places}
             mov64 r1, 0
             stxdw [r10-64], r1
             stxdw [r9+8192], r1
             ldxdw r0, [r6+0]
             lddw r2, 0x200050040
             {loads}
             exit"
        ),
    )
    .build()
    .bytes;
    // The syscall's first and last words are not zero, or the test could not see them left
    // behind.
    for word in [0, 24] {
        let probe = Module::new(
            Sbpf::V1,
            &format!(
                "entrypoint:
                 lddw r1, 0x300004000
                 syscall tos_get_contract_hash
                 lddw r1, 0x300004000
                 ldxdw r0, [r1+{word}]
                 exit"
            ),
        )
        .build()
        .bytes;
        let (o, _) = run(&probe, Call::Entry(0), &[], 1_000);
        assert!(matches!(o.status, ExitStatus::Exit(w) if w != 0), "{o:?}");
    }
    let (o, _) = run(&reader, Call::Entry(0), &[], 1_000);
    assert_eq!(o.status, ExitStatus::Exit(0));

    let writers = [writer(true, true), writer(true, false), writer(false, true)];
    for round in 0..3 * 16 + 5 {
        let w = &writers[round % writers.len()];
        let (o, _) = run(w, Call::Entry(0), &[], 1_000);
        assert_eq!(o.status, ExitStatus::Exit(0), "round {round}");
        for _ in 0..round % 3 {
            let (o, _) = run(&reader, Call::Entry(0), &[], 1_000);
            assert_eq!(
                o.status,
                ExitStatus::Exit(0),
                "round {round}: the reader saw an earlier call's bytes"
            );
        }
    }
}
