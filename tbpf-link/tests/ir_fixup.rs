//! The IR fix-up of Rust contracts (`tos_tbpf_link::ir_fixup`): rewrites checked on small
//! `.ll` inputs, and — where the LLVM tools of Debian's rustc-web are installed — the
//! fixed-up code compiled by `llc`, linked and run in solana-rbpf against values computed
//! here, edge cases included.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Host, input, run};
use tos_tbpf_link::ir_fixup::{check_ir, demangle, fixup_ir};
use tos_tbpf_link::{LinkOptions, link};

const HEAD: &str = "target datalayout = \"e-m:e-p:64:64-i64:64-i128:128-n32:64-S128\"\ntarget triple = \"bpfel\"\n";

fn module(body: &str) -> String {
    format!("{HEAD}\n{body}\nattributes #0 = {{ nounwind \"target-cpu\"=\"generic\" }}\n")
}

#[test]
fn short_copies_become_inline_forms_the_others_call_the_word_routines() {
    let ll = module(
        "define void @f(ptr %d, ptr %s, i64 %n) #0 {
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %d, ptr align 1 %s, i64 %n, i1 false)
  call void @llvm.memset.p0.i64(ptr align 1 %d, i8 0, i64 %n, i1 false)
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %d, ptr align 1 %s, i64 32, i1 false)
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %d, ptr align 8 %s, i64 64, i1 false)
  call void @llvm.memcpy.p0.p0.i64(ptr align 8 %d, ptr align 8 %s, i64 64, i1 false)
  call void @llvm.memset.p0.i64(ptr align 8 %d, i8 7, i64 320, i1 false)
  call void @llvm.memcpy.inline.p0.p0.i64(ptr align 1 %d, ptr align 1 %s, i64 4, i1 false)
  ret void
}
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1 immarg)
declare void @llvm.memcpy.inline.p0.p0.i64(ptr, ptr, i64, i1 immarg)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1 immarg)
",
    );
    let out = fixup_ir(&ll).unwrap();
    for want in [
        "call void @__tos_memcpy(ptr align 1 %d, ptr align 1 %s, i64 %n, i1 false)",
        "call void @__tos_memset(ptr align 1 %d, i8 0, i64 %n, i1 false)",
        "call void @llvm.memcpy.inline.p0.p0.i64(ptr align 1 %d, ptr align 1 %s, i64 32, i1 false)",
        "call void @__tos_memcpy(ptr align 1 %d, ptr align 8 %s, i64 64, i1 false)",
        "call void @llvm.memcpy.inline.p0.p0.i64(ptr align 8 %d, ptr align 8 %s, i64 64, i1 false)",
        "call void @llvm.memset.inline.p0.i64(ptr align 8 %d, i8 7, i64 320, i1 false)",
        "define internal void @__tos_memcpy(ptr %d, ptr %s, i64 %n, i1 %volatile) noinline",
        "define internal void @__tos_memset(ptr %d, i8 %c, i64 %n, i1 %volatile) noinline",
    ] {
        assert!(out.text.contains(want), "{want} in {}", out.text);
    }
    assert!(!out.text.contains("@llvm.memcpy.p0"), "{}", out.text);
    assert!(!out.text.contains("@llvm.memset.p0"), "{}", out.text);
    assert_eq!(
        out.text
            .matches("declare void @llvm.memcpy.inline.p0.p0.i64")
            .count(),
        1,
        "one declaration of the inline form: {}",
        out.text
    );
    assert!(
        out.text
            .contains("declare void @llvm.memset.inline.p0.i64(ptr, i8, i64, i1 immarg)")
    );
    assert!(out.text.contains("\"target-cpu\"=\"v2\""));
    assert!(!out.text.contains("\"generic\""));
    assert_eq!(
        out.rewrites,
        vec![
            ("memcpy", 2),
            ("memcpy (routine)", 2),
            ("memset", 1),
            ("memset (routine)", 1),
            ("target-cpu", 1)
        ]
    );
}

