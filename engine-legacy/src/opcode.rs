//! The one opcode table. `define_opcodes!` turns it into the opcode enum, the decoded
//! instruction enum, the decoder and encoder, the mnemonics, the gas costs and the stack
//! effects; OPCODES.md is rendered from it (and a test keeps the file current).

/// The kind of an instruction's operand: its width, and how the assembler spells it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OperandKind {
    /// `u8`: a local slot of the current chunk.
    Local,
    /// `u8`: a stack position counted from the top (0 = top).
    Depth,
    /// `u8`: a number of values.
    Count,
    /// `u8`: an immediate small integer.
    Imm,
    /// `u16`: a constant id.
    Const,
    /// `u16`: a chunk id.
    Chunk,
    /// `u16`: a byte offset in the current chunk (an instruction boundary).
    Target,
    /// `u32`: a syscall id (murmur3-32 of its name).
    Syscall,
}

impl OperandKind {
    /// Encoded width in bytes.
    pub(crate) const fn width(self) -> usize {
        match self {
            OperandKind::Local | OperandKind::Depth | OperandKind::Count | OperandKind::Imm => 1,
            OperandKind::Const | OperandKind::Chunk | OperandKind::Target => 2,
            OperandKind::Syscall => 4,
        }
    }

    /// How OPCODES.md names the operand.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const fn doc_name(self) -> &'static str {
        match self {
            OperandKind::Local => "local:u8",
            OperandKind::Depth => "depth:u8",
            OperandKind::Count => "count:u8",
            OperandKind::Imm => "imm:u8",
            OperandKind::Const => "const:u16",
            OperandKind::Chunk => "chunk:u16",
            OperandKind::Target => "target:u16",
            OperandKind::Syscall => "syscall:u32",
        }
    }
}

/// How an instruction changes the height of the operand stack.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Effect {
    /// Pops this many values, then pushes this many.
    Fixed(u8, u8),
    /// Depends on the operand or the chunk (documented per opcode; validation knows).
    Dynamic,
}

const fn fx(pop: u8, push: u8) -> Effect {
    Effect::Fixed(pop, push)
}

const DYN: Effect = Effect::Dynamic;

/// Why bytes do not decode as an instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DecodeError {
    /// The byte is no opcode.
    BadOpcode(u8),
    /// The code ends inside the instruction's operands.
    Truncated,
}

/// An operand type: a little-endian unsigned integer.
pub(crate) trait Operand: Copy + Into<u32> + TryFrom<u32> {
    const WIDTH: usize;
    fn read(code: &[u8], at: &mut usize) -> Result<Self, DecodeError>;
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! impl_operand {
    ($($t:ty),*) => {$(
        impl Operand for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            #[inline]
            fn read(code: &[u8], at: &mut usize) -> Result<Self, DecodeError> {
                let end = at.checked_add(Self::WIDTH).ok_or(DecodeError::Truncated)?;
                let bytes = code.get(*at..end).ok_or(DecodeError::Truncated)?;
                let arr = <[u8; std::mem::size_of::<$t>()]>::try_from(bytes)
                    .map_err(|_| DecodeError::Truncated)?;
                *at = end;
                Ok(<$t>::from_le_bytes(arr))
            }
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
impl_operand!(u8, u16, u32);

macro_rules! operand_ty {
    (Local) => {
        u8
    };
    (Depth) => {
        u8
    };
    (Count) => {
        u8
    };
    (Imm) => {
        u8
    };
    (Const) => {
        u16
    };
    (Chunk) => {
        u16
    };
    (Target) => {
        u16
    };
    (Syscall) => {
        u32
    };
}

macro_rules! define_opcodes {
    ($(
        $name:ident = $byte:literal, $text:literal, ($($field:ident: $kind:ident),*),
            gas $gas:literal, $effect:expr, $doc:literal;
    )*) => {
        /// An opcode byte.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u8)]
        pub(crate) enum Opcode {
            $(
                #[doc = $doc]
                $name = $byte,
            )*
        }

        /// A decoded instruction, operands included.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub(crate) enum Instr {
            $(
                #[doc = $doc]
                $name($(operand_ty!($kind)),*),
            )*
        }

        impl Opcode {
            /// Every opcode, in table order.
            pub(crate) const ALL: &'static [Opcode] = &[$(Opcode::$name),*];

            /// The opcode of a byte.
            pub(crate) const fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($byte => Some(Opcode::$name),)*
                    _ => None,
                }
            }

            /// The assembler mnemonic.
            pub(crate) const fn name(self) -> &'static str {
                match self { $(Opcode::$name => $text,)* }
            }

            /// The static gas cost (dynamic charges come on top, see the crate docs).
            #[inline(always)]
            pub(crate) const fn gas(self) -> u64 {
                match self { $(Opcode::$name => $gas,)* }
            }

            /// The stack effect.
            pub(crate) const fn effect(self) -> Effect {
                match self { $(Opcode::$name => $effect,)* }
            }

            /// The operand kinds, in encoding order.
            pub(crate) const fn operands(self) -> &'static [OperandKind] {
                match self { $(Opcode::$name => &[$(OperandKind::$kind),*],)* }
            }

            /// One line of documentation (rendered into OPCODES.md).
            #[cfg_attr(not(test), allow(dead_code))]
            pub(crate) const fn doc(self) -> &'static str {
                match self { $(Opcode::$name => $doc,)* }
            }

