use crate::Call;

/// Length of the input header that precedes the params (ABI.md, "A call").
pub const INPUT_HEADER_LEN: usize = 8;

/// The input of a call as every engine hands it to a contract (ABI.md):
///
/// ```text
/// offset 0  u8   kind      0 = entry, 1 = hook
/// offset 1  u8   reserved  0
/// offset 2  u16  id        entry or hook id, LE
/// offset 4  u32  len       length of params, LE
/// offset 8  ...  params
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallInput {
    /// What is called.
    pub call: Call,
    /// The call's parameters; the host does not interpret them.
    pub params: Vec<u8>,
}

/// Why bytes are not a valid call input.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum InputError {
    /// Fewer than the 8 header bytes.
    #[error("call input is {0} bytes, shorter than its 8-byte header")]
    TooShort(usize),
    /// The kind byte is neither 0 (entry) nor 1 (hook).
    #[error("call input kind {0} is neither 0 (entry) nor 1 (hook)")]
    BadKind(u8),
    /// The reserved byte is not 0.
    #[error("call input reserved byte is {0}, must be 0")]
    Reserved(u8),
    /// A hook id does not fit in a byte.
    #[error("hook id {0} does not fit in a byte")]
    HookId(u16),
    /// The params length in the header disagrees with the bytes present.
    #[error("call input header says {declared} bytes of params but {present} follow")]
    Length {
        /// Length declared in the header.
        declared: u32,
        /// Bytes actually present after the header.
        present: usize,
    },
    /// The params do not fit the 32-bit length field.
    #[error("params of {0} bytes do not fit the 32-bit length field")]
    TooLong(usize),
    /// A well-formed input of another call than the one run
    /// ([`CallInput::params_of`]).
    #[error("call input encodes {found}, not {expected}")]
    OtherCall {
        /// The call being run.
        expected: Call,
        /// The call the header encodes.
        found: Call,
    },
}

impl CallInput {
    /// A call input for `call` with `params`.
    pub fn new(call: Call, params: Vec<u8>) -> Self {
        CallInput { call, params }
    }

    /// Writes the header for `call` with `params_len` bytes of params.
    ///
    /// # Errors
    /// [`InputError::TooLong`] when `params_len` exceeds `u32::MAX`.
    pub fn header(call: Call, params_len: usize) -> Result<[u8; INPUT_HEADER_LEN], InputError> {
        let len = u32::try_from(params_len).map_err(|_| InputError::TooLong(params_len))?;
        let id = call.id().to_le_bytes();
        let len = len.to_le_bytes();
        Ok([call.kind(), 0, id[0], id[1], len[0], len[1], len[2], len[3]])
    }

    /// Encodes header and params into one buffer.
    ///
    /// # Panics
    /// If the params exceed `u32::MAX` bytes, which the header cannot express. The host caps
    /// params far below that; use [`CallInput::try_encode`] where the length is not bounded.
    pub fn encode(&self) -> Vec<u8> {
        self.try_encode()
            .expect("params longer than u32::MAX; use try_encode for untrusted lengths")
    }

    /// Encodes header and params into one buffer.
    ///
    /// # Errors
    /// [`InputError::TooLong`] when the params exceed `u32::MAX` bytes.
    pub fn try_encode(&self) -> Result<Vec<u8>, InputError> {
        let header = Self::header(self.call, self.params.len())?;
        let mut out = Vec::with_capacity(INPUT_HEADER_LEN + self.params.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.params);
        Ok(out)
    }

    /// Decodes an input, checking every header field and the exact length.
    ///
    /// # Errors
    /// An [`InputError`] naming the first field that is wrong.
    pub fn decode(bytes: &[u8]) -> Result<CallInput, InputError> {
        let (call, params) = Self::split(bytes)?;
        Ok(CallInput {
            call,
            params: params.to_vec(),
        })
    }

    /// The params of `input`, borrowed, when it is the input of `call`: what an engine reads
    /// from [`HostAbi::input`](crate::HostAbi::input), the one place a call's params reach
    /// it. Constant time: only the 8-byte header is checked, the params are not copied.
    ///
    /// ```
    /// use tos_engine_api::{Call, CallInput, InputError};
    ///
    /// let input = CallInput::new(Call::Entry(7), b"hi".to_vec()).encode();
    /// assert_eq!(CallInput::params_of(Call::Entry(7), &input), Ok(&b"hi"[..]));
    /// assert_eq!(
    ///     CallInput::params_of(Call::Hook(7), &input),
    ///     Err(InputError::OtherCall { expected: Call::Hook(7), found: Call::Entry(7) })
    /// );
    /// ```
    ///
    /// # Errors
    /// An [`InputError`] naming what is wrong: a malformed header, a length that disagrees
    /// with the bytes present, or the input of another call ([`InputError::OtherCall`]). An
    /// engine handed such an input reports a fault of the node: the host built it.
    pub fn params_of(call: Call, input: &[u8]) -> Result<&[u8], InputError> {
        let (found, params) = Self::split(input)?;
        if found != call {
            return Err(InputError::OtherCall {
                expected: call,
                found,
            });
        }
        Ok(params)
    }

    /// Checks every header field and the exact length; borrows the params.
    fn split(bytes: &[u8]) -> Result<(Call, &[u8]), InputError> {
        let Some((header, params)) = bytes.split_first_chunk::<INPUT_HEADER_LEN>() else {
            return Err(InputError::TooShort(bytes.len()));
        };
        let id = u16::from_le_bytes([header[2], header[3]]);
        let declared = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if header[1] != 0 {
            return Err(InputError::Reserved(header[1]));
        }
        let call = match header[0] {
            0 => Call::Entry(id),
            1 => Call::Hook(u8::try_from(id).map_err(|_| InputError::HookId(id))?),
            k => return Err(InputError::BadKind(k)),
        };
        if usize::try_from(declared).ok() != Some(params.len()) {
            return Err(InputError::Length {
                declared,
                present: params.len(),
            });
        }
        Ok((call, params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_layout() {
        let bytes = CallInput::new(Call::Hook(3), vec![9; 300]).encode();
        assert_eq!(&bytes[..8], &[1, 0, 3, 0, 0x2c, 0x01, 0, 0]);
        assert_eq!(bytes.len(), 308);
        assert_eq!(CallInput::decode(&bytes).unwrap().params, vec![9; 300]);
    }

    #[test]
    fn every_malformed_header_is_named() {
        assert_eq!(CallInput::decode(&[0; 7]), Err(InputError::TooShort(7)));
        assert_eq!(
            CallInput::decode(&[2, 0, 0, 0, 0, 0, 0, 0]),
            Err(InputError::BadKind(2))
        );
        assert_eq!(
            CallInput::decode(&[0, 1, 0, 0, 0, 0, 0, 0]),
            Err(InputError::Reserved(1))
        );
        assert_eq!(
            CallInput::decode(&[1, 0, 0, 1, 0, 0, 0, 0]),
            Err(InputError::HookId(256))
        );
        assert_eq!(
            CallInput::decode(&[0, 0, 0, 0, 2, 0, 0, 0, 1]),
            Err(InputError::Length {
                declared: 2,
                present: 1
            })
        );
    }
}