#[test]
fn overflow_multiplications_become_routines() {
    let ll = module(
        "define i64 @f(i64 %a, i64 %b) #0 {
  %m = tail call { i64, i1 } @llvm.umul.with.overflow.i64(i64 %a, i64 %b)
  %s = call { i64, i1 } @llvm.smul.with.overflow.i64(i64 %a, i64 %b)
  %v = extractvalue { i64, i1 } %m, 0
  ret i64 %v
}
declare { i64, i1 } @llvm.umul.with.overflow.i64(i64, i64) #0
declare { i64, i1 } @llvm.smul.with.overflow.i64(i64, i64) #0
",
    );
    let out = fixup_ir(&ll).unwrap();
    assert!(
        out.text
            .contains("tail call { i64, i1 } @__tos_umulo64(i64 %a, i64 %b)")
    );
    assert!(
        out.text
            .contains("call { i64, i1 } @__tos_smulo64(i64 %a, i64 %b)")
    );
    assert!(!out.text.contains("declare { i64, i1 } @llvm."));
    // Each routine once, the signed one with the unsigned one it calls.
    assert_eq!(
        out.text
            .matches("define internal { i64, i1 } @__tos_umulo64")
            .count(),
        1
    );
    assert_eq!(
        out.text
            .matches("define internal { i64, i1 } @__tos_smulo64")
            .count(),
        1
    );
    assert!(out.text.contains("alwaysinline"));
}

#[test]
fn signed_divisions_become_unsigned_ones() {
    let ll = module(
        "define i64 @f(i64 %a, i64 %b, i32 %c, i8 %d) #0 {
  %q = sdiv i64 %a, %b
  %r = srem i64 %a, -7
  %e = sdiv exact i32 %c, 3
  %g = srem i8 %d, %d
  %u = udiv i64 %a, %b
  ret i64 %q
}
",
    );
    let out = fixup_ir(&ll).unwrap();
    for want in [
        "%q = call i64 @__tos_sdiv64(i64 %a, i64 %b)",
        "%r = call i64 @__tos_srem64(i64 %a, i64 -7)",
        "%e = call i32 @__tos_sdiv32(i32 %c, i32 3)",
        "%g = call i8 @__tos_srem8(i8 %d, i8 %d)",
        "%u = udiv i64 %a, %b",
        "define internal i64 @__tos_sdiv64",
        "define internal i64 @__tos_srem64",
    ] {
        assert!(out.text.contains(want), "{want} in {}", out.text);
    }
    assert!(!out.text.contains("= sdiv"));
    assert!(!out.text.contains("= srem"));
    assert!(out.rewrites.contains(&("sdiv", 2)));
    assert!(out.rewrites.contains(&("srem", 2)));
}

#[test]
fn i128_multiply_and_variable_shifts_become_routines_constant_shifts_stay() {
    let ll = module(
        "define void @f(i128 %a, i128 %b, ptr %o) #0 {
  %m = mul nuw i128 %a, %b
  %s = shl i128 %a, %b
  %l = lshr i128 %a, 64
  %r = ashr exact i128 %a, %b
  %x = lshr i128 %a, %b
  ret void
}
",
    );
    let out = fixup_ir(&ll).unwrap();
    for want in [
        "%m = call i128 @__tos_mul128(i128 %a, i128 %b)",
        "%s = call i128 @__tos_shl128(i128 %a, i128 %b)",
        "%l = lshr i128 %a, 64",
        "%r = call i128 @__tos_ashr128(i128 %a, i128 %b)",
        "%x = call i128 @__tos_lshr128(i128 %a, i128 %b)",
    ] {
        assert!(out.text.contains(want), "{want} in {}", out.text);
    }
}

#[test]
fn trap_becomes_a_refused_log() {
    let ll = module(
        "define void @f() #0 {
  call void @llvm.trap()
  unreachable
}
declare void @llvm.trap()
",
    );
    let out = fixup_ir(&ll).unwrap();
    assert!(out.text.contains("call void @__tos_trap()"));
    assert!(out.text.contains("call i64 @tos_log(i64 8, i64 1)"));
    assert!(out.text.contains("declare i64 @tos_log(i64, i64)"));
    assert!(!out.text.contains("@llvm.trap"));
}

