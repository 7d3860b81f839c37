//! The assembler and disassembler of the legacy text format (documented in ASM.md).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

use crate::limits::{MAX_CHUNK_CODE, MAX_CHUNKS, MAX_CONSTANTS, MAX_ENTRIES, MAX_VALUE_DEPTH};
use crate::module::Chunk;
use crate::opcode::{Instr, Opcode, OperandKind};
use crate::{Module, ValueCell};

/// Why text does not assemble: the 1-based line and what is wrong there.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AsmError {
    /// The line (1-based; 0 for the module as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, AsmError> {
    Err(AsmError {
        line,
        message: message.into(),
    })
}

#[derive(Clone, PartialEq, Debug)]
enum Tok {
    Ident(String),
    Int(u128),
    Str(String),
    Bytes(Vec<u8>),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(n) => write!(f, "`{n}`"),
            Tok::Str(_) => f.write_str("a string"),
            Tok::Bytes(_) => f.write_str("a bytes literal"),
            Tok::Punct(c) => write!(f, "`{c}`"),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn hex_val(c: char) -> Option<u8> {
    c.to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Splits one line into tokens; a `;` outside a literal starts a comment.
fn tokenize(line_no: usize, line: &str) -> Result<Vec<Tok>, AsmError> {
    let mut toks = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == ';' {
            break;
        } else if (c == 'b' || c == 'x') && {
            let mut ahead = chars.clone();
            ahead.next();
            ahead.peek() == Some(&'"')
        } {
            chars.next();
            chars.next();
            let body = string_body(line_no, &mut chars, c == 'b')?;
            if c == 'b' {
                toks.push(Tok::Bytes(body));
            } else {
                let text: Vec<char> = String::from_utf8(body)
                    .map_err(|_| AsmError {
                        line: line_no,
                        message: "hex literal is not text".into(),
                    })?
                    .chars()
                    .collect();
                if !text.len().is_multiple_of(2) {
                    return err(line_no, "hex literal has an odd number of digits");
                }
                let mut bytes = Vec::with_capacity(text.len() / 2);
                for pair in text.chunks(2) {
                    match (hex_val(pair[0]), hex_val(pair[1])) {
                        (Some(h), Some(l)) => bytes.push(h << 4 | l),
                        _ => return err(line_no, "hex literal has a non-hex digit"),
                    }
                }
                toks.push(Tok::Bytes(bytes));
            }
        } else if c == '"' {
            chars.next();
            let body = string_body(line_no, &mut chars, false)?;
            let s = String::from_utf8(body).map_err(|_| AsmError {
                line: line_no,
                message: "string literal is not UTF-8".into(),
            })?;
            toks.push(Tok::Str(s));
        } else if c.is_ascii_digit() {
            let mut text = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    text.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            let digits = text.replace('_', "");
            let parsed = match digits.strip_prefix("0x") {
                Some(hex) => u128::from_str_radix(hex, 16),
                None => digits.parse::<u128>(),
            };
            match parsed {
                Ok(n) => toks.push(Tok::Int(n)),
                Err(_) => return err(line_no, format!("bad number `{text}`")),
            }
        } else if is_ident_start(c) {
            let mut s = String::new();
            while let Some(&d) = chars.peek() {
                if is_ident_char(d) {
                    s.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            toks.push(Tok::Ident(s));
        } else if "[]{},:=@#".contains(c) {
            chars.next();
            toks.push(Tok::Punct(c));
        } else {
            return err(line_no, format!("unexpected character `{c}`"));
        }
    }
    Ok(toks)
}

/// Reads a quoted literal's body after the opening quote, resolving escapes. Bytes
/// literals (`b"..."`) accept `\xNN`; strings accept `\u{N}`.
fn string_body(
    line: usize,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    bytes: bool,
) -> Result<Vec<u8>, AsmError> {
    let mut out = Vec::new();
    loop {
        let Some(c) = chars.next() else {
            return err(line, "unterminated literal");
        };
        match c {
            '"' => return Ok(out),
            '\\' => {
                let Some(e) = chars.next() else {
                    return err(line, "unterminated escape");
                };
                match e {
                    'n' => out.push(b'\n'),
                    't' => out.push(b'\t'),
                    'r' => out.push(b'\r'),
                    '0' => out.push(0),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    'x' if bytes => {
                        let (Some(h), Some(l)) = (
                            chars.next().and_then(hex_val),
                            chars.next().and_then(hex_val),
                        ) else {
                            return err(line, "`\\x` needs two hex digits");
                        };
                        out.push(h << 4 | l);
                    }
                    'u' if !bytes => {
                        if chars.next() != Some('{') {
                            return err(line, "`\\u` needs `{`");
                        }
                        let mut code = 0u32;
                        let mut digits = 0;
                        loop {
                            match chars.next() {
                                Some('}') if digits > 0 => break,
                                Some(d) if digits < 6 => match d.to_digit(16) {
                                    Some(v) => {
                                        code = code * 16 + v;
                                        digits += 1;
                                    }
                                    None => return err(line, "bad `\\u{...}` escape"),
                                },
                                _ => return err(line, "bad `\\u{...}` escape"),
                            }
                        }
                        let Some(ch) = char::from_u32(code) else {
                            return err(line, format!("`\\u{{{code:x}}}` is not a character"));
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    other => return err(line, format!("unknown escape `\\{other}`")),
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

struct Tokens<'t> {
    toks: &'t [Tok],
    pos: usize,
    line: usize,
}

impl<'t> Tokens<'t> {
    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<&'t Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn expect_punct(&mut self, p: char) -> Result<(), AsmError> {
        match self.next() {
            Some(Tok::Punct(c)) if *c == p => Ok(()),
            Some(t) => err(self.line, format!("expected `{p}`, found {t}")),
            None => err(self.line, format!("expected `{p}` at the end of the line")),
        }
    }

    fn end(&self) -> Result<(), AsmError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => err(self.line, format!("unexpected {t}")),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, AsmError> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s.clone()),
            Some(t) => err(self.line, format!("expected {what}, found {t}")),
            None => err(self.line, format!("expected {what}")),
        }
    }

    fn int(&mut self, what: &str) -> Result<u128, AsmError> {
        match self.next() {
            Some(Tok::Int(n)) => Ok(*n),
            Some(t) => err(self.line, format!("expected {what}, found {t}")),
            None => err(self.line, format!("expected {what}")),
        }
    }

    /// A value literal (see ASM.md).
    fn value(&mut self, depth: u32) -> Result<ValueCell, AsmError> {
        let line = self.line;
        let Some(tok) = self.next().cloned() else {
            return err(line, "expected a value");
        };
        let int = |this: &mut Self, ty: &str| -> Result<u128, AsmError> {
            this.int(&format!("a {ty} number"))
        };
        let range = |ty: &str, n: u128| AsmError {
            line,
            message: format!("{n} does not fit {ty}"),
        };
        Ok(match tok {
            Tok::Ident(s) => match s.as_str() {
                "null" => ValueCell::Null,
                "true" => ValueCell::Bool(true),
                "false" => ValueCell::Bool(false),
                "u8" => {
                    let n = int(self, "u8")?;
                    ValueCell::U8(u8::try_from(n).map_err(|_| range("u8", n))?)
                }
                "u16" => {
                    let n = int(self, "u16")?;
                    ValueCell::U16(u16::try_from(n).map_err(|_| range("u16", n))?)
                }
                "u32" => {
                    let n = int(self, "u32")?;
                    ValueCell::U32(u32::try_from(n).map_err(|_| range("u32", n))?)
                }
                "u64" => {
                    let n = int(self, "u64")?;
                    ValueCell::U64(u64::try_from(n).map_err(|_| range("u64", n))?)
                }
                "u128" => ValueCell::U128(int(self, "u128")?),
                other => return err(line, format!("`{other}` is not a value or a constant")),
            },
            Tok::Str(s) => ValueCell::String(s),
            Tok::Bytes(b) => ValueCell::Bytes(b),
            Tok::Punct(open @ ('[' | '{')) => {
                if depth >= MAX_VALUE_DEPTH {
                    return err(
                        line,
                        format!("value nested deeper than the limit of {MAX_VALUE_DEPTH}"),
                    );
                }
                let close = if open == '[' { ']' } else { '}' };
                let mut items = Vec::new();
                let mut map = BTreeMap::new();
                if self.peek() == Some(&Tok::Punct(close)) {
                    self.next();
                } else {
                    loop {
                        if open == '[' {
                            items.push(self.value(depth + 1)?);
                        } else {
                            let k = self.value(depth + 1)?;
                            self.expect_punct(':')?;
                            let v = self.value(depth + 1)?;
                            if map.insert(k.clone(), v).is_some() {
                                return err(line, format!("map key {k} is repeated"));
                            }
                        }
                        match self.next() {
                            Some(Tok::Punct(',')) => {}
                            Some(Tok::Punct(c)) if *c == close => break,
                            Some(t) => {
                                return err(line, format!("expected `,` or `{close}`, found {t}"));
                            }
                            None => return err(line, format!("expected `{close}`")),
                        }
                    }
                }
                if open == '[' {
                    ValueCell::Array(items)
                } else {
                    ValueCell::Map(map)
                }
            }
            t => return err(line, format!("expected a value, found {t}")),
        })
    }
}

const RESERVED: &[&str] = &["null", "true", "false", "u8", "u16", "u32", "u64", "u128"];

#[derive(Debug)]
enum OperandSrc {
    Num(u128),
    Name(String),
    Value(ValueCell),
    RawConst(u128),
    RawTarget(u128),
}

#[derive(Debug)]
enum Item {
    Label(String),
    Instr(Opcode, Vec<OperandSrc>),
    Raw(Vec<u8>),
}

#[derive(Debug)]
struct ChunkSrc {
    line: usize,
    args: u8,
    rets: u8,
    locals: Option<u8>,
    items: Vec<(usize, Item)>,
}

fn valid_name(line: usize, name: &str, what: &str) -> Result<(), AsmError> {
    if name.starts_with('.') || RESERVED.contains(&name) {
        return err(line, format!("`{name}` cannot name a {what}"));
    }
    Ok(())
}

/// Assembles text in the format of ASM.md into a module.
///
/// ```
/// let module = tos_engine_legacy::assemble(
///     ".const greeting b\"hi\"\n\
///      .chunk main args=1 locals=1\n\
///          const greeting\n\
///          syscall tos_log\n\
///          pop\n\
///          imm 0\n\
///          exit\n\
///      .entry 0 main\n",
/// )?;
/// let text = tos_engine_legacy::disassemble(&module);
/// assert_eq!(tos_engine_legacy::assemble(&text)?, module);
/// # Ok::<(), tos_engine_legacy::AsmError>(())
/// ```
///
/// # Errors
/// An [`AsmError`] naming the line and the problem (unknown mnemonic, operand out of range,
/// unknown label, constant or chunk, a limit of [`limits`](crate::limits) exceeded, ...).
pub fn assemble(text: &str) -> Result<Module, AsmError> {
    let mut consts: Vec<(String, ValueCell)> = Vec::new();
    let mut const_ids: HashMap<String, u16> = HashMap::new();
    let mut chunks: Vec<ChunkSrc> = Vec::new();
    let mut chunk_ids: HashMap<String, u16> = HashMap::new();
    let mut calls: Vec<(usize, bool, u128, Tok)> = Vec::new();

    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let toks = tokenize(line, raw)?;
        let mut t = Tokens {
            toks: &toks,
            pos: 0,
            line,
        };
        let Some(first) = t.peek().cloned() else {
            continue;
        };
        if let Tok::Ident(word) = &first
            && word.starts_with('.')
        {
            t.next();
            match word.as_str() {
                ".const" => {
                    let name = t.ident("a constant name")?;
                    valid_name(line, &name, "constant")?;
                    let value = t.value(0)?;
                    t.end()?;
                    if let Err(e) = value.check_limits() {
                        return err(line, format!("constant `{name}`: {}", e.0));
                    }
                    let id = u16::try_from(consts.len())
                        .ok()
                        .filter(|&id| usize::from(id) < MAX_CONSTANTS)
                        .ok_or_else(|| AsmError {
                            line,
                            message: format!("more than {MAX_CONSTANTS} constants"),
                        })?;
                    if const_ids.insert(name.clone(), id).is_some() {
                        return err(line, format!("constant `{name}` is declared twice"));
                    }
                    consts.push((name, value));
                }
                ".chunk" => {
                    let name = t.ident("a chunk name")?;
                    valid_name(line, &name, "chunk")?;
                    let mut src = ChunkSrc {
                        line,
                        args: 0,
                        rets: 0,
                        locals: None,
                        items: Vec::new(),
                    };
                    while t.peek().is_some() {
                        let key = t.ident("`args`, `rets` or `locals`")?;
                        t.expect_punct('=')?;
                        let n = t.int("a count")?;
                        let n = u8::try_from(n).map_err(|_| AsmError {
                            line,
                            message: format!("{key}={n} exceeds 255"),
                        })?;
                        match key.as_str() {
                            "args" => src.args = n,
                            "rets" => src.rets = n,
                            "locals" => src.locals = Some(n),
                            other => {
                                return err(line, format!("unknown chunk attribute `{other}`"));
                            }
                        }
                    }
                    let id = u16::try_from(chunks.len())
                        .ok()
                        .filter(|&id| usize::from(id) < MAX_CHUNKS)
                        .ok_or_else(|| AsmError {
                            line,
                            message: format!("more than {MAX_CHUNKS} chunks"),
                        })?;
                    if chunk_ids.insert(name.clone(), id).is_some() {
                        return err(line, format!("chunk `{name}` is declared twice"));
                    }
                    chunks.push(src);
                }
                ".entry" | ".hook" => {
                    let id = t.int("an id")?;
                    let Some(target) = t.next().cloned() else {
                        return err(line, "expected a chunk");
                    };
                    t.end()?;
                    calls.push((line, word == ".hook", id, target));
                }
                ".bytes" => {
                    let bytes = match t.next() {
                        Some(Tok::Bytes(b)) => b.clone(),
                        _ => return err(line, "`.bytes` needs a b\"...\" or x\"...\" literal"),
                    };
                    t.end()?;
                    let Some(chunk) = chunks.last_mut() else {
                        return err(line, "`.bytes` outside a chunk");
                    };
                    chunk.items.push((line, Item::Raw(bytes)));
                }
                other => return err(line, format!("unknown directive `{other}`")),
            }
            continue;
        }

        let Some(chunk) = chunks.last_mut() else {
            return err(line, "code outside a chunk (start one with `.chunk`)");
        };
        // `label:` possibly followed by an instruction.
        if let (Some(Tok::Ident(name)), Some(Tok::Punct(':'))) = (toks.first(), toks.get(1)) {
            chunk.items.push((line, Item::Label(name.clone())));
            t.pos = 2;
            if t.peek().is_none() {
                continue;
            }
        }
        let mnemonic = t.ident("a mnemonic")?;
        let Some(op) = Opcode::from_name(&mnemonic) else {
            return err(line, format!("unknown mnemonic `{mnemonic}`"));
        };
        let mut operands = Vec::new();
        for kind in op.operands() {
            let operand = match (kind, t.peek().cloned()) {
                (_, None) => return err(line, format!("`{mnemonic}` needs an operand")),
                (OperandKind::Const, Some(Tok::Punct('#'))) => {
                    t.next();
                    OperandSrc::RawConst(t.int("a constant id")?)
                }
                (OperandKind::Target, Some(Tok::Punct('@'))) => {
                    t.next();
                    OperandSrc::RawTarget(t.int("a byte offset")?)
                }
                (OperandKind::Const, Some(Tok::Ident(name))) if const_ids.contains_key(&name) => {
                    t.next();
                    OperandSrc::Name(name)
                }
                (OperandKind::Const, Some(_)) => OperandSrc::Value(t.value(0)?),
                (_, Some(Tok::Int(n))) => {
                    t.next();
                    OperandSrc::Num(n)
                }
                (
                    OperandKind::Chunk | OperandKind::Target | OperandKind::Syscall,
                    Some(Tok::Ident(name)),
                ) => {
                    t.next();
                    OperandSrc::Name(name)
                }
                (_, Some(tok)) => {
                    return err(line, format!("bad operand {tok} for `{mnemonic}`"));
                }
            };
            operands.push(operand);
        }
        t.end()?;
        chunk.items.push((line, Item::Instr(op, operands)));
    }

    // Constants: the declared ones, then literals used as operands, deduplicated.
    let mut module = Module {
        constants: consts.into_iter().map(|(_, v)| v).collect(),
        ..Module::default()
    };

    for (ci, src) in chunks.iter().enumerate() {
        let chunk_line = src.line;
        // Label offsets.
        let mut labels: HashMap<&str, u16> = HashMap::new();
        let mut offset = 0usize;
        for (line, item) in &src.items {
            match item {
                Item::Label(name) => {
                    let at = u16::try_from(offset).map_err(|_| AsmError {
                        line: *line,
                        message: format!("chunk code exceeds {MAX_CHUNK_CODE} bytes"),
                    })?;
                    if labels.insert(name, at).is_some() {
                        return err(*line, format!("label `{name}` is defined twice"));
                    }
                }
                Item::Instr(op, _) => offset += op.size(),
                Item::Raw(b) => offset += b.len(),
            }
        }
        let mut code = Vec::with_capacity(offset);
        for (line, item) in &src.items {
            let line = *line;
            let (op, operands) = match item {
                Item::Label(_) => continue,
                Item::Raw(b) => {
                    code.extend_from_slice(b);
                    continue;
                }
                Item::Instr(op, operands) => (*op, operands),
            };
            let mut values = Vec::with_capacity(operands.len());
            for (kind, operand) in op.operands().iter().zip(operands) {
                let v: u128 = match (kind, operand) {
                    (
                        _,
                        OperandSrc::Num(n) | OperandSrc::RawConst(n) | OperandSrc::RawTarget(n),
                    ) => *n,
                    (OperandKind::Const, OperandSrc::Name(name)) => {
                        u128::from(const_ids.get(name).copied().unwrap_or_default())
                    }
                    (OperandKind::Const, OperandSrc::Value(v)) => {
                        if let Err(e) = v.check_limits() {
                            return err(line, e.0);
                        }
                        match module.constants.iter().position(|c| c == v) {
                            Some(id) => id as u128,
                            None => {
                                if module.constants.len() >= MAX_CONSTANTS {
                                    return err(
                                        line,
                                        format!("more than {MAX_CONSTANTS} constants"),
                                    );
                                }
                                module.constants.push(v.clone());
                                (module.constants.len() - 1) as u128
                            }
                        }
                    }
                    (OperandKind::Chunk, OperandSrc::Name(name)) => match chunk_ids.get(name) {
                        Some(&id) => u128::from(id),
                        None => return err(line, format!("unknown chunk `{name}`")),
                    },
                    (OperandKind::Target, OperandSrc::Name(name)) => {
                        match labels.get(name.as_str()) {
                            Some(&at) => u128::from(at),
                            None => return err(line, format!("unknown label `{name}`")),
                        }
                    }
                    (OperandKind::Syscall, OperandSrc::Name(name)) => {
                        u128::from(tos_syscalls::murmur3_32(name.as_bytes(), 0))
                    }
                    (_, other) => return err(line, format!("bad operand {other:?}")),
                };
                let v = u32::try_from(v).map_err(|_| AsmError {
                    line,
                    message: format!("operand {v} of `{}` is out of range", op.name()),
                })?;
                values.push(v);
            }
            let Some(instr) = Instr::from_parts(op, &values) else {
                return err(
                    line,
                    format!("operand {values:?} of `{}` is out of range", op.name()),
                );
            };
            instr.encode(&mut code);
        }
        if code.len() > MAX_CHUNK_CODE {
            return err(
                chunk_line,
                format!(
                    "chunk {ci} has {} bytes of code, over the limit of {MAX_CHUNK_CODE}",
                    code.len()
                ),
            );
        }
        let locals = src.locals.unwrap_or(src.args);
        if locals < src.args {
            return err(
                chunk_line,
                format!(
                    "chunk {ci} has {locals} locals but takes {} arguments",
                    src.args
                ),
            );
        }
        module.chunks.push(Chunk {
            args: src.args,
            rets: src.rets,
            locals,
            code,
        });
    }

    for (line, hook, id, target) in calls {
        let chunk = match &target {
            Tok::Ident(name) => match chunk_ids.get(name) {
                Some(&c) => c,
                None => return err(line, format!("unknown chunk `{name}`")),
            },
            Tok::Int(n) => match u16::try_from(*n) {
                Ok(c) if usize::from(c) < module.chunks.len() => c,
                _ => return err(line, format!("chunk {n} does not exist")),
            },
            t => return err(line, format!("expected a chunk, found {t}")),
        };
        let fresh = if hook {
            let id = u8::try_from(id).map_err(|_| AsmError {
                line,
                message: format!("hook id {id} exceeds 255"),
            })?;
            module.hooks.insert(id, chunk).is_none()
        } else {
            let id = u16::try_from(id).map_err(|_| AsmError {
                line,
                message: format!("entry id {id} exceeds 65535"),
            })?;
            module.entries.insert(id, chunk).is_none()
        };
        if !fresh {
            return err(
                line,
                format!(
                    "{} {id} is declared twice",
                    if hook { "hook" } else { "entry" }
                ),
            );
        }
    }
    if module.entries.len() > MAX_ENTRIES {
        return err(0, format!("more than {MAX_ENTRIES} entries"));
    }
    Ok(module)
}

/// Writes a value in the literal syntax of ASM.md.
pub(crate) fn write_value(f: &mut dyn fmt::Write, v: &ValueCell) -> fmt::Result {
    match v {
        ValueCell::Null => f.write_str("null"),
        ValueCell::Bool(b) => write!(f, "{b}"),
        ValueCell::U8(n) => write!(f, "u8 {n}"),
        ValueCell::U16(n) => write!(f, "u16 {n}"),
        ValueCell::U32(n) => write!(f, "u32 {n}"),
        ValueCell::U64(n) => write!(f, "u64 {n}"),
        ValueCell::U128(n) => write!(f, "u128 {n}"),
        ValueCell::String(s) => {
            f.write_char('"')?;
            for c in s.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    '\r' => f.write_str("\\r")?,
                    '\0' => f.write_str("\\0")?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                    c => f.write_char(c)?,
                }
            }
            f.write_char('"')
        }
        ValueCell::Bytes(b) => {
            if b.iter().all(|c| (0x20..0x7f).contains(c)) {
                f.write_str("b\"")?;
                for &c in b {
                    match c {
                        b'"' => f.write_str("\\\"")?,
                        b'\\' => f.write_str("\\\\")?,
                        c => f.write_char(char::from(c))?,
                    }
                }
                f.write_char('"')
            } else {
                f.write_str("x\"")?;
                for c in b {
                    write!(f, "{c:02x}")?;
                }
                f.write_char('"')
            }
        }
        ValueCell::Array(items) => {
            f.write_char('[')?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(f, item)?;
            }
            f.write_char(']')
        }
        ValueCell::Map(map) => {
            f.write_char('{')?;
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(f, k)?;
                f.write_str(": ")?;
                write_value(f, v)?;
            }
            f.write_char('}')
        }
    }
}

