//! Typed call arguments: one small syntax shared by `tosvm --args` and the test kit.
//!
//! A contract's params are raw bytes; the example contracts read fixed layouts such as
//! `to (32) ‖ amount u64`. Instead of packing those by hand, write one token per value:
//!
//! | token | bytes |
//! |---|---|
//! | `u8:N`, `u16:N`, `u32:N`, `u64:N`, `u128:N` | N little-endian, 1, 2, 4, 8 or 16 bytes (decimal, or `0x` hex) |
//! | `i64:N` | N as two's complement, 8 bytes little-endian |
//! | `bool:true` / `bool:false` | one byte, 1 or 0 |
//! | `addr:NAME` / `addr:HEX64` | 32 bytes: an account's key (`NAME` as [`account_key`]) or the 64 hex digits given |
//! | `asset:native` / `asset:HEX64` / `asset:NAME` | 32 bytes: the native asset (zeros), the id given, or the id of the asset named NAME (looked up by the caller's [`Resolver`]) |
//! | `hex:HEX` | the bytes as written (optional `0x`) |
//! | `str:TEXT` | the UTF-8 bytes of TEXT, no length, no terminator |
//!
//! Values are concatenated in order, with no padding and no count, the way ABI.md's
//! "Values" section lays integers and hashes across the boundary (little-endian). So
//! `addr:bob u64:30` is the 40 bytes the token's `transfer` reads.
//!
//! The JSON form (`--args-json`) is an array whose items are either such a token as a string
//! or an object with one key, the type, and the value (a number or a string; u64 and u128
//! beyond 2^53 must be strings): `[{"addr": "bob"}, {"u64": "30"}, "str:memo"]`.
//!
//! Return data and event data decode with the same types ([`decode`]): `u64`,
//! `addr,u64`, `hex`, … — each fixed-size type takes its bytes, `hex` and `str` take the rest.

use std::fmt;

use tos_engine_api::{Hash, NATIVE_ASSET};

/// The key of an account name: `blake3("tosvm/account/v1" ‖ name)`. The same in `tosvm`
/// (`--from bob`, `tosvm account bob`) and in the test kit (`chain.account("bob")`).
pub fn account_key(name: &str) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tosvm/account/v1");
    h.update(name.as_bytes());
    *h.finalize().as_bytes()
}

/// Resolves names inside arguments: accounts (`addr:bob`) and assets (`asset:GOLD`).
pub trait Resolver {
    /// The key of the account `name`. Default: [`account_key`].
    fn account(&self, name: &str) -> Hash {
        account_key(name)
    }
    /// The id of the asset named `name`.
    ///
    /// # Errors
    /// A message when no asset, or more than one, has that name.
    fn asset(&self, name: &str) -> Result<Hash, String>;
}

/// A resolver that knows no asset names (accounts are hashed names).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAssets;

impl Resolver for NoAssets {
    fn asset(&self, name: &str) -> Result<Hash, String> {
        Err(format!(
            "no asset named `{name}` is known here (use asset:native or 64 hex digits)"
        ))
    }
}

/// Why an argument could not be packed or data could not be decoded. Names the token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

const TYPES: &str = "u8, u16, u32, u64, u128, i64, bool, addr, asset, hex, str";

fn bad(token: &str, why: impl fmt::Display) -> ArgError {
    ArgError(format!("argument `{token}`: {why}"))
}

fn parse_uint(token: &str, text: &str, bits: u32) -> Result<u128, ArgError> {
    let t = text.trim().replace('_', "");
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16),
        None => t.parse::<u128>(),
    }
    .map_err(|e| bad(token, format!("`{text}` is not an unsigned integer: {e}")))?;
    if bits < 128 && v >> bits != 0 {
        return Err(bad(token, format!("{v} does not fit in {bits} bits")));
    }
    Ok(v)
}

fn parse_hex(token: &str, text: &str) -> Result<Vec<u8>, ArgError> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t).map_err(|e| bad(token, format!("`{text}` is not hex: {e}")))
}

fn hash64(text: &str) -> Option<Hash> {
    let t = text.strip_prefix("0x").unwrap_or(text);
    if t.len() != 64 {
        return None;
    }
    let bytes = hex::decode(t).ok()?;
    <Hash>::try_from(bytes.as_slice()).ok()
}