#[test]
fn what_has_no_rewrite_is_refused_with_the_function_name() {
    let ll = module(
        "define i128 @_ZN8contract3big17h0123456789abcdefE(i128 %a, i128 %b) #0 {
  %q = udiv i128 %a, %b
  %m = call { i128, i1 } @llvm.smul.with.overflow.i128(i128 %a, i128 %b)
  %u = call { i128, i1 } @llvm.umul.with.overflow.i128(i128 %a, i128 %b)
  ret i128 %q
}
define <2 x i64> @vec(<2 x i64> %a, <2 x i64> %b) #0 {
  %q = sdiv <2 x i64> %a, %b
  ret <2 x i64> %q
}
",
    );
    let err = fixup_ir(&ll).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 3, "{text}");
    assert!(
        text.contains("in `contract::big`: a 128-bit `udiv`"),
        "{text}"
    );
    assert!(
        text.contains("checked or overflowing i128 multiplication"),
        "{text}"
    );
    assert!(
        text.contains("in `vec`: a signed division of type <2"),
        "{text}"
    );
}

#[test]
fn check_refuses_floats_many_arguments_and_aggregate_returns() {
    let ll = module(
        "define i64 @_ZN4core3fmt9Formatter12pad_integral17h0123456789abcdefE(ptr %f, i1 %nonneg, ptr %prefix, i64 %plen, ptr %buf, i64 %blen) #0 {
  ret i64 0
}
define i64 @\"quoted name\"(double %x) #0 {
  %y = fadd double %x, 1.0
  %z = fadd double %y, 1.0
  %i = fptoui double %z to i64
  ret i64 %i
}
define { i64, i64 } @pair(i64 %a) #0 {
  %p = insertvalue { i64, i64 } poison, i64 %a, 0
  ret { i64, i64 } %p
}
define i64 @fine(i64 %a, i64 %b, i64 %c, i64 %d, i64 %e) #0 {
  %s = call i64 @llvm.sqrt.i64(i64 %a)
  ret i64 %a
}
",
    );
    let err = check_ir(&ll).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 3, "{text}");
    assert!(
        text.contains(
            "in `core::fmt::Formatter::pad_integral`: a function of 6 arguments (at most 5)"
        ),
        "{text}"
    );
    assert!(text.contains("#[inline(always)]"), "{text}");
    assert!(
        text.contains("in `quoted name`: floating point (`fadd`)"),
        "{text}"
    );
    assert!(
        text.contains("in `pair`: a function that returns an aggregate"),
        "{text}"
    );
    assert!(check_ir(&module("define i64 @ok(i64 %a) #0 {\n  ret i64 %a\n}\n")).is_ok());
}

#[test]
fn demangles_rust_legacy_symbols() {
    assert_eq!(
        demangle("_ZN4core3fmt9Formatter12pad_integral17h0123456789abcdefE"),
        "core::fmt::Formatter::pad_integral"
    );
    assert_eq!(
        demangle(
            "_ZN50_$LT$T$u20$as$u20$core..convert..Into$LT$U$GT$$GT$4into17h0123456789abcdefE"
        ),
        "_<T as core::convert::Into<U>>::into"
    );
    assert_eq!(demangle("entry_0"), "entry_0");
    assert_eq!(demangle("_ZN3bad"), "_ZN3bad");
}

// ---- running fixed-up code ---------------------------------------------------------------

/// `opt-N` and `llc-N` of the LLVM that Debian's rustc-web uses, when installed.
fn llvm_tools() -> Option<(PathBuf, PathBuf)> {
    let major = Command::new("/usr/bin/rustc")
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("LLVM version: "))
                .and_then(|v| v.split('.').next().map(str::to_owned))
        })
        .unwrap_or_else(|| "22".to_owned());
    let find = |name: &str| {
        let p = PathBuf::from(format!("/usr/bin/{name}-{major}"));
        p.is_file().then_some(p)
    };
    Some((find("opt")?, find("llc")?))
}