/// Disassembles a module into the text format of ASM.md. Assembling the text gives the same
/// module back, byte for byte — also for modules that would not validate (undecodable code
/// becomes a `.bytes` line, jumps between instructions `@offset`).
pub fn disassemble(module: &Module) -> String {
    let table = tos_syscalls::SyscallTable::global().ok();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; legacy module, format version {}",
        crate::module::FORMAT_VERSION
    );
    for (i, c) in module.constants.iter().enumerate() {
        let _ = write!(out, ".const c{i} ");
        let _ = write_value(&mut out, c);
        out.push('\n');
    }
    for (ci, chunk) in module.chunks.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n.chunk chunk{ci} args={} rets={} locals={}",
            chunk.args, chunk.rets, chunk.locals
        );
        let mut decoded = Vec::new();
        let mut pos = 0;
        let mut rest = None;
        while pos < chunk.code.len() {
            match Instr::decode(&chunk.code, pos) {
                Ok((instr, next)) => {
                    decoded.push((pos, instr));
                    pos = next;
                }
                Err(_) => {
                    rest = chunk.code.get(pos..);
                    break;
                }
            }
        }
        let starts: std::collections::BTreeSet<usize> = decoded.iter().map(|(p, _)| *p).collect();
        let targets: std::collections::BTreeSet<usize> = decoded
            .iter()
            .filter_map(|(_, i)| match i {
                Instr::Jmp(t) | Instr::JmpIf(t) | Instr::JmpIfNot(t) => Some(usize::from(*t)),
                _ => None,
            })
            .filter(|t| starts.contains(t))
            .collect();
        for (at, instr) in &decoded {
            if targets.contains(at) {
                let _ = writeln!(out, "L{at}:");
            }
            let op = instr.opcode();
            let _ = write!(out, "    {}", op.name());
            for (kind, v) in op.operands().iter().zip(instr.operand_values()) {
                let idx = v as usize;
                let _ = match kind {
                    OperandKind::Const if idx < module.constants.len() => write!(out, " c{v}"),
                    OperandKind::Const => write!(out, " #{v}"),
                    OperandKind::Chunk if idx < module.chunks.len() => write!(out, " chunk{v}"),
                    OperandKind::Target if targets.contains(&idx) => write!(out, " L{v}"),
                    OperandKind::Target => write!(out, " @{v}"),
                    OperandKind::Syscall => match table.and_then(|t| t.get(v)) {
                        Some(def) => write!(out, " {}", def.name),
                        None => write!(out, " {v:#010x}"),
                    },
                    _ => write!(out, " {v}"),
                };
            }
            out.push('\n');
        }
        if let Some(rest) = rest {
            let _ = write!(out, "    .bytes ");
            let _ = write_value(&mut out, &ValueCell::Bytes(rest.to_vec()));
            out.push('\n');
        }
    }
    if !module.entries.is_empty() || !module.hooks.is_empty() {
        out.push('\n');
    }
    for (id, c) in &module.entries {
        let _ = writeln!(out, ".entry {id} chunk{c}");
    }
    for (id, c) in &module.hooks {
        let _ = writeln!(out, ".hook {id} chunk{c}");
    }
    out
}