            /// Encoded size of the instruction: the opcode byte and the operands.
            pub(crate) const fn size(self) -> usize {
                let ops = self.operands();
                let mut n = 1;
                let mut i = 0;
                while i < ops.len() {
                    n += ops[i].width();
                    i += 1;
                }
                n
            }

            /// The opcode with this mnemonic.
            pub(crate) fn from_name(name: &str) -> Option<Opcode> {
                Self::ALL.iter().copied().find(|op| op.name() == name)
            }
        }

        impl Instr {
            /// The instruction's opcode.
            #[inline]
            pub(crate) const fn opcode(&self) -> Opcode {
                match self { $(Instr::$name(..) => Opcode::$name,)* }
            }

            /// Decodes the instruction at `pos`; returns it and the position after it.
            pub(crate) fn decode(code: &[u8], pos: usize) -> Result<(Instr, usize), DecodeError> {
                let byte = *code.get(pos).ok_or(DecodeError::Truncated)?;
                let op = Opcode::from_byte(byte).ok_or(DecodeError::BadOpcode(byte))?;
                let mut at = pos.checked_add(1).ok_or(DecodeError::Truncated)?;
                let instr = match op {
                    $(Opcode::$name => Instr::$name(
                        $(<operand_ty!($kind) as Operand>::read(code, &mut at)?),*
                    ),)*
                };
                Ok((instr, at))
            }

            /// Appends the instruction's encoding.
            pub(crate) fn encode(&self, out: &mut Vec<u8>) {
                match *self {
                    $(Instr::$name($($field),*) => {
                        out.push($byte);
                        $(Operand::put($field, out);)*
                    })*
                }
            }

            /// The operand values, widened to `u32`, in encoding order.
            pub(crate) fn operand_values(&self) -> Vec<u32> {
                match *self {
                    $(Instr::$name($($field),*) => vec![$(u32::from($field)),*],)*
                }
            }

            /// Builds an instruction from its opcode and operand values; `None` if the count
            /// is wrong or a value does not fit its operand.
            pub(crate) fn from_parts(op: Opcode, values: &[u32]) -> Option<Instr> {
                match op {
                    $(Opcode::$name => {
                        let mut it = values.iter().copied();
                        let instr = Instr::$name(
                            $(<operand_ty!($kind)>::try_from(it.next()?).ok()?),*
                        );
                        if it.next().is_some() {
                            return None;
                        }
                        Some(instr)
                    })*
                }
            }
        }
    };
}

