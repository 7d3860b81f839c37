//! Values of the legacy VM and their borsh encoding.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};

use crate::limits::{
    MAX_BYTES_LEN, MAX_COLLECTION_LEN, MAX_MAP_KEY_SIZE, MAX_VALUE_DEPTH, MAX_VALUE_SIZE,
};

/// A value of the legacy VM: what constants hold, what the operand stack and locals hold.
///
/// Values are owned trees; copying one (`load`, `copy`) copies it, and gas is charged for its
/// [size](crate::limits). Every value a contract builds respects the limits of
/// [`limits`](crate::limits): length, size, nesting depth, and map keys that are `bool`,
/// integers, strings or bytes.
///
/// # Encoding
/// Borsh, with a one-byte tag per variant (the variant's index below, `Null` = 0 through
/// `Map` = 10): integers little-endian, `bool` one byte 0 or 1, strings and bytes a `u32`
/// length then the bytes, arrays a `u32` count then the items, maps a `u32` count then key,
/// value pairs with keys strictly ascending (so every map has one encoding).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub enum ValueCell {
    /// No value (tag 0); the default.
    #[default]
    Null,
    /// A boolean (tag 1).
    Bool(bool),
    /// An 8-bit unsigned integer (tag 2).
    U8(u8),
    /// A 16-bit unsigned integer (tag 3).
    U16(u16),
    /// A 32-bit unsigned integer (tag 4).
    U32(u32),
    /// A 64-bit unsigned integer (tag 5).
    U64(u64),
    /// A 128-bit unsigned integer (tag 6).
    U128(u128),
    /// A UTF-8 string (tag 7).
    String(String),
    /// A byte string (tag 8).
    Bytes(Vec<u8>),
    /// An array of values (tag 9).
    Array(Vec<ValueCell>),
    /// A map ordered by key (tag 10).
    Map(BTreeMap<ValueCell, ValueCell>),
}

/// Why a value breaks a limit of [`limits`](crate::limits); the message names the limit.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct LimitError(pub(crate) String);