/// Packs one value of type `ty` written as `value`; `token` names it in errors.
fn pack_one(token: &str, ty: &str, value: &str, names: &dyn Resolver) -> Result<Vec<u8>, ArgError> {
    let le = |v: u128, n: usize| v.to_le_bytes()[..n].to_vec();
    Ok(match ty {
        "u8" => le(parse_uint(token, value, 8)?, 1),
        "u16" => le(parse_uint(token, value, 16)?, 2),
        "u32" => le(parse_uint(token, value, 32)?, 4),
        "u64" => le(parse_uint(token, value, 64)?, 8),
        "u128" => le(parse_uint(token, value, 128)?, 16),
        "i64" => value
            .trim()
            .parse::<i64>()
            .map_err(|e| bad(token, format!("`{value}` is not an i64: {e}")))?
            .to_le_bytes()
            .to_vec(),
        "bool" => match value.trim() {
            "true" | "1" => vec![1],
            "false" | "0" => vec![0],
            other => return Err(bad(token, format!("`{other}` is not true or false"))),
        },
        "addr" => {
            if let Some(h) = hash64(value) {
                h.to_vec()
            } else if value.starts_with("0x") {
                return Err(bad(token, "an address in hex must be 64 hex digits"));
            } else if value.is_empty() {
                return Err(bad(token, "the account name is empty"));
            } else {
                names.account(value).to_vec()
            }
        }
        "asset" => {
            if value.eq_ignore_ascii_case("native") || value.eq_ignore_ascii_case("tos") {
                NATIVE_ASSET.to_vec()
            } else if let Some(h) = hash64(value) {
                h.to_vec()
            } else {
                names.asset(value).map_err(|e| bad(token, e))?.to_vec()
            }
        }
        "hex" => parse_hex(token, value)?,
        "str" => value.as_bytes().to_vec(),
        other => {
            return Err(bad(
                token,
                format!("unknown type `{other}` (types: {TYPES})"),
            ));
        }
    })
}

/// Packs tokens such as `u64:5`, `addr:bob`, `str:hi` into params.
///
/// # Errors
/// [`ArgError`] naming the first token that is malformed.
pub fn pack<S: AsRef<str>>(tokens: &[S], names: &dyn Resolver) -> Result<Vec<u8>, ArgError> {
    let mut out = Vec::new();
    for token in tokens {
        let token = token.as_ref();
        let (ty, value) = token.split_once(':').ok_or_else(|| {
            bad(
                token,
                format!("write TYPE:VALUE, e.g. u64:5 or addr:bob (types: {TYPES})"),
            )
        })?;
        out.extend(pack_one(token, ty.trim(), value, names)?);
    }
    Ok(out)
}

/// Packs the JSON form: an array of tokens or one-key objects (see the module docs).
///
/// # Errors
/// [`ArgError`] when the text is not such an array, or an item is malformed.
pub fn pack_json(text: &str, names: &dyn Resolver) -> Result<Vec<u8>, ArgError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ArgError(format!("--args-json is not JSON: {e}")))?;
    let items = v.as_array().ok_or_else(|| {
        ArgError(r#"--args-json must be an array, e.g. [{"addr": "bob"}, {"u64": 30}]"#.into())
    })?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            serde_json::Value::String(token) => out.extend(pack(&[token], names)?),
            serde_json::Value::Object(map) if map.len() == 1 => {
                let (ty, value) = map.iter().next().ok_or_else(|| ArgError("empty".into()))?;
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(ArgError(format!(
                            "--args-json item {i}: the value of `{ty}` must be a string or a \
                             number, not {other}"
                        )));
                    }
                };
                let token = format!("{ty}:{value}");
                out.extend(pack_one(&token, ty, &value, names)?);
            }
            other => {
                return Err(ArgError(format!(
                    "--args-json item {i} must be a string like \"u64:5\" or an object with \
                     one key like {{\"u64\": 5}}, not {other}"
                )));
            }
        }
    }
    Ok(out)
}

