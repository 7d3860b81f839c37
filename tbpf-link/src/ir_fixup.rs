//! Rewrites textual LLVM IR (`.ll`) of a Rust contract so that LLVM's BPF backend can
//! lower it, and checks what cannot be lowered, naming the function.
//!
//! rustc's `bpfel-unknown-none` output, after fat LTO, still holds operations the BPF
//! backend refuses ("A call to built-in function 'memcpy' is not supported", "unsupported
//! signed division", `__multi3`, `__ashlti3`, ...). [`fixup_ir`] replaces each by code the
//! backend takes; the replacements are `alwaysinline` routines appended to the module, so
//! `opt -passes=always-inline` afterwards leaves no call to them. [`check_ir`], run on the
//! inlined IR, refuses what has no replacement (floats, functions of more than five
//! arguments, aggregate returns) with the function's name and what to do.
//!
//! The rewrites (docs/RUST.md, "Limits"):
//! - `"target-cpu"="generic"` (what prebuilt core says; v1 to LLVM) becomes `"v2"`, so every
//!   function has the attributes of the routines and inlining is allowed;
//! - `llvm.memcpy` / `llvm.memset` of a constant length of at most 40 loads and stores
//!   (given the pointers' alignment: a 32-byte hash at alignment 1 is 32) become their
//!   `.inline` form, which LLVM expands in place, the cheapest in gas; the others (runtime
//!   or larger lengths) call `__tos_memcpy` / `__tos_memset`, one function each that moves
//!   words while both pointers are 8-aligned, then bytes (LLVM would call `memcpy`, which
//!   BPF cannot, and an inline byte loop costs ~9 gas a byte); `llvm.memmove` becomes a
//!   byte-loop routine that copies forward or backward;
//! - `llvm.umul.with.overflow.i64` / `llvm.smul.with.overflow.i64` become routines on
//!   32-bit halves (LLVM would widen them to a 128-bit multiply), and
//!   `llvm.umul.with.overflow.i128` (`u128::checked_mul`) a routine on 64-bit words;
//! - `sdiv` / `srem` of i8, i16, i32 and i64 become unsigned divisions of the magnitudes
//!   (the quotient negated when the signs differ, the remainder with the dividend's sign);
//! - `mul i128` becomes a 64×64→128 product from 32-bit limbs plus both cross terms;
//! - `shl` / `lshr` / `ashr` of i128 by a non-constant amount become routines on two 64-bit
//!   words (constant shifts stay with the backend);
//! - `llvm.trap` becomes a `tos_log` from an address no module maps, which traps the call
//!   (the backend would call `__bpf_trap`, which no host provides).
//!
//! 128-bit division must already be expanded (`opt -expand-div-rem-bits=64` running
//! `expand-ir-insts`); a remaining `udiv`/`sdiv`/`urem`/`srem` of i128 is refused, as is
//! `llvm.smul.with.overflow.i128` (`i128::checked_mul`).

use std::collections::BTreeSet;
use std::fmt;

/// The most arguments a TBPF function call passes (registers r1 to r5).
pub const MAX_ARGS: usize = 5;

/// What the fixup changed: how many sites of each kind it rewrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrFixup {
    /// The rewritten module, with the routines it uses appended.
    pub text: String,
    /// Rewritten sites, by kind (`"memcpy"`, `"sdiv"`, ...), sorted by kind.
    pub rewrites: Vec<(&'static str, usize)>,
}

/// One thing in the IR that cannot become TBPF code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The function (demangled when it is a Rust legacy symbol), or `None` at module level.
    pub function: Option<String>,
    /// What it does that TBPF cannot.
    pub what: String,
    /// What to do about it.
    pub hint: &'static str,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(func) => write!(f, "in `{func}`: {} ({})", self.what, self.hint),
            None => write!(f, "{} ({})", self.what, self.hint),
        }
    }
}

/// Why IR cannot be made TBPF code: every problem found, in module order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrError {
    /// The problems, at least one.
    pub problems: Vec<Unsupported>,
}

impl fmt::Display for IrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line: command-line tools print errors on one line.
        write!(f, "the contract uses what TBPF cannot run: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for IrError {}

const HINT_FLOAT: &str =
    "TBPF has no floating point: use integers (fixed point), or build for wasm only";
const HINT_ARGS: &str = "TBPF passes at most 5 arguments in registers and a slice counts as two: \
     pass a struct by reference, or mark the function #[inline(always)]";
const HINT_AGGREGATE: &str = "TBPF returns one register: return through a `&mut` argument, \
     or mark the function #[inline(always)]";
const HINT_I128_MUL: &str = "multiply u128 magnitudes (u128::checked_mul works) and apply the sign";
const HINT_I128_DIV: &str = "128-bit division must be expanded first: opt's expand-ir-insts with -expand-div-rem-bits=64, as tosvm build runs it";
const HINT_SDIV: &str = "divide unsigned values, or i8 to i64";

/// Demangles a Rust legacy symbol (`_ZN4core3fmt9Formatter12pad_integral17h…E` →
/// `core::fmt::Formatter::pad_integral`); other names come back unchanged.
pub fn demangle(symbol: &str) -> String {
    let name = symbol.trim_start_matches('@').trim_matches('"');
    let Some(mut rest) = name.strip_prefix("_ZN") else {
        return name.to_owned();
    };
    let mut parts: Vec<&str> = Vec::new();
    while !rest.starts_with('E') {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = rest[..digits].parse::<usize>() else {
            return name.to_owned();
        };
        let Some(part) = rest.get(digits..digits + n) else {
            return name.to_owned();
        };
        parts.push(part);
        rest = &rest[digits + n..];
    }
    if parts
        .last()
        .is_some_and(|l| l.len() == 17 && l.starts_with('h'))
    {
        parts.pop();
    }
    parts
        .join("::")
        .replace("$LT$", "<")
        .replace("$GT$", ">")
        .replace("$u20$", " ")
        .replace("$u7b$", "{")
        .replace("$u7d$", "}")
        .replace("$RF$", "&")
        .replace("$C$", ",")
        .replace("..", "::")
}

/// The routines the rewrites call, each with the routines it calls itself.
struct Routine {
    name: &'static str,
    needs: &'static [&'static str],
    body: &'static str,
}