impl ValueCell {
    /// The name of the value's type, as traps and the assembler spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueCell::Null => "null",
            ValueCell::Bool(_) => "bool",
            ValueCell::U8(_) => "u8",
            ValueCell::U16(_) => "u16",
            ValueCell::U32(_) => "u32",
            ValueCell::U64(_) => "u64",
            ValueCell::U128(_) => "u128",
            ValueCell::String(_) => "string",
            ValueCell::Bytes(_) => "bytes",
            ValueCell::Array(_) => "array",
            ValueCell::Map(_) => "map",
        }
    }

    /// The value's size in bytes, as defined in [`limits`](crate::limits). Saturates (values
    /// that respect the limits are far below `u64::MAX`).
    pub fn size(&self) -> u64 {
        match self {
            ValueCell::Null | ValueCell::Bool(_) | ValueCell::U8(_) => 1,
            ValueCell::U16(_) => 2,
            ValueCell::U32(_) => 4,
            ValueCell::U64(_) => 8,
            ValueCell::U128(_) => 16,
            ValueCell::String(s) => s.len() as u64,
            ValueCell::Bytes(b) => b.len() as u64,
            ValueCell::Array(items) => items
                .iter()
                .fold(8u64, |acc, v| acc.saturating_add(v.size())),
            ValueCell::Map(map) => map.iter().fold(8u64, |acc, (k, v)| {
                acc.saturating_add(k.size()).saturating_add(v.size())
            }),
        }
    }

    /// The size that gas is charged for when the value is created or copied: the size of
    /// strings, bytes, arrays and maps; 0 for scalars, whose cost is in their opcode.
    pub(crate) fn heap_size(&self) -> u64 {
        match self {
            ValueCell::String(_)
            | ValueCell::Bytes(_)
            | ValueCell::Array(_)
            | ValueCell::Map(_) => self.size(),
            _ => 0,
        }
    }

    /// The value as a `u64`, if it is an unsigned integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            ValueCell::U8(v) => Some(u64::from(v)),
            ValueCell::U16(v) => Some(u64::from(v)),
            ValueCell::U32(v) => Some(u64::from(v)),
            ValueCell::U64(v) => Some(v),
            ValueCell::U128(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value's bytes, if it is a bytes value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            ValueCell::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Whether the value may be a map key: `bool`, an integer, a string or bytes.
    pub(crate) fn is_key_type(&self) -> bool {
        !matches!(
            self,
            ValueCell::Null | ValueCell::Array(_) | ValueCell::Map(_)
        )
    }

    /// Checks every limit of [`limits`](crate::limits) (lengths, size, nesting, map keys);
    /// returns the value's size. Values decoded with borsh were checked while decoding; a value
    /// built in code should be checked before it is encoded or handed to a contract.
    ///
    /// Recursion stops one level past [`MAX_VALUE_DEPTH`], so even a value built outside the VM
    /// with absurd nesting is refused without exhausting the native stack.
    ///
    /// # Errors
    /// [`LimitError`] naming the first limit broken.
    pub fn check_limits(&self) -> Result<u64, LimitError> {
        let size = self.check_at(0)?;
        if size > MAX_VALUE_SIZE {
            return Err(LimitError(format!(
                "{} of {size} bytes exceeds the value size limit of {MAX_VALUE_SIZE}",
                self.type_name()
            )));
        }
        Ok(size)
    }

    fn check_at(&self, depth: u32) -> Result<u64, LimitError> {
        let check_len = |what: &str, len: usize, max: usize| {
            if len > max {
                Err(LimitError(format!(
                    "{what} of length {len} exceeds the limit of {max}"
                )))
            } else {
                Ok(())
            }
        };
        let nested = || {
            let d = depth.saturating_add(1);
            if d > MAX_VALUE_DEPTH {
                Err(LimitError(format!(
                    "value nested deeper than the limit of {MAX_VALUE_DEPTH}"
                )))
            } else {
                Ok(d)
            }
        };
        let mut size: u64 = 8;
        match self {
            ValueCell::String(s) => check_len("string", s.len(), MAX_BYTES_LEN)?,
            ValueCell::Bytes(b) => check_len("bytes", b.len(), MAX_BYTES_LEN)?,
            ValueCell::Array(items) => {
                check_len("array", items.len(), MAX_COLLECTION_LEN)?;
                let d = nested()?;
                for item in items {
                    size = size.saturating_add(item.check_at(d)?);
                    check_size(size)?;
                }
                return Ok(size);
            }
            ValueCell::Map(map) => {
                check_len("map", map.len(), MAX_COLLECTION_LEN)?;
                let d = nested()?;
                for (k, v) in map {
                    check_key(k)?;
                    size = size
                        .saturating_add(k.check_at(d)?)
                        .saturating_add(v.check_at(d)?);
                    check_size(size)?;
                }
                return Ok(size);
            }
            _ => {}
        }
        Ok(self.size())
    }
}

fn check_size(size: u64) -> Result<(), LimitError> {
    if size > MAX_VALUE_SIZE {
        return Err(LimitError(format!(
            "value of at least {size} bytes exceeds the value size limit of {MAX_VALUE_SIZE}"
        )));
    }
    Ok(())
}

/// Checks that `key` may be a map key.
pub(crate) fn check_key(key: &ValueCell) -> Result<(), LimitError> {
    if !key.is_key_type() {
        return Err(LimitError(format!(
            "a map key must be a bool, an integer, a string or bytes, not {}",
            key.type_name()
        )));
    }
    let size = key.size();
    if size > MAX_MAP_KEY_SIZE {
        return Err(LimitError(format!(
            "map key of {size} bytes exceeds the limit of {MAX_MAP_KEY_SIZE}"
        )));
    }
    Ok(())
}

const TAG_NULL: u8 = 0;
const TAG_BOOL: u8 = 1;
const TAG_U8: u8 = 2;
const TAG_U16: u8 = 3;
const TAG_U32: u8 = 4;
const TAG_U64: u8 = 5;
const TAG_U128: u8 = 6;
const TAG_STRING: u8 = 7;
const TAG_BYTES: u8 = 8;
const TAG_ARRAY: u8 = 9;
const TAG_MAP: u8 = 10;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn write_len<W: Write>(len: usize, w: &mut W) -> io::Result<()> {
    let len = u32::try_from(len).map_err(|_| invalid(format!("length {len} exceeds u32")))?;
    len.serialize(w)
}