define_opcodes! {
    Nop = 0x00, "nop", (), gas 1, fx(0, 0), "Does nothing.";
    Const = 0x01, "const", (id: Const), gas 1, fx(0, 1),
        "Pushes a copy of constant `id` (+ size charge).";
    Null = 0x02, "null", (), gas 1, fx(0, 1), "Pushes `null`.";
    True = 0x03, "true", (), gas 1, fx(0, 1), "Pushes `true`.";
    False = 0x04, "false", (), gas 1, fx(0, 1), "Pushes `false`.";
    Imm = 0x05, "imm", (value: Imm), gas 1, fx(0, 1), "Pushes the u64 `imm` (0..=255).";
    Pop = 0x06, "pop", (), gas 1, fx(1, 0), "Drops the top value.";
    Copy = 0x07, "copy", (depth: Depth), gas 1, DYN,
        "Pushes a copy of the value `depth` below the top (`copy 0` duplicates; + size charge). Needs depth+1 values.";
    Swap = 0x08, "swap", (depth: Depth), gas 1, DYN,
        "Swaps the top with the value `depth` below it. Needs depth+1 values.";
    Load = 0x09, "load", (local: Local), gas 1, fx(0, 1),
        "Pushes a copy of local `local` (+ size charge).";
    Store = 0x0a, "store", (local: Local), gas 1, fx(1, 0), "Pops into local `local`.";

    Add = 0x10, "add", (), gas 1, fx(2, 1), "a b → a+b; same integer type; overflow traps.";
    Sub = 0x11, "sub", (), gas 1, fx(2, 1), "a b → a-b; same integer type; underflow traps.";
    Mul = 0x12, "mul", (), gas 1, fx(2, 1), "a b → a*b; same integer type; overflow traps.";
    Div = 0x13, "div", (), gas 2, fx(2, 1), "a b → a/b; same integer type; b = 0 traps.";
    Rem = 0x14, "rem", (), gas 2, fx(2, 1), "a b → a%b; same integer type; b = 0 traps.";
    Shl = 0x15, "shl", (), gas 1, fx(2, 1),
        "a n → a<<n; n any integer below a's width in bits, else overflow trap.";
    Shr = 0x16, "shr", (), gas 1, fx(2, 1),
        "a n → a>>n; n any integer below a's width in bits, else overflow trap.";
    And = 0x17, "and", (), gas 1, fx(2, 1), "a b → a&b; same integer type, or two bools.";
    Or = 0x18, "or", (), gas 1, fx(2, 1), "a b → a|b; same integer type, or two bools.";
    Xor = 0x19, "xor", (), gas 1, fx(2, 1), "a b → a^b; same integer type, or two bools.";
    Not = 0x1a, "not", (), gas 1, fx(1, 1), "a → !a; bitwise for integers, logical for bools.";

    Eq = 0x20, "eq", (), gas 1, fx(2, 1), "a b → a == b (any values; + size charge).";
    Ne = 0x21, "ne", (), gas 1, fx(2, 1), "a b → a != b (any values; + size charge).";
    Lt = 0x22, "lt", (), gas 1, fx(2, 1),
        "a b → a < b; same type: integers, bools, strings or bytes (+ size charge).";
    Le = 0x23, "le", (), gas 1, fx(2, 1), "a b → a <= b; as `lt`.";
    Gt = 0x24, "gt", (), gas 1, fx(2, 1), "a b → a > b; as `lt`.";
    Ge = 0x25, "ge", (), gas 1, fx(2, 1), "a b → a >= b; as `lt`.";
    IsNull = 0x26, "is_null", (), gas 1, fx(1, 1), "a → whether a is null.";

    CastU8 = 0x28, "cast.u8", (), gas 1, fx(1, 1),
        "Integer or bool → u8; a value that does not fit traps (overflow).";
    CastU16 = 0x29, "cast.u16", (), gas 1, fx(1, 1), "Integer or bool → u16; as `cast.u8`.";
    CastU32 = 0x2a, "cast.u32", (), gas 1, fx(1, 1), "Integer or bool → u32; as `cast.u8`.";
    CastU64 = 0x2b, "cast.u64", (), gas 1, fx(1, 1), "Integer or bool → u64; as `cast.u8`.";
    CastU128 = 0x2c, "cast.u128", (), gas 1, fx(1, 1), "Integer or bool → u128.";

    Jmp = 0x30, "jmp", (target: Target), gas 1, fx(0, 0), "Jumps to `target`.";
    JmpIf = 0x31, "jmp.if", (target: Target), gas 1, fx(1, 0),
        "Pops a bool; jumps to `target` if it is true.";
    JmpIfNot = 0x32, "jmp.ifnot", (target: Target), gas 1, fx(1, 0),
        "Pops a bool; jumps to `target` if it is false.";
    Call = 0x33, "call", (chunk: Chunk), gas 4, DYN,
        "Calls `chunk`: pops its args (first deepest) into its locals; pushes its rets.";
    Ret = 0x34, "ret", (), gas 2, DYN,
        "Returns; the stack must hold exactly the chunk's rets. From the top chunk: exit 0.";
    Exit = 0x35, "exit", (), gas 1, fx(1, 0),
        "Pops an unsigned integer that fits u64 and ends the call with it as exit code.";
    Abort = 0x36, "abort", (), gas 1, fx(0, 0), "Ends the call with the `unreachable` trap.";
    Syscall = 0x37, "syscall", (id: Syscall), gas 5, DYN,
        "Calls a syscall: pops its inputs, pushes its outputs then its u64 result (ASM.md).";

    ArrayNew = 0x40, "array.new", (count: Count), gas 2, DYN,
        "Pops `count` values (first deepest) → array (+ size charge).";
    ArrayGet = 0x41, "array.get", (), gas 2, fx(2, 1),
        "array i → item i; out of range traps.";
    ArraySet = 0x42, "array.set", (), gas 2, fx(3, 1),
        "array i v → array with item i = v (+ size charge).";
    ArrayPush = 0x43, "array.push", (), gas 2, fx(2, 1),
        "array v → array with v appended (+ size charge).";
    ArrayPop = 0x44, "array.pop", (), gas 2, fx(1, 2),
        "array → array-without-last last; an empty array traps.";
    Len = 0x45, "len", (), gas 1, fx(1, 1),
        "string, bytes, array or map → its length as u64.";

    MapNew = 0x48, "map.new", (), gas 2, fx(0, 1), "Pushes an empty map.";
    MapGet = 0x49, "map.get", (), gas 4, fx(2, 1), "map k → the value at k, or null.";
    MapSet = 0x4a, "map.set", (), gas 4, fx(3, 1),
        "map k v → map with k = v (+ size charge).";
    MapHas = 0x4b, "map.has", (), gas 4, fx(2, 1), "map k → whether k is present.";
    MapRemove = 0x4c, "map.remove", (), gas 4, fx(2, 1), "map k → map without k.";

    BytesNew = 0x50, "bytes.new", (), gas 2, fx(1, 1),
        "n → n zero bytes (+ size charge).";
    BytesGet = 0x51, "bytes.get", (), gas 1, fx(2, 1),
        "bytes i → byte i as u8; out of range traps.";
    BytesSlice = 0x52, "bytes.slice", (), gas 2, fx(3, 1),
        "bytes start end → bytes[start..end]; needs start <= end <= len (+ size charge).";
    BytesConcat = 0x53, "bytes.concat", (), gas 2, fx(2, 1),
        "a b → a ++ b (+ size charge).";
    BytesFromInt = 0x54, "bytes.from_int", (), gas 2, fx(1, 1),
        "Integer → its little-endian bytes (1 to 16) (+ size charge).";
    BytesToU16 = 0x55, "bytes.to_u16", (), gas 2, fx(1, 1),
        "Exactly 2 bytes → u16 (little-endian); another length traps.";
    BytesToU32 = 0x56, "bytes.to_u32", (), gas 2, fx(1, 1), "Exactly 4 bytes → u32.";
    BytesToU64 = 0x57, "bytes.to_u64", (), gas 2, fx(1, 1), "Exactly 8 bytes → u64.";
    BytesToU128 = 0x58, "bytes.to_u128", (), gas 2, fx(1, 1), "Exactly 16 bytes → u128.";
    StrBytes = 0x59, "str.bytes", (), gas 2, fx(1, 1),
        "string → its UTF-8 bytes (+ size charge).";
    StrFromBytes = 0x5a, "str.from_bytes", (), gas 2, fx(1, 1),
        "bytes → string; bytes that are not UTF-8 trap (+ size charge).";
}