/// Function attributes of every routine: inlined, and the CPU of every rewritten function
/// (inlining requires equal `target-cpu`).
const ROUTINE_ATTRS: &str = "alwaysinline nounwind \"target-cpu\"=\"v2\"";

/// Function attributes of the copy routines, which stay functions.
const NOINLINE_ATTRS: &str = "noinline nounwind \"target-cpu\"=\"v2\"";

const ROUTINES: &[Routine] = &[
    Routine {
        name: "__tos_umulo64",
        needs: &[],
        // Overflow iff high×high ≠ 0, a cross product's high half ≠ 0, or the middle column
        // (the cross products' low halves plus the carry out of low×low) passes 32 bits.
        body: "define internal { i64, i1 } @__tos_umulo64(i64 %a, i64 %b) ATTRS {
  %al = and i64 %a, 4294967295
  %ah = lshr i64 %a, 32
  %bl = and i64 %b, 4294967295
  %bh = lshr i64 %b, 32
  %lo = mul i64 %al, %bl
  %c1 = mul i64 %ah, %bl
  %c2 = mul i64 %al, %bh
  %hh = mul i64 %ah, %bh
  %c1h = lshr i64 %c1, 32
  %c2h = lshr i64 %c2, 32
  %c1l = and i64 %c1, 4294967295
  %c2l = and i64 %c2, 4294967295
  %loh = lshr i64 %lo, 32
  %m0 = add i64 %c1l, %c2l
  %m1 = add i64 %m0, %loh
  %mh = lshr i64 %m1, 32
  %o1 = or i64 %hh, %c1h
  %o2 = or i64 %o1, %c2h
  %o3 = or i64 %o2, %mh
  %ovf = icmp ne i64 %o3, 0
  %res = mul i64 %a, %b
  %r0 = insertvalue { i64, i1 } poison, i64 %res, 0
  %r1 = insertvalue { i64, i1 } %r0, i1 %ovf, 1
  ret { i64, i1 } %r1
}",
    },
    Routine {
        name: "__tos_smulo64",
        needs: &["__tos_umulo64"],
        // Multiply the magnitudes unsigned; overflow if that does, or if the magnitude passes
        // 2^63 - 1 (positive product) or 2^63 (negative product).
        body: "define internal { i64, i1 } @__tos_smulo64(i64 %a, i64 %b) ATTRS {
  %an = icmp slt i64 %a, 0
  %bn = icmp slt i64 %b, 0
  %na = sub i64 0, %a
  %nb = sub i64 0, %b
  %ma = select i1 %an, i64 %na, i64 %a
  %mb = select i1 %bn, i64 %nb, i64 %b
  %u = call { i64, i1 } @__tos_umulo64(i64 %ma, i64 %mb)
  %um = extractvalue { i64, i1 } %u, 0
  %uo = extractvalue { i64, i1 } %u, 1
  %neg = xor i1 %an, %bn
  %lim = select i1 %neg, i64 -9223372036854775808, i64 9223372036854775807
  %big = icmp ugt i64 %um, %lim
  %ovf = or i1 %uo, %big
  %res = mul i64 %a, %b
  %r0 = insertvalue { i64, i1 } poison, i64 %res, 0
  %r1 = insertvalue { i64, i1 } %r0, i1 %ovf, 1
  ret { i64, i1 } %r1
}",
    },
    Routine {
        name: "__tos_umulo128",
        needs: &["__tos_umulo64", "__tos_mul128"],
        // x = x1:x0, y = y1:y0 (64-bit words). Overflow iff x1 and y1 are both non-zero, a
        // cross product x1·y0 or x0·y1 passes 64 bits, or the high word of x0·y0 plus both
        // cross products passes 64 bits (i128 additions, which the backend takes).
        body: "define internal { i128, i1 } @__tos_umulo128(i128 %x, i128 %y) ATTRS {
  %x0 = trunc i128 %x to i64
  %y0 = trunc i128 %y to i64
  %x1s = lshr i128 %x, 64
  %x1 = trunc i128 %x1s to i64
  %y1s = lshr i128 %y, 64
  %y1 = trunc i128 %y1s to i64
  %x1nz = icmp ne i64 %x1, 0
  %y1nz = icmp ne i64 %y1, 0
  %both = and i1 %x1nz, %y1nz
  %c1 = call { i64, i1 } @__tos_umulo64(i64 %x1, i64 %y0)
  %c1v = extractvalue { i64, i1 } %c1, 0
  %c1o = extractvalue { i64, i1 } %c1, 1
  %c2 = call { i64, i1 } @__tos_umulo64(i64 %x0, i64 %y1)
  %c2v = extractvalue { i64, i1 } %c2, 0
  %c2o = extractvalue { i64, i1 } %c2, 1
  %x0w = zext i64 %x0 to i128
  %y0w = zext i64 %y0 to i128
  %p00 = call i128 @__tos_mul128(i128 %x0w, i128 %y0w)
  %p00h = lshr i128 %p00, 64
  %c1w = zext i64 %c1v to i128
  %c2w = zext i64 %c2v to i128
  %h0 = add i128 %p00h, %c1w
  %h1 = add i128 %h0, %c2w
  %big = icmp uge i128 %h1, 18446744073709551616
  %o0 = or i1 %both, %c1o
  %o1 = or i1 %o0, %c2o
  %ovf = or i1 %o1, %big
  %res = call i128 @__tos_mul128(i128 %x, i128 %y)
  %r0 = insertvalue { i128, i1 } poison, i128 %res, 0
  %r1 = insertvalue { i128, i1 } %r0, i1 %ovf, 1
  ret { i128, i1 } %r1
}",
    },
    Routine {
        name: "__tos_sdiv64",
        needs: &[],
        body: "define internal i64 @__tos_sdiv64(i64 %a, i64 %b) ATTRS {
  %an = icmp slt i64 %a, 0
  %bn = icmp slt i64 %b, 0
  %na = sub i64 0, %a
  %nb = sub i64 0, %b
  %ma = select i1 %an, i64 %na, i64 %a
  %mb = select i1 %bn, i64 %nb, i64 %b
  %q = udiv i64 %ma, %mb
  %neg = xor i1 %an, %bn
  %nq = sub i64 0, %q
  %r = select i1 %neg, i64 %nq, i64 %q
  ret i64 %r
}",
    },
    Routine {
        name: "__tos_srem64",
        needs: &[],
        body: "define internal i64 @__tos_srem64(i64 %a, i64 %b) ATTRS {
  %an = icmp slt i64 %a, 0
  %bn = icmp slt i64 %b, 0
  %na = sub i64 0, %a
  %nb = sub i64 0, %b
  %ma = select i1 %an, i64 %na, i64 %a
  %mb = select i1 %bn, i64 %nb, i64 %b
  %q = urem i64 %ma, %mb
  %nq = sub i64 0, %q
  %r = select i1 %an, i64 %nq, i64 %q
  ret i64 %r
}",
    },
    Routine {
        name: "__tos_sdiv32",
        needs: &["__tos_sdiv64"],
        body: "define internal i32 @__tos_sdiv32(i32 %a, i32 %b) ATTRS {
  %a64 = sext i32 %a to i64
  %b64 = sext i32 %b to i64
  %r64 = call i64 @__tos_sdiv64(i64 %a64, i64 %b64)
  %r = trunc i64 %r64 to i32
  ret i32 %r
}",
    },
    Routine {
        name: "__tos_srem32",
        needs: &["__tos_srem64"],
        body: "define internal i32 @__tos_srem32(i32 %a, i32 %b) ATTRS {
  %a64 = sext i32 %a to i64
  %b64 = sext i32 %b to i64
  %r64 = call i64 @__tos_srem64(i64 %a64, i64 %b64)
  %r = trunc i64 %r64 to i32
  ret i32 %r
}",
    },
    Routine {
        name: "__tos_sdiv16",
        needs: &["__tos_sdiv64"],
        body: "define internal i16 @__tos_sdiv16(i16 %a, i16 %b) ATTRS {
  %a64 = sext i16 %a to i64
  %b64 = sext i16 %b to i64
  %r64 = call i64 @__tos_sdiv64(i64 %a64, i64 %b64)
  %r = trunc i64 %r64 to i16
  ret i16 %r
}",
    },
    Routine {
        name: "__tos_srem16",
        needs: &["__tos_srem64"],
        body: "define internal i16 @__tos_srem16(i16 %a, i16 %b) ATTRS {
  %a64 = sext i16 %a to i64
  %b64 = sext i16 %b to i64
  %r64 = call i64 @__tos_srem64(i64 %a64, i64 %b64)
  %r = trunc i64 %r64 to i16
  ret i16 %r
}",
    },
    Routine {
        name: "__tos_sdiv8",
        needs: &["__tos_sdiv64"],
        body: "define internal i8 @__tos_sdiv8(i8 %a, i8 %b) ATTRS {
  %a64 = sext i8 %a to i64
  %b64 = sext i8 %b to i64
  %r64 = call i64 @__tos_sdiv64(i64 %a64, i64 %b64)
  %r = trunc i64 %r64 to i8
  ret i8 %r
}",
    },
    Routine {
        name: "__tos_srem8",
        needs: &["__tos_srem64"],
        body: "define internal i8 @__tos_srem8(i8 %a, i8 %b) ATTRS {
  %a64 = sext i8 %a to i64
  %b64 = sext i8 %b to i64
  %r64 = call i64 @__tos_srem64(i64 %a64, i64 %b64)
  %r = trunc i64 %r64 to i8
  ret i8 %r
}",
    },
    Routine {
        name: "__tos_mul128",
        needs: &[],
        // lo×lo as a full 128-bit product from 32-bit limbs, plus both cross terms added into
        // the high word, wrapping (the high×high term only reaches bits 128 and up).
        body: "define internal i128 @__tos_mul128(i128 %a, i128 %b) ATTRS {
  %a0 = trunc i128 %a to i64
  %b0 = trunc i128 %b to i64
  %a1s = lshr i128 %a, 64
  %a1 = trunc i128 %a1s to i64
  %b1s = lshr i128 %b, 64
  %b1 = trunc i128 %b1s to i64
  %al = and i64 %a0, 4294967295
  %ah = lshr i64 %a0, 32
  %bl = and i64 %b0, 4294967295
  %bh = lshr i64 %b0, 32
  %ll = mul i64 %al, %bl
  %lh = mul i64 %al, %bh
  %hl = mul i64 %ah, %bl
  %hh = mul i64 %ah, %bh
  %llh = lshr i64 %ll, 32
  %lhl = and i64 %lh, 4294967295
  %hll = and i64 %hl, 4294967295
  %m0 = add i64 %llh, %lhl
  %mid = add i64 %m0, %hll
  %mids = shl i64 %mid, 32
  %lll = and i64 %ll, 4294967295
  %lo = or i64 %mids, %lll
  %lhh = lshr i64 %lh, 32
  %hlh = lshr i64 %hl, 32
  %midh = lshr i64 %mid, 32
  %h0 = add i64 %hh, %lhh
  %h1 = add i64 %h0, %hlh
  %h2 = add i64 %h1, %midh
  %x1 = mul i64 %a0, %b1
  %x2 = mul i64 %a1, %b0
  %h3 = add i64 %h2, %x1
  %hi = add i64 %h3, %x2
  %lo128 = zext i64 %lo to i128
  %hi128 = zext i64 %hi to i128
  %his = shl i128 %hi128, 64
  %r = or i128 %his, %lo128
  ret i128 %r
}",
    },
    Routine {
        name: "__tos_shl128",
        needs: &[],
        // Amounts are taken modulo 128 (larger ones are poison in LLVM); 0 and >= 64 apart.
        body: "define internal i128 @__tos_shl128(i128 %a, i128 %s) ATTRS {
  %lo = trunc i128 %a to i64
  %hs = lshr i128 %a, 64
  %hi = trunc i128 %hs to i64
  %s64 = trunc i128 %s to i64
  %n = and i64 %s64, 127
  %ge = icmp uge i64 %n, 64
  %z = icmp eq i64 %n, 0
  %m = and i64 %n, 63
  %inv = sub i64 64, %m
  %h1 = shl i64 %hi, %m
  %c = lshr i64 %lo, %inv
  %hsm = or i64 %h1, %c
  %lsm = shl i64 %lo, %m
  %hbig = select i1 %ge, i64 %lsm, i64 %hsm
  %lbig = select i1 %ge, i64 0, i64 %lsm
  %hr = select i1 %z, i64 %hi, i64 %hbig
  %lr = select i1 %z, i64 %lo, i64 %lbig
  %lr128 = zext i64 %lr to i128
  %hr128 = zext i64 %hr to i128
  %hrs = shl i128 %hr128, 64
  %r = or i128 %hrs, %lr128
  ret i128 %r
}",
    },
    Routine {
        name: "__tos_lshr128",
        needs: &[],
        body: "define internal i128 @__tos_lshr128(i128 %a, i128 %s) ATTRS {
  %lo = trunc i128 %a to i64
  %hs = lshr i128 %a, 64
  %hi = trunc i128 %hs to i64
  %s64 = trunc i128 %s to i64
  %n = and i64 %s64, 127
  %ge = icmp uge i64 %n, 64
  %z = icmp eq i64 %n, 0
  %m = and i64 %n, 63
  %inv = sub i64 64, %m
  %l1 = lshr i64 %lo, %m
  %c = shl i64 %hi, %inv
  %lsm = or i64 %l1, %c
  %hsm = lshr i64 %hi, %m
  %lbig = select i1 %ge, i64 %hsm, i64 %lsm
  %hbig = select i1 %ge, i64 0, i64 %hsm
  %hr = select i1 %z, i64 %hi, i64 %hbig
  %lr = select i1 %z, i64 %lo, i64 %lbig
  %lr128 = zext i64 %lr to i128
  %hr128 = zext i64 %hr to i128
  %hrs = shl i128 %hr128, 64
  %r = or i128 %hrs, %lr128
  ret i128 %r
}",
    },
    Routine {
        name: "__tos_ashr128",
        needs: &[],
        body: "define internal i128 @__tos_ashr128(i128 %a, i128 %s) ATTRS {
  %lo = trunc i128 %a to i64
  %hs = lshr i128 %a, 64
  %hi = trunc i128 %hs to i64
  %s64 = trunc i128 %s to i64
  %n = and i64 %s64, 127
  %ge = icmp uge i64 %n, 64
  %z = icmp eq i64 %n, 0
  %m = and i64 %n, 63
  %inv = sub i64 64, %m
  %l1 = lshr i64 %lo, %m
  %c = shl i64 %hi, %inv
  %lsm = or i64 %l1, %c
  %hsm = ashr i64 %hi, %m
  %sign = ashr i64 %hi, 63
  %lbig = select i1 %ge, i64 %hsm, i64 %lsm
  %hbig = select i1 %ge, i64 %sign, i64 %hsm
  %hr = select i1 %z, i64 %hi, i64 %hbig
  %lr = select i1 %z, i64 %lo, i64 %lbig
  %lr128 = zext i64 %lr to i128
  %hr128 = zext i64 %hr to i128
  %hrs = shl i128 %hr128, 64
  %r = or i128 %hrs, %lr128
  ret i128 %r
}",
    },
    Routine {
        name: "__tos_memcpy",
        needs: &[],
        // Words while both pointers are 8-aligned, then bytes. A real function (not inlined):
        // one loop per module instead of one per copy.
        body: "define internal void @__tos_memcpy(ptr %d, ptr %s, i64 %n, i1 %volatile) NOINLINE {
entry:
  %di = ptrtoint ptr %d to i64
  %si = ptrtoint ptr %s to i64
  %or = or i64 %di, %si
  %al = and i64 %or, 7
  %aligned = icmp eq i64 %al, 0
  %nw = and i64 %n, -8
  %wend = select i1 %aligned, i64 %nw, i64 0
  br label %w.head
w.head:
  %i = phi i64 [ 0, %entry ], [ %i8, %w.body ]
  %wdone = icmp uge i64 %i, %wend
  br i1 %wdone, label %b.head, label %w.body
w.body:
  %ws = getelementptr i8, ptr %s, i64 %i
  %wv = load i64, ptr %ws, align 8
  %wd = getelementptr i8, ptr %d, i64 %i
  store i64 %wv, ptr %wd, align 8
  %i8 = add i64 %i, 8
  br label %w.head
b.head:
  %j = phi i64 [ %i, %w.head ], [ %j1, %b.body ]
  %bdone = icmp uge i64 %j, %n
  br i1 %bdone, label %exit, label %b.body
b.body:
  %bs = getelementptr i8, ptr %s, i64 %j
  %bv = load i8, ptr %bs, align 1
  %bd = getelementptr i8, ptr %d, i64 %j
  store i8 %bv, ptr %bd, align 1
  %j1 = add i64 %j, 1
  br label %b.head
exit:
  ret void
}",
    },
    Routine {
        name: "__tos_memset",
        needs: &[],
        body: "define internal void @__tos_memset(ptr %d, i8 %c, i64 %n, i1 %volatile) NOINLINE {
entry:
  %di = ptrtoint ptr %d to i64
  %al = and i64 %di, 7
  %aligned = icmp eq i64 %al, 0
  %nw = and i64 %n, -8
  %wend = select i1 %aligned, i64 %nw, i64 0
  %c64 = zext i8 %c to i64
  %w = mul i64 %c64, 72340172838076673
  br label %w.head
w.head:
  %i = phi i64 [ 0, %entry ], [ %i8, %w.body ]
  %wdone = icmp uge i64 %i, %wend
  br i1 %wdone, label %b.head, label %w.body
w.body:
  %wd = getelementptr i8, ptr %d, i64 %i
  store i64 %w, ptr %wd, align 8
  %i8 = add i64 %i, 8
  br label %w.head
b.head:
  %j = phi i64 [ %i, %w.head ], [ %j1, %b.body ]
  %bdone = icmp uge i64 %j, %n
  br i1 %bdone, label %exit, label %b.body
b.body:
  %bd = getelementptr i8, ptr %d, i64 %j
  store i8 %c, ptr %bd, align 1
  %j1 = add i64 %j, 1
  br label %b.head
exit:
  ret void
}",
    },
    Routine {
        name: "__tos_memmove",
        needs: &[],
        // Byte by byte, forward when the destination is below the source, else backward.
        body: "define internal void @__tos_memmove(ptr %d, ptr %s, i64 %n, i1 %volatile) ATTRS {
entry:
  %dn = ptrtoint ptr %d to i64
  %sn = ptrtoint ptr %s to i64
  %fwd = icmp ule i64 %dn, %sn
  br i1 %fwd, label %f.head, label %b.head
f.head:
  %i = phi i64 [ 0, %entry ], [ %i1, %f.body ]
  %fdone = icmp eq i64 %i, %n
  br i1 %fdone, label %exit, label %f.body
f.body:
  %fs = getelementptr i8, ptr %s, i64 %i
  %fv = load i8, ptr %fs, align 1
  %fd = getelementptr i8, ptr %d, i64 %i
  store i8 %fv, ptr %fd, align 1
  %i1 = add i64 %i, 1
  br label %f.head
b.head:
  %j = phi i64 [ %n, %entry ], [ %j1, %b.body ]
  %bdone = icmp eq i64 %j, 0
  br i1 %bdone, label %exit, label %b.body
b.body:
  %j1 = sub i64 %j, 1
  %bs = getelementptr i8, ptr %s, i64 %j1
  %bv = load i8, ptr %bs, align 1
  %bd = getelementptr i8, ptr %d, i64 %j1
  store i8 %bv, ptr %bd, align 1
  br label %b.head
exit:
  ret void
}",
    },
    Routine {
        name: "__tos_trap",
        needs: &[],
        // A log from address 8, which no TBPF region maps: the host traps the call.
        body: "define internal void @__tos_trap() ATTRS {
  %r = call i64 @tos_log(i64 8, i64 1)
  ret void
}",
    },
];