impl BorshSerialize for ValueCell {
    fn serialize<W: Write>(&self, w: &mut W) -> io::Result<()> {
        match self {
            ValueCell::Null => TAG_NULL.serialize(w),
            ValueCell::Bool(b) => {
                TAG_BOOL.serialize(w)?;
                b.serialize(w)
            }
            ValueCell::U8(v) => {
                TAG_U8.serialize(w)?;
                v.serialize(w)
            }
            ValueCell::U16(v) => {
                TAG_U16.serialize(w)?;
                v.serialize(w)
            }
            ValueCell::U32(v) => {
                TAG_U32.serialize(w)?;
                v.serialize(w)
            }
            ValueCell::U64(v) => {
                TAG_U64.serialize(w)?;
                v.serialize(w)
            }
            ValueCell::U128(v) => {
                TAG_U128.serialize(w)?;
                v.serialize(w)
            }
            ValueCell::String(s) => {
                TAG_STRING.serialize(w)?;
                write_len(s.len(), w)?;
                w.write_all(s.as_bytes())
            }
            ValueCell::Bytes(b) => {
                TAG_BYTES.serialize(w)?;
                write_len(b.len(), w)?;
                w.write_all(b)
            }
            ValueCell::Array(items) => {
                TAG_ARRAY.serialize(w)?;
                write_len(items.len(), w)?;
                items.iter().try_for_each(|v| v.serialize(w))
            }
            ValueCell::Map(map) => {
                TAG_MAP.serialize(w)?;
                write_len(map.len(), w)?;
                map.iter().try_for_each(|(k, v)| {
                    k.serialize(w)?;
                    v.serialize(w)
                })
            }
        }
    }
}

impl BorshDeserialize for ValueCell {
    /// Decodes one value, enforcing every limit of [`limits`](crate::limits) *while* decoding:
    /// lengths are checked before anything is allocated and nesting before recursing.
    fn deserialize_reader<R: Read>(r: &mut R) -> io::Result<Self> {
        let v = decode_at(r, 0)?;
        v.check_limits().map_err(|e| invalid(e.0))?;
        Ok(v)
    }
}

fn read_len<R: Read>(r: &mut R, what: &str, max: usize) -> io::Result<usize> {
    let len = u32::deserialize_reader(r)?;
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(invalid(format!(
            "{what} of length {len} exceeds the limit of {max}"
        ))),
    }
}