fn tool(cmd: &mut Command) {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The pipeline of `tosvm build` from textual IR to a linked module.
fn build(dir: &Path, opt: &Path, llc: &Path, ll: &str) -> Vec<u8> {
    std::fs::write(dir.join("in.ll"), ll).unwrap();
    tool(Command::new(opt).current_dir(dir).args([
        "-mtriple=bpfel",
        "-mcpu=v2",
        "-expand-div-rem-bits=64",
        "-passes=require<libcall-lowering-info>,function(expand-ir-insts)",
        "-S",
        "in.ll",
        "-o",
        "expanded.ll",
    ]));
    let expanded = std::fs::read_to_string(dir.join("expanded.ll")).unwrap();
    let fixed = fixup_ir(&expanded).expect("the fixture needs only supported rewrites");
    std::fs::write(dir.join("fixed.ll"), &fixed.text).unwrap();
    tool(Command::new(opt).current_dir(dir).args([
        "-passes=always-inline",
        "-S",
        "fixed.ll",
        "-o",
        "inlined.ll",
    ]));
    let inlined = std::fs::read_to_string(dir.join("inlined.ll")).unwrap();
    check_ir(&inlined).expect("nothing unsupported is left");
    let left: Vec<&str> = inlined
        .lines()
        .filter(|l| l.starts_with("define") && l.contains("@__tos_"))
        .collect();
    assert!(
        left.iter()
            .all(|l| l.contains("@__tos_memcpy(") || l.contains("@__tos_memset(")),
        "every routine but the copy loops was inlined: {left:?}"
    );
    tool(Command::new(llc).current_dir(dir).args([
        "-march=bpfel",
        "-mcpu=v2",
        "-O2",
        "-bpf-stack-size=4096",
        "-filetype=obj",
        "inlined.ll",
        "-o",
        "out.o",
    ]));
    let obj = std::fs::read(dir.join("out.o")).unwrap();
    link(&[("out.o", &obj)], &LinkOptions::tos_abi()).expect("links")
}

fn call(module: &[u8], entry: u16, params: &[u8]) -> u64 {
    run(module, &input(0, entry, params), &mut Host::default())
        .unwrap_or_else(|e| panic!("entry {entry}: {e}"))
}

fn pair(a: u64, b: u64) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes()].concat()
}

fn pair128(x: u128, y: u128) -> Vec<u8> {
    [x.to_le_bytes(), y.to_le_bytes()].concat()
}