/// Intrinsic calls replaced by a routine: (callee as written, routine, kind).
const CALL_REPLACEMENTS: &[(&str, &str, &str)] = &[
    (
        "@llvm.umul.with.overflow.i64(",
        "@__tos_umulo64(",
        "umul.with.overflow",
    ),
    (
        "@llvm.smul.with.overflow.i64(",
        "@__tos_smulo64(",
        "smul.with.overflow",
    ),
    (
        "@llvm.umul.with.overflow.i128(",
        "@__tos_umulo128(",
        "umul.with.overflow",
    ),
    ("@llvm.memmove.p0.p0.i64(", "@__tos_memmove(", "memmove"),
    ("@llvm.trap()", "@__tos_trap()", "trap"),
];

/// A function name as written after `@` (plain or quoted), at the start of `s`.
fn symbol_at(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('"') {
        let end = rest.find('"').map_or(s.len(), |i| i + 2);
        &s[..end]
    } else {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_.$-".contains(c)))
            .unwrap_or(s.len());
        &s[..end]
    }
}

/// The name and parameter list of a `define` / `declare` line.
fn signature(line: &str) -> Option<(String, Vec<String>, String)> {
    // The name is the first `@` outside quotes of attribute strings; the return type
    // precedes it.
    let at = line.find(" @")?;
    let head = &line[..at];
    let name = symbol_at(&line[at + 2..]);
    let open = at + 2 + name.len();
    if line.as_bytes().get(open) != Some(&b'(') {
        return None;
    }
    let mut depth = 0usize;
    let mut params = Vec::new();
    let mut start = open + 1;
    for (i, c) in line[open..].char_indices() {
        let i = i + open;
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let p = line[start..i].trim();
                    if !p.is_empty() {
                        params.push(p.to_owned());
                    }
                    break;
                }
            }
            ',' if depth == 1 => {
                params.push(line[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    // The return type: the last word of the head that is a type, roughly everything after
    // `define`/`declare` and linkage words; only whether it is an aggregate matters.
    Some((name.to_owned(), params, head.to_owned()))
}

/// The opcode of an instruction line (`%x = sdiv i64 ...` → `sdiv`), and what follows it.
fn opcode(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    if !line.starts_with(' ') {
        return None;
    }
    let body = match t.strip_prefix('%') {
        Some(_) => t.split_once(" = ")?.1,
        None => t,
    };
    let (op, rest) = body.split_once(' ').unwrap_or((body, ""));
    Some((op, rest))
}

/// The arguments of a call, from its opening parenthesis (top-level commas only).
fn call_args(s: &str) -> Vec<&str> {
    let mut depth = 0usize;
    let mut args = Vec::new();
    let mut start = 1;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    args.push(s[start..i].trim());
                    break;
                }
            }
            ',' if depth == 1 => {
                args.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    args
}

/// The most loads and stores a copy or fill may take inline; longer ones, and those of
/// runtime length, call the word-copy routines (one copy of the loop in the module).
/// Measured on the token example: 16 gave a 6.5 KB module but transfers 29% dearer in gas
/// (32-byte hashes at alignment 1 went through the byte loop), 32 gave 11 KB and +9%, 40
/// keeps every hash and `"bal" ++ account` key inline: 14 KB, gas within 2% of C.
const INLINE_MOVES: u64 = 40;

/// Whether a memcpy/memset call (its arguments) has a constant length short enough to
/// expand inline, given the alignment of its pointers.
fn short_enough(args: &[&str]) -> bool {
    let Some(len) = args
        .get(2)
        .and_then(|a| a.strip_prefix("i64 "))
        .and_then(|n| n.trim().parse::<u64>().ok())
    else {
        return false;
    };
    let align = |a: &str| {
        a.split_once("align ")
            .and_then(|(_, r)| r.split(' ').next()?.parse::<u64>().ok())
            .unwrap_or(1)
    };
    // memcpy's source is its second argument; memset's second is the byte.
    let src = args
        .get(1)
        .filter(|a| a.starts_with("ptr"))
        .map_or(8, |a| align(a));
    let unit = align(args.first().copied().unwrap_or(""))
        .min(src)
        .clamp(1, 8);
    len / unit <= INLINE_MOVES
}

/// Splits `A, B` operands of a binary instruction (after the type), keeping metadata apart.
fn two_operands(s: &str) -> Option<(&str, &str, &str)> {
    let (a, rest) = s.split_once(", ")?;
    let (b, tail) = match rest.split_once(", ") {
        Some((b, tail)) => (b, tail),
        None => (rest, ""),
    };
    let simple = |o: &str| {
        !o.is_empty()
            && (o.starts_with('%')
                || o.parse::<i128>().is_ok()
                || o == "poison"
                || o == "undef"
                || o == "true"
                || o == "false")
    };
    (simple(a) && simple(b)).then_some((a, b, tail))
}

/// Rewrites the IR so that LLVM's BPF backend can lower it (see the module docs).
///
/// # Errors
/// What no rewrite covers and would make `llc` fail with a less helpful message: a 128-bit
/// division left unexpanded, `llvm.*mul.with.overflow.i128`, a vector signed division or
/// a signed division whose operands are constant expressions.
pub fn fixup_ir(ll: &str) -> Result<IrFixup, IrError> {
    let mut out = String::with_capacity(ll.len() + 4096);
    let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut used: BTreeSet<&'static str> = BTreeSet::new();
    let mut problems = Vec::new();
    let mut function: Option<String> = None;
    let mut declared: BTreeSet<String> = BTreeSet::new();

    for line in ll.lines() {
        if line.starts_with("declare ")
            && let Some((name, _, _)) = signature(line)
        {
            declared.insert(name);
        }
    }

    for line in ll.lines() {
        let mut line = line.to_owned();
        if line.starts_with("define ") {
            function = signature(&line).map(|(n, _, _)| demangle(&n));
        } else if line == "}" {
            function = None;
        }
        if line.starts_with("attributes #") && line.contains("\"target-cpu\"=\"generic\"") {
            line = line.replace("\"target-cpu\"=\"generic\"", "\"target-cpu\"=\"v2\"");
            *counts.entry("target-cpu").or_default() += 1;
        }
        if line.starts_with("declare ") {
            // Declarations of replaced intrinsics go; the .inline forms are declared once.
            if CALL_REPLACEMENTS
                .iter()
                .any(|(from, _, _)| line.contains(from))
            {
                continue;
            }
            if let Some((name, _, _)) = signature(&line) {
                for (plain, inline) in [
                    ("llvm.memcpy.p0", "llvm.memcpy.inline.p0"),
                    ("llvm.memset.p0", "llvm.memset.inline.p0"),
                ] {
                    if let Some(suffix) = name.strip_prefix(plain) {
                        let target = format!("{inline}{suffix}");
                        if declared.contains(&target) {
                            line.clear();
                        } else {
                            declared.insert(target);
                            line =
                                line.replace(&format!("@{name}("), &format!("@{inline}{suffix}("));
                        }
                    }
                }
            }
            if line.is_empty() {
                continue;
            }
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        if !line.starts_with(' ') {
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        // Intrinsic calls: short copies inline, the others through the word-copy routines.
        for (plain, inline, routine, kind) in [
            (
                "@llvm.memcpy.p0.p0.i64(",
                "@llvm.memcpy.inline.p0.p0.i64(",
                "__tos_memcpy",
                "memcpy",
            ),
            (
                "@llvm.memset.p0.i64(",
                "@llvm.memset.inline.p0.i64(",
                "__tos_memset",
                "memset",
            ),
        ] {
            if let Some(at) = line.find(plain) {
                let args = call_args(&line[at + plain.len() - 1..]);
                if short_enough(&args) {
                    line = line.replace(plain, inline);
                    *counts.entry(kind).or_default() += 1;
                } else {
                    line = line.replace(plain, &format!("@{routine}("));
                    used.insert(routine);
                    *counts
                        .entry(if kind == "memcpy" {
                            "memcpy (routine)"
                        } else {
                            "memset (routine)"
                        })
                        .or_default() += 1;
                }
            }
        }
        for (plain, inline, kind) in [
            ("@llvm.memcpy.p0", "@llvm.memcpy.inline.p0", "memcpy"),
            ("@llvm.memset.p0", "@llvm.memset.inline.p0", "memset"),
        ] {
            if line.contains(plain) {
                line = line.replace(plain, inline);
                *counts.entry(kind).or_default() += 1;
            }
        }
        for (from, to, kind) in CALL_REPLACEMENTS {
            if line.contains(from) {
                line = line.replace(from, to);
                *counts.entry(kind).or_default() += 1;
                used.insert(&to[1..to.find('(').unwrap_or(to.len())]);
            }
        }
        if line.contains("smul.with.overflow.i128(") {
            problems.push(Unsupported {
                function: function.clone(),
                what: "a checked or overflowing i128 multiplication".to_owned(),
                hint: HINT_I128_MUL,
            });
        }
        // Instructions.
        if let Some((op, rest)) = opcode(&line) {
            let dest = line
                .trim_start()
                .split_once(" = ")
                .map(|(d, _)| d.to_owned());
            let indent = &line[..line.len() - line.trim_start().len()];
            let rest = rest
                .trim_start_matches("exact ")
                .trim_start_matches("nuw ")
                .trim_start_matches("nsw ")
                .trim_start_matches("nuw ")
                .trim_start_matches("disjoint ");
            let (ty, operands) = rest.split_once(' ').unwrap_or((rest, ""));
            let routine: Option<(&'static str, &'static str)> = match (op, ty) {
                ("sdiv", "i64") => Some(("__tos_sdiv64", "sdiv")),
                ("sdiv", "i32") => Some(("__tos_sdiv32", "sdiv")),
                ("sdiv", "i16") => Some(("__tos_sdiv16", "sdiv")),
                ("sdiv", "i8") => Some(("__tos_sdiv8", "sdiv")),
                ("srem", "i64") => Some(("__tos_srem64", "srem")),
                ("srem", "i32") => Some(("__tos_srem32", "srem")),
                ("srem", "i16") => Some(("__tos_srem16", "srem")),
                ("srem", "i8") => Some(("__tos_srem8", "srem")),
                ("mul", "i128") => Some(("__tos_mul128", "mul i128")),
                ("shl" | "lshr" | "ashr", "i128") => {
                    let constant = operands.split_once(", ").is_some_and(|(_, b)| {
                        b.split(", ")
                            .next()
                            .is_some_and(|b| b.parse::<i128>().is_ok())
                    });
                    match (constant, op) {
                        (true, _) => None,
                        (false, "shl") => Some(("__tos_shl128", "shift i128")),
                        (false, "lshr") => Some(("__tos_lshr128", "shift i128")),
                        (false, _) => Some(("__tos_ashr128", "shift i128")),
                    }
                }
                ("sdiv" | "srem" | "udiv" | "urem", "i128") => {
                    problems.push(Unsupported {
                        function: function.clone(),
                        what: format!("a 128-bit `{op}` the expansion pass left"),
                        hint: HINT_I128_DIV,
                    });
                    None
                }
                ("sdiv" | "srem", t) => {
                    problems.push(Unsupported {
                        function: function.clone(),
                        what: format!("a signed division of type {t}"),
                        hint: HINT_SDIV,
                    });
                    None
                }
                _ => None,
            };
            if let (Some((name, kind)), Some(dest)) = (routine, dest) {
                match two_operands(operands) {
                    Some((a, b, tail)) => {
                        let tail = if tail.is_empty() {
                            String::new()
                        } else {
                            format!(", {tail}")
                        };
                        line =
                            format!("{indent}{dest} = call {ty} @{name}({ty} {a}, {ty} {b}){tail}");
                        used.insert(name);
                        *counts.entry(kind).or_default() += 1;
                    }
                    None => problems.push(Unsupported {
                        function: function.clone(),
                        what: format!("`{op} {ty}` of constant expressions"),
                        hint: HINT_SDIV,
                    }),
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    if !problems.is_empty() {
        return Err(IrError { problems });
    }

    // The routines used, with what they call, in table order.
    let mut need: BTreeSet<&str> = used.clone();
    loop {
        let before = need.len();
        for r in ROUTINES {
            if need.contains(r.name) {
                need.extend(r.needs.iter().copied());
            }
        }
        if need.len() == before {
            break;
        }
    }
    if !need.is_empty() {
        out.push_str(
            "\n; tos-tbpf-link ir_fixup: routines for what the BPF backend cannot lower\n",
        );
    }
    for r in ROUTINES.iter().filter(|r| need.contains(r.name)) {
        out.push_str(
            &r.body
                .replace("ATTRS", ROUTINE_ATTRS)
                .replace("NOINLINE", NOINLINE_ATTRS),
        );
        out.push_str("\n\n");
    }
    if need.contains("__tos_trap") && !declared.contains("tos_log") && !ll.contains("@tos_log(") {
        out.push_str("declare i64 @tos_log(i64, i64)\n");
    }
    Ok(IrFixup {
        text: out,
        rewrites: counts.into_iter().collect(),
    })
}

/// Float opcodes: TBPF has no floating point (LLVM would call soft-float routines).
const FLOAT_OPS: &[&str] = &[
    "fadd", "fsub", "fmul", "fdiv", "frem", "fneg", "fcmp", "fptoui", "fptosi", "uitofp", "sitofp",
    "fpext", "fptrunc",
];

/// Checks IR after [`fixup_ir`] and inlining for what TBPF cannot run: floating point,
/// functions of more than [`MAX_ARGS`] arguments, aggregate returns, and calls to
/// `llvm.memcpy`/`memset` or routines that were not inlined.
///
/// # Errors
/// Every problem found, each naming its function.
pub fn check_ir(ll: &str) -> Result<(), IrError> {
    let mut problems = Vec::new();
    let mut function: Option<String> = None;
    let mut floats_reported: BTreeSet<String> = BTreeSet::new();
    for line in ll.lines() {
        if line.starts_with("define ") || line.starts_with("declare ") {
            let Some((name, params, head)) = signature(line) else {
                continue;
            };
            if name.starts_with("llvm.") {
                continue;
            }
            let pretty = demangle(&name);
            if line.starts_with("define ") {
                function = Some(pretty.clone());
            }
            // An i128 travels in two registers, as a slice does.
            let args: usize = params
                .iter()
                .filter(|p| p.as_str() != "...")
                .map(|p| if p.starts_with("i128") { 2 } else { 1 })
                .sum();
            if args > MAX_ARGS {
                problems.push(Unsupported {
                    function: Some(pretty.clone()),
                    what: format!("a function of {args} arguments (at most {MAX_ARGS})"),
                    hint: HINT_ARGS,
                });
            }
            let ret = head.split_whitespace().find(|w| {
                w.starts_with('{') || w.starts_with('[') || w.starts_with('<') || *w == "i128"
            });
            if ret.is_some() {
                problems.push(Unsupported {
                    function: Some(pretty),
                    what: "a function that returns an aggregate or a 128-bit value".to_owned(),
                    hint: HINT_AGGREGATE,
                });
            }
            continue;
        }
        if line == "}" {
            function = None;
            continue;
        }
        let Some(func) = &function else { continue };
        let Some((op, rest)) = opcode(line) else {
            continue;
        };
        let float_call = op == "call" && (rest.contains(".f32(") || rest.contains(".f64("));
        if (FLOAT_OPS.contains(&op) || float_call) && floats_reported.insert(func.clone()) {
            problems.push(Unsupported {
                function: Some(func.clone()),
                what: format!("floating point (`{op}`), there or in a function inlined into it"),
                hint: HINT_FLOAT,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(IrError { problems })
    }
}
