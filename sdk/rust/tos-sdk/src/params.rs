//! Decoding the parameters the daemon's `tos-vm` passes (docs/ABI.md, "Parameters"): the
//! borsh encodings of the pushed values, first parameter first, as `tos_params.h` does for
//! C.
//!
//! ```ignore
//! fn transfer(params: &[u8]) -> u64 { // transfer(to: hash, amount: u64)
//!     let mut p = tos_sdk::params::Params::new(params);
//!     let (Ok(to), Ok(amount)) = (p.hash(), p.u64()) else { return 1 };
//!     if !p.done() { return 1; }
//!     // ...
//!     0
//! }
//! ```

/// Value tag: null.
pub const TAG_NULL: u8 = 0;
/// Value tag: bool.
pub const TAG_BOOL: u8 = 1;
/// Value tag: u8.
pub const TAG_U8: u8 = 2;
/// Value tag: u16.
pub const TAG_U16: u8 = 3;
/// Value tag: u32.
pub const TAG_U32: u8 = 4;
/// Value tag: u64.
pub const TAG_U64: u8 = 5;
/// Value tag: u128.
pub const TAG_U128: u8 = 6;
/// Value tag: string (u32 length, UTF-8 bytes).
pub const TAG_STRING: u8 = 7;
/// Value tag: bytes (u32 length, bytes).
pub const TAG_BYTES: u8 = 8;
/// Value tag: array (u32 count, values).
pub const TAG_ARRAY: u8 = 9;
/// Value tag: map (u32 count, key-value pairs).
pub const TAG_MAP: u8 = 10;

/// Why the next value cannot be read; the cursor did not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsError {
    /// The params end before the value does (or no value is left).
    Truncated,
    /// The next value has another type (tag).
    WrongType,
    /// A hash whose bytes value is not 32 bytes long.
    WrongLength,
    /// A string whose bytes are not UTF-8.
    NotUtf8,
}

/// A cursor over a call's params. Slices it returns borrow the params (no copy).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Params<'a> {
    /// Starts reading `params` (what an entry's handler receives).
    #[inline]
    pub fn new(params: &'a [u8]) -> Self {
        Params {
            data: params,
            pos: 0,
        }
    }

    /// The bytes not read yet.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// The number of bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest().len()
    }

    /// True when every byte was read (no parameter left over).
    #[inline]
    pub fn done(&self) -> bool {
        self.remaining() == 0
    }

    /// The tag of the next value, or `None` when none is left.
    #[inline]
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    /// The `n` bytes after the tag of a value of type `tag`.
    #[inline]
    fn fixed(&self, tag: u8, n: usize) -> Result<&'a [u8], ParamsError> {
        let rest = self.rest();
        match rest.first() {
            None => Err(ParamsError::Truncated),
            Some(t) if *t != tag => Err(ParamsError::WrongType),
            Some(_) => rest.get(1..1 + n).ok_or(ParamsError::Truncated),
        }
    }

    /// Reads a u64 (tag 5).
    #[inline]
    pub fn u64(&mut self) -> Result<u64, ParamsError> {
        let b = self.fixed(TAG_U64, 8)?;
        let mut v = [0u8; 8];
        v.copy_from_slice(b);
        self.pos += 9;
        Ok(u64::from_le_bytes(v))
    }

    /// Reads a length-prefixed value of type `tag` and returns its bytes.
    #[inline]
    fn len_prefixed(&mut self, tag: u8) -> Result<&'a [u8], ParamsError> {
        let n = self.fixed(tag, 4)?;
        let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
        let bytes = self
            .rest()
            .get(5..)
            .and_then(|r| r.get(..n))
            .ok_or(ParamsError::Truncated)?;
        self.pos += 5 + n;
        Ok(bytes)
    }

    /// Reads a bytes value (tag 8).
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], ParamsError> {
        self.len_prefixed(TAG_BYTES)
    }

    /// Reads a string (tag 7) and checks that it is UTF-8.
    #[inline]
    pub fn string(&mut self) -> Result<&'a str, ParamsError> {
        let save = self.pos;
        let bytes = self.len_prefixed(TAG_STRING)?;
        core::str::from_utf8(bytes).map_err(|_| {
            self.pos = save;
            ParamsError::NotUtf8
        })
    }

    /// Reads a 32-byte hash (address, account, asset id): a bytes value of exactly 32
    /// bytes.
    #[inline]
    pub fn hash(&mut self) -> Result<&'a crate::Hash, ParamsError> {
        let save = self.pos;
        let bytes = self.bytes()?;
        bytes.try_into().map_err(|_| {
            self.pos = save;
            ParamsError::WrongLength
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of docs/ABI.md: `transfer(to, amount)` with `to` = 32 bytes 0xaa and
    /// `amount` = 250.
    #[test]
    fn reads_the_documented_example() {
        let mut params = vec![8, 32, 0, 0, 0];
        params.extend_from_slice(&[0xaa; 32]);
        params.extend_from_slice(&[5, 250, 0, 0, 0, 0, 0, 0, 0]);
        let mut p = Params::new(&params);
        assert_eq!(p.peek_tag(), Some(TAG_BYTES));
        assert_eq!(p.hash(), Ok(&[0xaa; 32]));
        assert!(!p.done());
        assert_eq!(p.u64(), Ok(250));
        assert!(p.done());
        assert_eq!(p.u64(), Err(ParamsError::Truncated));
        assert_eq!(p.peek_tag(), None);
    }

    #[test]
    fn errors_leave_the_cursor_in_place() {
        // A bytes value of 3 bytes is not a hash.
        let params = [8, 3, 0, 0, 0, 1, 2, 3];
        let mut p = Params::new(&params);
        assert_eq!(p.hash(), Err(ParamsError::WrongLength));
        assert_eq!(p.u64(), Err(ParamsError::WrongType));
        assert_eq!(p.string(), Err(ParamsError::WrongType));
        assert_eq!(p.remaining(), 8);
        assert_eq!(p.bytes(), Ok(&[1u8, 2, 3][..]));
        assert!(p.done());

        // Truncated: a u64 of 7 bytes, a length past the end, a bare tag.
        assert_eq!(
            Params::new(&[5, 1, 2, 3, 4, 5, 6, 7]).u64(),
            Err(ParamsError::Truncated)
        );
        let mut p = Params::new(&[8, 9, 0, 0, 0, 1]);
        assert_eq!(p.bytes(), Err(ParamsError::Truncated));
        assert_eq!(p.remaining(), 6);
        assert_eq!(
            Params::new(&[7, 1, 0]).string(),
            Err(ParamsError::Truncated)
        );
        assert_eq!(
            Params::new(&[8, 255, 255, 255, 255]).bytes(),
            Err(ParamsError::Truncated)
        );
    }

    #[test]
    fn strings_must_be_utf8() {
        let mut p = Params::new(&[7, 2, 0, 0, 0, b'h', b'i', 7, 1, 0, 0, 0, 0xff]);
        assert_eq!(p.string(), Ok("hi"));
        assert_eq!(p.string(), Err(ParamsError::NotUtf8));
        assert_eq!(p.remaining(), 6);
    }
}