fn read_bytes<R: Read>(r: &mut R, what: &str) -> io::Result<Vec<u8>> {
    let len = read_len(r, what, MAX_BYTES_LEN)?;
    let mut buf = vec![0; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn decode_at<R: Read>(r: &mut R, depth: u32) -> io::Result<ValueCell> {
    let nested = || {
        let d = depth.saturating_add(1);
        if d > MAX_VALUE_DEPTH {
            Err(invalid(format!(
                "value nested deeper than the limit of {MAX_VALUE_DEPTH}"
            )))
        } else {
            Ok(d)
        }
    };
    let tag = u8::deserialize_reader(r)?;
    Ok(match tag {
        TAG_NULL => ValueCell::Null,
        TAG_BOOL => ValueCell::Bool(bool::deserialize_reader(r)?),
        TAG_U8 => ValueCell::U8(u8::deserialize_reader(r)?),
        TAG_U16 => ValueCell::U16(u16::deserialize_reader(r)?),
        TAG_U32 => ValueCell::U32(u32::deserialize_reader(r)?),
        TAG_U64 => ValueCell::U64(u64::deserialize_reader(r)?),
        TAG_U128 => ValueCell::U128(u128::deserialize_reader(r)?),
        TAG_STRING => {
            let bytes = read_bytes(r, "string")?;
            ValueCell::String(
                String::from_utf8(bytes).map_err(|_| invalid("string is not UTF-8".into()))?,
            )
        }
        TAG_BYTES => ValueCell::Bytes(read_bytes(r, "bytes")?),
        TAG_ARRAY => {
            let d = nested()?;
            let n = read_len(r, "array", MAX_COLLECTION_LEN)?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(decode_at(r, d)?);
            }
            ValueCell::Array(items)
        }
        TAG_MAP => {
            let d = nested()?;
            let n = read_len(r, "map", MAX_COLLECTION_LEN)?;
            let mut map = BTreeMap::new();
            for _ in 0..n {
                let key = decode_at(r, d)?;
                check_key(&key).map_err(|e| invalid(e.0))?;
                if map.last_key_value().is_some_and(|(last, _)| *last >= key) {
                    return Err(invalid(
                        "map keys are not strictly ascending (not canonical)".into(),
                    ));
                }
                let value = decode_at(r, d)?;
                map.insert(key, value);
            }
            ValueCell::Map(map)
        }
        t => return Err(invalid(format!("unknown value tag {t}"))),
    })
}

impl fmt::Display for ValueCell {
    /// The value in the assembler's literal syntax (see ASM.md).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::asm::write_value(f, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &ValueCell) -> ValueCell {
        let bytes = borsh::to_vec(v).unwrap();
        borsh::from_slice::<ValueCell>(&bytes).unwrap()
    }

    #[test]
    fn every_variant_round_trips_through_borsh() {
        let mut map = BTreeMap::new();
        map.insert(ValueCell::U64(1), ValueCell::String("one".into()));
        map.insert(
            ValueCell::Bytes(vec![2]),
            ValueCell::Array(vec![ValueCell::Null]),
        );
        let v = ValueCell::Array(vec![
            ValueCell::Null,
            ValueCell::Bool(true),
            ValueCell::U8(1),
            ValueCell::U16(2),
            ValueCell::U32(3),
            ValueCell::U64(4),
            ValueCell::U128(u128::MAX),
            ValueCell::String("héllo".into()),
            ValueCell::Bytes(vec![0, 1, 2]),
            ValueCell::Map(map),
        ]);
        assert_eq!(round_trip(&v), v);
        assert_eq!(borsh::to_vec(&ValueCell::U16(0x0102)).unwrap(), [3, 2, 1]);
        assert_eq!(
            borsh::to_vec(&ValueCell::Bytes(vec![7])).unwrap(),
            [8, 1, 0, 0, 0, 7]
        );
    }

    #[test]
    fn decoding_enforces_limits_and_canonical_maps() {
        let err = |bytes: &[u8]| {
            borsh::from_slice::<ValueCell>(bytes)
                .unwrap_err()
                .to_string()
        };
        // Bytes longer than the limit: refused before allocating.
        assert!(err(&[8, 0xff, 0xff, 0xff, 0xff]).contains("exceeds the limit"));
        // Truncated.
        assert!(!err(&[8, 4, 0, 0, 0, 1]).is_empty());
        // Bad bool, bad tag, bad UTF-8.
        assert!(!err(&[1, 2]).is_empty());
        assert!(err(&[11]).contains("unknown value tag 11"));
        assert!(err(&[7, 1, 0, 0, 0, 0xff]).contains("UTF-8"));
        // Nesting one past the limit.
        let mut deep = Vec::new();
        for _ in 0..=MAX_VALUE_DEPTH {
            deep.extend_from_slice(&[9, 1, 0, 0, 0]);
        }
        deep.push(0);
        assert!(err(&deep).contains("nested deeper"));
        // Exactly at the limit is fine.
        let ok = &deep[5..];
        assert!(borsh::from_slice::<ValueCell>(ok).is_ok());
        // Keys out of order, duplicate keys, a bad key type.
        assert!(err(&[10, 2, 0, 0, 0, 2, 5, 0, 2, 4, 0]).contains("ascending"));
        assert!(err(&[10, 2, 0, 0, 0, 2, 5, 0, 2, 5, 0]).contains("ascending"));
        assert!(err(&[10, 1, 0, 0, 0, 0, 0]).contains("map key"));
    }

    #[test]
    fn size_and_limits_are_as_documented() {
        assert_eq!(ValueCell::U128(0).size(), 16);
        assert_eq!(ValueCell::Bytes(vec![0; 5]).size(), 5);
        assert_eq!(
            ValueCell::Array(vec![ValueCell::U64(0), ValueCell::Bytes(vec![1; 3])]).size(),
            8 + 8 + 3
        );
        assert_eq!(ValueCell::U64(3).heap_size(), 0);
        // 64 bytes values of 2048 bytes each: 131072 + 8 > MAX_VALUE_SIZE.
        let big = ValueCell::Array(vec![ValueCell::Bytes(vec![0; 2048]); 64]);
        assert!(big.check_limits().unwrap_err().0.contains("size limit"));
        let long = ValueCell::Array(vec![ValueCell::Null; MAX_COLLECTION_LEN + 1]);
        assert!(long.check_limits().is_err());
        let mut deep = ValueCell::Null;
        for _ in 0..10_000 {
            deep = ValueCell::Array(vec![deep]);
        }
        assert!(deep.check_limits().unwrap_err().0.contains("nested"));
        // Dropping a 10 000-deep value recurses; keep it from overflowing the test's stack.
        let mut cur = deep;
        while let ValueCell::Array(mut v) = cur {
            cur = v.pop().unwrap_or(ValueCell::Null);
        }
    }
}