/// One decoded value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Decoded {
    /// An unsigned integer (u8 … u128) and its type name.
    Uint(&'static str, u128),
    /// An i64.
    Int(i64),
    /// A bool.
    Bool(bool),
    /// 32 bytes shown as an address (`addr`) or asset (`asset`).
    Hash(&'static str, Hash),
    /// Raw bytes.
    Hex(Vec<u8>),
    /// Text (lossy UTF-8 of the rest).
    Str(String),
}

impl Decoded {
    /// The type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Decoded::Uint(t, _) | Decoded::Hash(t, _) => t,
            Decoded::Int(_) => "i64",
            Decoded::Bool(_) => "bool",
            Decoded::Hex(_) => "hex",
            Decoded::Str(_) => "str",
        }
    }

    /// The value as JSON: integers above 2^53 as strings, bytes as hex.
    pub fn json_value(&self) -> serde_json::Value {
        match self {
            Decoded::Uint(_, v) if *v <= (1u128 << 53) => serde_json::json!(*v as u64),
            Decoded::Uint(_, v) => serde_json::json!(v.to_string()),
            Decoded::Int(v) => serde_json::json!(v),
            Decoded::Bool(b) => serde_json::json!(b),
            Decoded::Hash(_, h) => serde_json::json!(hex::encode(h)),
            Decoded::Hex(b) => serde_json::json!(hex::encode(b)),
            Decoded::Str(s) => serde_json::json!(s),
        }
    }
}

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decoded::Uint(t, v) => write!(f, "{t}:{v}"),
            Decoded::Int(v) => write!(f, "i64:{v}"),
            Decoded::Bool(b) => write!(f, "bool:{b}"),
            Decoded::Hash(t, h) => write!(f, "{t}:{}", hex::encode(h)),
            Decoded::Hex(b) => write!(f, "hex:{}", hex::encode(b)),
            Decoded::Str(s) => write!(f, "str:{s:?}"),
        }
    }
}

/// Checks that `spec` is a list of known types with `hex` or `str` only last.
///
/// # Errors
/// [`ArgError`] naming the unknown type or the misplaced one.
pub fn check_spec(spec: &str) -> Result<(), ArgError> {
    let types: Vec<&str> = spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if types.is_empty() {
        return Err(ArgError(format!(
            "empty type list (types: {TYPES}, e.g. u64 or addr,u64)"
        )));
    }
    for (i, ty) in types.iter().enumerate() {
        match *ty {
            "u8" | "bool" | "u16" | "u32" | "u64" | "i64" | "u128" | "addr" | "asset" => {}
            "hex" | "str" if i + 1 == types.len() => {}
            "hex" | "str" => {
                return Err(ArgError(format!(
                    "`{ty}` takes the rest of the data, so it must be the last type of `{spec}`"
                )));
            }
            other => {
                return Err(ArgError(format!(
                    "unknown type `{other}` in `{spec}` (types: {TYPES})"
                )));
            }
        }
    }
    Ok(())
}