#[test]
fn fixed_up_code_computes_what_rust_computes() {
    let Some((opt, llc)) = llvm_tools() else {
        println!(
            "skipped: opt-22/llc-22 not installed (apt-get install -y --no-install-recommends llvm-22)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ll = std::fs::read_to_string(common::fixtures_dir().join("ir_ops.ll")).unwrap();
    let m = build(dir.path(), &opt, &llc, &ll);

    let signed: [i64; 12] = [
        0,
        1,
        -1,
        2,
        -2,
        7,
        -7,
        3_037_000_500,
        -3_037_000_500,
        1 << 62,
        i64::MAX,
        i64::MIN,
    ];
    for &a in &signed {
        for &b in &signed {
            let p = pair(a as u64, b as u64);
            if b != 0 && !(a == i64::MIN && b == -1) {
                assert_eq!(call(&m, 0, &p) as i64, a / b, "{a} / {b}");
                assert_eq!(call(&m, 1, &p) as i64, a % b, "{a} % {b}");
                let (a32, b32) = (a as i32, b as i32);
                if b32 != 0 && !(a32 == i32::MIN && b32 == -1) && a32 % b32 == 0 {
                    assert_eq!(
                        call(&m, 2, &p) as i64,
                        i64::from(a32 / b32),
                        "{a32} / {b32}"
                    );
                }
                let (a8, b8) = (a as i8, b as i8);
                if b8 != 0 && !(a8 == i8::MIN && b8 == -1) {
                    assert_eq!(call(&m, 3, &p) as i64, i64::from(a8 % b8), "{a8} % {b8}");
                }
            }
            let (ua, ub) = (a as u64, b as u64);
            let (v, o) = ua.overflowing_mul(ub);
            assert_eq!(call(&m, 4, &p), v ^ u64::from(o), "{ua} * {ub}");
            assert_eq!(call(&m, 5, &p), u64::from(o), "{ua} * {ub} overflows");
            let (v, o) = a.overflowing_mul(b);
            assert_eq!(call(&m, 6, &p) as i64, v, "{a} * {b}");
            assert_eq!(call(&m, 7, &p), u64::from(o), "{a} * {b} overflows");
        }
    }

    for (x, y) in [
        (u128::MAX, 1),
        (u128::MAX, 2),
        (1 << 64, 1 << 63),
        (1 << 64, 1 << 64),
        (u128::from(u64::MAX), u128::from(u64::MAX)),
        ((1 << 127) - 1, 2),
        (1 << 127, 2),
        (0x1_0000_0001, 0xFFFF_FFFF_0000_0000_FFFF_FFFF),
        (3 << 64 | 5, 7 << 60),
        (0, u128::MAX),
    ] {
        for (x, y) in [(x, y), (y, x)] {
            let p = pair128(x, y);
            let (v, o) = x.overflowing_mul(y);
            assert_eq!(call(&m, 20, &p), v as u64, "{x:#x} * {y:#x}");
            assert_eq!(call(&m, 21, &p), u64::from(o), "{x:#x} * {y:#x} overflows");
        }
    }

    let wide: [u128; 8] = [
        0,
        1,
        u128::from(u64::MAX),
        1 << 64,
        (1 << 64) + 12_345,
        u128::MAX,
        0x8000_0000_0000_0000_0000_0000_0000_0001,
        0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
    ];
    for &x in &wide {
        for &y in &wide {
            let p = pair128(x, y);
            let w = x.wrapping_mul(y);
            assert_eq!(call(&m, 8, &p), w as u64, "{x:#x} * {y:#x} low");
            assert_eq!(call(&m, 9, &p), (w >> 64) as u64, "{x:#x} * {y:#x} high");
            if let Some(q) = x.checked_div(y) {
                assert_eq!(call(&m, 16, &p), q as u64, "{x:#x} / {y:#x} low");
                assert_eq!(call(&m, 17, &p), (q >> 64) as u64, "{x:#x} / {y:#x} high");
            }
        }
        for s in [0u32, 1, 5, 63, 64, 65, 100, 127] {
            let p = pair128(x, u128::from(s));
            let check = |entry: u16, want: u128, what: &str| {
                assert_eq!(call(&m, entry, &p), want as u64, "{x:#x} {what} {s} low");
                assert_eq!(
                    call(&m, entry + 1, &p),
                    (want >> 64) as u64,
                    "{x:#x} {what} {s} high"
                );
            };
            check(10, x << s, "<<");
            check(12, x >> s, ">>");
            check(14, ((x as i128) >> s) as u128, "ashr");
        }
    }

    // memcpy and memset of runtime lengths, memmove of overlapping ranges.
    for n in [0u8, 1, 5, 8, 15] {
        let params: Vec<u8> = std::iter::once(n).chain(1..16).collect();
        let mut buf = [0u8; 32];
        buf[..16].copy_from_slice(&params);
        buf.copy_within(0..usize::from(n), 1);
        buf[16..16 + usize::from(n)].fill(0xAB);
        let want = u64::from_le_bytes(buf[..8].try_into().unwrap())
            ^ u64::from_le_bytes(buf[16..24].try_into().unwrap());
        assert_eq!(call(&m, 18, &params), want, "memmove of {n}");
    }
    for len in 1..=17u8 {
        let params: Vec<u8> = (100..100 + len).collect();
        let mut buf = [0u8; 24];
        buf[..usize::from(len) - 1].copy_from_slice(&params[1..]);
        let want = u64::from_le_bytes(buf[..8].try_into().unwrap())
            ^ u64::from_le_bytes(buf[8..16].try_into().unwrap());
        assert_eq!(
            call(&m, 19, &params),
            want,
            "unaligned memcpy of {}",
            len - 1
        );
    }
}