/// Renders the opcode table as the Markdown of OPCODES.md.
#[cfg(test)]
pub(crate) fn table_markdown() -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    s.push_str("| byte | mnemonic | operands | gas | stack (pop → push) | meaning |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    for op in Opcode::ALL {
        let operands: Vec<&str> = op.operands().iter().map(|k| k.doc_name()).collect();
        let effect = match op.effect() {
            Effect::Fixed(p, q) => format!("{p} → {q}"),
            Effect::Dynamic => "see meaning".to_owned(),
        };
        let _ = writeln!(
            s,
            "| `{:#04x}` | `{}` | {} | {} | {} | {} |",
            *op as u8,
            op.name(),
            if operands.is_empty() {
                "—".to_owned()
            } else {
                operands.join(", ")
            },
            op.gas(),
            effect,
            op.doc()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for op in Opcode::ALL {
            assert!(seen.insert(*op as u8), "{} reuses a byte", op.name());
            assert_eq!(Opcode::from_byte(*op as u8), Some(*op));
            assert_eq!(Opcode::from_name(op.name()), Some(*op));
            assert!(op.gas() >= 1);
            // Encoding an instruction of each opcode decodes back to it, with the size the
            // table announces.
            let values: Vec<u32> = op.operands().iter().map(|_| 1).collect();
            let instr = Instr::from_parts(*op, &values).unwrap();
            let mut out = Vec::new();
            instr.encode(&mut out);
            assert_eq!(out.len(), op.size());
            assert_eq!(Instr::decode(&out, 0), Ok((instr, out.len())));
            assert_eq!(instr.operand_values(), values);
            if !out.is_empty() && out.len() > 1 {
                assert_eq!(
                    Instr::decode(&out[..out.len() - 1], 0),
                    Err(DecodeError::Truncated)
                );
            }
        }
        assert!(Opcode::ALL.len() >= 60, "{} opcodes", Opcode::ALL.len());
        assert_eq!(Instr::decode(&[0xff], 0), Err(DecodeError::BadOpcode(0xff)));
        assert_eq!(Instr::from_parts(Opcode::Imm, &[256]), None);
        assert_eq!(Instr::from_parts(Opcode::Imm, &[1, 2]), None);
        assert_eq!(Instr::from_parts(Opcode::Pop, &[1]), None);
    }

    #[test]
    fn opcodes_md_is_rendered_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/OPCODES.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let table = table_markdown();
        if std::env::var_os("TOS_LEGACY_BLESS").is_some() {
            let start = doc.find("| byte |").unwrap();
            let end = doc[start..]
                .find("\n\n")
                .map_or(doc.len(), |e| start + e + 1);
            let fresh = format!("{}{}{}", &doc[..start], table, &doc[end..]);
            std::fs::write(path, fresh).unwrap();
            return;
        }
        assert!(
            doc.contains(&table),
            "OPCODES.md is stale; regenerate it with \
             `TOS_LEGACY_BLESS=1 cargo test -p tos-engine-legacy opcodes_md`"
        );
    }
}