/// Decodes `data` as the comma- or space-separated types of `spec` (`u64`, `addr,u64`,
/// `u32 hex`); `hex` and `str` take every remaining byte and must come last.
///
/// # Errors
/// [`ArgError`] when the spec names an unknown type, or the data is shorter or longer than
/// the types need.
pub fn decode(spec: &str, data: &[u8]) -> Result<Vec<Decoded>, ArgError> {
    let types: Vec<&str> = spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if types.is_empty() {
        return Err(ArgError(format!(
            "empty type list (types: {TYPES}, e.g. u64 or addr,u64)"
        )));
    }
    let mut rest = data;
    let mut out = Vec::new();
    for (i, ty) in types.iter().enumerate() {
        let size = match *ty {
            "u8" | "bool" => 1,
            "u16" => 2,
            "u32" => 4,
            "u64" | "i64" => 8,
            "u128" => 16,
            "addr" | "asset" => 32,
            "hex" | "str" => {
                if i + 1 != types.len() {
                    return Err(ArgError(format!(
                        "`{ty}` takes the rest of the data, so it must be the last type of `{spec}`"
                    )));
                }
                rest.len()
            }
            other => {
                return Err(ArgError(format!(
                    "unknown type `{other}` in `{spec}` (types: {TYPES})"
                )));
            }
        };
        if rest.len() < size {
            return Err(ArgError(format!(
                "{} bytes do not decode as `{spec}`: `{ty}` needs {size} bytes, {} are left",
                data.len(),
                rest.len()
            )));
        }
        let (head, tail) = rest.split_at(size);
        rest = tail;
        let mut wide = [0u8; 16];
        wide[..head.len().min(16)].copy_from_slice(&head[..head.len().min(16)]);
        let uint = u128::from_le_bytes(wide);
        out.push(match *ty {
            "u8" => Decoded::Uint("u8", uint),
            "u16" => Decoded::Uint("u16", uint),
            "u32" => Decoded::Uint("u32", uint),
            "u64" => Decoded::Uint("u64", uint),
            "u128" => Decoded::Uint("u128", uint),
            "i64" => Decoded::Int(uint as u64 as i64),
            "bool" => Decoded::Bool(head[0] != 0),
            "addr" | "asset" => {
                let mut h = [0u8; 32];
                h.copy_from_slice(head);
                Decoded::Hash(if *ty == "addr" { "addr" } else { "asset" }, h)
            }
            "hex" => Decoded::Hex(head.to_vec()),
            _ => Decoded::Str(String::from_utf8_lossy(head).into_owned()),
        });
    }
    if !rest.is_empty() {
        return Err(ArgError(format!(
            "{} bytes do not decode as `{spec}`: {} bytes are left over",
            data.len(),
            rest.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_pack_little_endian_in_order() {
        let p = pack(&["addr:bob", "u64:30"], &NoAssets).unwrap();
        assert_eq!(
            p,
            [account_key("bob").as_slice(), &30u64.to_le_bytes()].concat()
        );
        assert_eq!(pack(&["u32:7"], &NoAssets).unwrap(), 7u32.to_le_bytes());
        assert_eq!(pack(&["u16:0x0102"], &NoAssets).unwrap(), [2, 1]);
        assert_eq!(pack(&["str:hi there"], &NoAssets).unwrap(), b"hi there");
        assert_eq!(pack(&["hex:0xdead"], &NoAssets).unwrap(), [0xde, 0xad]);
        assert_eq!(pack(&["asset:native"], &NoAssets).unwrap(), [0; 32]);
        assert_eq!(pack(&["i64:-1"], &NoAssets).unwrap(), [0xff; 8]);
        let h = "ab".repeat(32);
        assert_eq!(pack(&[format!("addr:{h}")], &NoAssets).unwrap(), [0xab; 32]);
        assert_eq!(
            pack(&["u64:18446744073709551615"], &NoAssets).unwrap(),
            [0xff; 8]
        );
    }

    #[test]
    fn malformed_tokens_are_named() {
        for (t, want) in [
            ("u64", "TYPE:VALUE"),
            ("u8:256", "does not fit in 8 bits"),
            ("u64:-1", "not an unsigned integer"),
            ("f32:1", "unknown type `f32`"),
            ("addr:0x12", "64 hex digits"),
            ("hex:zz", "not hex"),
            ("asset:GOLD", "no asset named `GOLD`"),
        ] {
            let e = pack(&[t], &NoAssets).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{t}`")) && e.contains(want),
                "{t}: {e}"
            );
        }
    }

    #[test]
    fn json_items_are_tokens_or_one_key_objects() {
        let p = pack_json(
            r#"[{"addr": "bob"}, {"u64": "18446744073709551615"}, {"u32": 7}, "str:x"]"#,
            &NoAssets,
        )
        .unwrap();
        assert_eq!(
            p,
            [
                account_key("bob").as_slice(),
                &[0xff; 8],
                &7u32.to_le_bytes(),
                b"x"
            ]
            .concat()
        );
        assert!(pack_json("{}", &NoAssets).is_err());
        assert!(pack_json(r#"[{"u64": [1]}]"#, &NoAssets).is_err());
        assert!(pack_json(r#"[{"u64": 1, "u32": 2}]"#, &NoAssets).is_err());
    }

    #[test]
    fn decoding_takes_exactly_the_bytes() {
        let d = decode(
            "addr,u64",
            &[[7; 32].as_slice(), &5u64.to_le_bytes()].concat(),
        )
        .unwrap();
        assert_eq!(
            d,
            vec![Decoded::Hash("addr", [7; 32]), Decoded::Uint("u64", 5)]
        );
        assert_eq!(d[1].to_string(), "u64:5");
        assert!(
            decode("u64", &[1, 2])
                .unwrap_err()
                .0
                .contains("needs 8 bytes")
        );
        assert!(decode("u32", &[0; 8]).unwrap_err().0.contains("left over"));
        assert!(decode("hex,u8", &[0; 8]).unwrap_err().0.contains("last"));
        assert_eq!(
            decode("u8 str", b"\x01ok").unwrap(),
            vec![Decoded::Uint("u8", 1), Decoded::Str("ok".into())]
        );
    }
}
