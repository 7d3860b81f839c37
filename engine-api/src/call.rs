//! Calls between contracts (ABI v2, `tos_call`): the descriptor a contract hands the host,
//! and what the host answers.

use std::fmt;

use crate::{ExitStatus, Gas, Hash};

/// What `tos_call` returns when the callee did not run: no contract at the address, the entry
/// is not exported, the callee is already on the call stack (no re-entrancy, self-calls
/// included), the stack already holds the maximum number of frames, or a deposit exceeds the
/// caller's balance.
pub const CALL_REFUSED: u64 = u64::MAX;

/// What `tos_call` returns when the callee trapped or ran out of gas.
pub const CALL_TRAPPED: u64 = u64::MAX - 1;

/// Most deposits one call may attach.
pub const MAX_CALL_DEPOSITS: usize = 8;

/// Longest params one call may carry, in bytes (as for a top-level call).
pub const MAX_CALL_PARAMS: usize = 64 * 1024;

/// Bytes of the descriptor's fixed part (address, entry, counts, gas).
pub const CALL_DESCRIPTOR_HEADER: usize = 48;

/// Bytes of one deposit in the descriptor: asset id (32) then amount (u64 LE).
pub const CALL_DESCRIPTOR_DEPOSIT: usize = 40;

/// The longest well-formed descriptor: the header, eight deposits and 64 KiB of params.
pub const MAX_CALL_DESCRIPTOR: usize =
    CALL_DESCRIPTOR_HEADER + CALL_DESCRIPTOR_DEPOSIT * MAX_CALL_DEPOSITS + MAX_CALL_PARAMS;

/// A call one contract asks the host to make (ABI.md, "The call descriptor").
///
/// ```text
/// offset   size  field
/// 0        32    callee contract address
/// 32       2     entry id (u16); hooks cannot be called
/// 34       2     D, number of deposits (at most 8)
/// 36       4     P, params length (at most 64 KiB)
/// 40       8     gas limit for the callee; 0 = all gas left after tos_call's own cost
/// 48       40·D  deposits: asset id (32) then amount (u64), D times
/// 48+40·D  P     params
/// ```
///
/// ```
/// use tos_engine_api::CallRequest;
///
/// let call = CallRequest {
///     callee: [9; 32],
///     entry: 1,
///     deposits: vec![([0; 32], 500)],
///     params: b"hi".to_vec(),
///     gas_limit: 0,
/// };
/// let bytes = call.encode();
/// assert_eq!(bytes.len(), 48 + 40 + 2);
/// assert_eq!(CallRequest::decode(&bytes), Ok(call));
/// assert!(CallRequest::decode(&bytes[..bytes.len() - 1]).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallRequest {
    /// The contract to call.
    pub callee: Hash,
    /// The entry to run.
    pub entry: u16,
    /// Assets moved from the caller to the callee inside the callee's savepoint.
    pub deposits: Vec<(Hash, u64)>,
    /// The callee's params.
    pub params: Vec<u8>,
    /// The gas the caller offers; 0 means all it has left. The host gives the callee
    /// `min(gas_limit, gas left)`.
    pub gas_limit: Gas,
}

/// Why bytes are not a call descriptor. The caller traps with this message.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DescriptorError {
    /// Shorter than the 48-byte fixed part.
    #[error("call descriptor of {0} bytes is shorter than its 48-byte header")]
    TooShort(usize),
    /// More than [`MAX_CALL_DEPOSITS`] deposits.
    #[error("call descriptor declares {0} deposits, more than the 8 allowed")]
    TooManyDeposits(u16),
    /// Params longer than [`MAX_CALL_PARAMS`].
    #[error("call descriptor declares {0} bytes of params, more than the 65536 allowed")]
    ParamsTooLong(u32),
    /// The length is not `48 + 40·D + P`.
    #[error("call descriptor is {len} bytes but its counts say {expected}")]
    Length {
        /// The descriptor's length.
        len: usize,
        /// What its deposit count and params length require.
        expected: usize,
    },
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl CallRequest {
    /// The length a descriptor with `deposits` deposits and `params` bytes of params must
    /// have, read from its fixed part; checked against the limits.
    ///
    /// # Errors
    /// [`DescriptorError`] for a short header or counts over the limits.
    pub fn expected_len(header: &[u8]) -> Result<usize, DescriptorError> {
        if header.len() < CALL_DESCRIPTOR_HEADER {
            return Err(DescriptorError::TooShort(header.len()));
        }
        let deposits = u16_at(header, 34);
        if usize::from(deposits) > MAX_CALL_DEPOSITS {
            return Err(DescriptorError::TooManyDeposits(deposits));
        }
        let params = u32::from_le_bytes([header[36], header[37], header[38], header[39]]);
        if params as usize > MAX_CALL_PARAMS {
            return Err(DescriptorError::ParamsTooLong(params));
        }
        Ok(CALL_DESCRIPTOR_HEADER
            + CALL_DESCRIPTOR_DEPOSIT * usize::from(deposits)
            + params as usize)
    }

    /// Decodes a descriptor.
    ///
    /// # Errors
    /// [`DescriptorError`] when the bytes break the layout or its limits.
    pub fn decode(bytes: &[u8]) -> Result<CallRequest, DescriptorError> {
        let expected = Self::expected_len(bytes)?;
        if bytes.len() != expected {
            return Err(DescriptorError::Length {
                len: bytes.len(),
                expected,
            });
        }
        let mut callee = [0u8; 32];
        callee.copy_from_slice(&bytes[..32]);
        let entry = u16_at(bytes, 32);
        let count = usize::from(u16_at(bytes, 34));
        let mut gas = [0u8; 8];
        gas.copy_from_slice(&bytes[40..48]);
        let deposits = bytes[CALL_DESCRIPTOR_HEADER..]
            .chunks_exact(CALL_DESCRIPTOR_DEPOSIT)
            .take(count)
            .map(|d| {
                let mut asset = [0u8; 32];
                asset.copy_from_slice(&d[..32]);
                let mut amount = [0u8; 8];
                amount.copy_from_slice(&d[32..40]);
                (asset, u64::from_le_bytes(amount))
            })
            .collect();
        let params = bytes[CALL_DESCRIPTOR_HEADER + CALL_DESCRIPTOR_DEPOSIT * count..].to_vec();
        Ok(CallRequest {
            callee,
            entry,
            deposits,
            params,
            gas_limit: u64::from_le_bytes(gas),
        })
    }

    /// Encodes the descriptor (for tests, tools and SDKs). Counts beyond the limits are
    /// written as given and refused by [`CallRequest::decode`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            CALL_DESCRIPTOR_HEADER
                + CALL_DESCRIPTOR_DEPOSIT * self.deposits.len()
                + self.params.len(),
        );
        out.extend_from_slice(&self.callee);
        out.extend_from_slice(&self.entry.to_le_bytes());
        out.extend_from_slice(&(self.deposits.len() as u16).to_le_bytes());
        out.extend_from_slice(&(self.params.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.gas_limit.to_le_bytes());
        for (asset, amount) in &self.deposits {
            out.extend_from_slice(asset);
            out.extend_from_slice(&amount.to_le_bytes());
        }
        out.extend_from_slice(&self.params);
        out
    }
}

/// Why the host refused a call without running the callee.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CallRefusal {
    /// No contract at the address.
    UnknownContract,
    /// The callee does not export the entry.
    UnknownEntry(u16),
    /// The callee is already on the call stack (self-calls included).
    Reentrancy,
    /// The call stack already holds the maximum number of contract frames.
    DepthExceeded {
        /// The maximum (`call.max_depth` of the gas schedule in force).
        limit: u64,
    },
    /// A deposit exceeds what the caller holds of the asset.
    InsufficientBalance {
        /// The asset.
        asset: Hash,
    },
    /// A deposit would overflow the callee's balance of the asset.
    DepositOverflow {
        /// The asset.
        asset: Hash,
    },
    /// No engine serves the callee's module at this height, or it refuses the module.
    EngineUnavailable(String),
}

impl fmt::Display for CallRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallRefusal::UnknownContract => f.write_str("no contract at the address"),
            CallRefusal::UnknownEntry(id) => write!(f, "the callee has no entry {id}"),
            CallRefusal::Reentrancy => {
                f.write_str("the callee is already on the call stack (no re-entrancy)")
            }
            CallRefusal::DepthExceeded { limit } => {
                write!(f, "the call stack already holds {limit} contract frames")
            }
            CallRefusal::InsufficientBalance { asset } => {
                write!(f, "a deposit exceeds the caller's balance of asset ")?;
                for b in asset {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            CallRefusal::DepositOverflow { asset } => {
                write!(f, "a deposit would overflow the callee's balance of asset ")?;
                for b in asset {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            CallRefusal::EngineUnavailable(why) => write!(f, "the callee cannot run: {why}"),
        }
    }
}

/// What the host answers a `tos_call`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CallResult {
    /// The callee did not run; nothing happened and no gas beyond `tos_call`'s own was used.
    Refused(CallRefusal),
    /// The callee ran.
    Ran {
        /// How it ended.
        status: ExitStatus,
        /// The gas it used, at most the limit it was given; charged to the caller.
        gas_used: Gas,
    },
}

impl CallResult {
    /// The value `tos_call` returns: the callee's exit code, [`CALL_TRAPPED`] or
    /// [`CALL_REFUSED`].
    pub fn code(&self) -> u64 {
        match self {
            CallResult::Refused(_) => CALL_REFUSED,
            CallResult::Ran {
                status: ExitStatus::Exit(code),
                ..
            } => *code,
            CallResult::Ran {
                status: ExitStatus::Trap(_),
                ..
            } => CALL_TRAPPED,
        }
    }

    /// The gas the callee used (0 when refused).
    pub fn gas_used(&self) -> Gas {
        match self {
            CallResult::Refused(_) => 0,
            CallResult::Ran { gas_used, .. } => *gas_used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*, so the run reproduces.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn any_bytes_decode_without_panic_and_what_decodes_encodes_back() {
        let mut seed = 0x7055_ca11;
        let mut decoded = 0;
        for _ in 0..20_000 {
            let deposits = (next(&mut seed) % 10) as u16;
            let params = (next(&mut seed) % 300) as u32;
            let mut bytes: Vec<u8> = (0..48 + 40 * usize::from(deposits) + params as usize)
                .map(|_| next(&mut seed) as u8)
                .collect();
            bytes[34..36].copy_from_slice(&deposits.to_le_bytes());
            bytes[36..40].copy_from_slice(&params.to_le_bytes());
            // Sometimes break the length, sometimes the counts.
            match next(&mut seed) % 4 {
                0 => {
                    let cut = (next(&mut seed) as usize) % bytes.len();
                    bytes.truncate(cut);
                }
                1 => bytes.push(0),
                _ => {}
            }
            match CallRequest::decode(&bytes) {
                Ok(request) => {
                    decoded += 1;
                    assert!(request.deposits.len() <= MAX_CALL_DEPOSITS);
                    assert_eq!(request.encode(), bytes);
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        assert!(decoded > 5_000, "{decoded}");
    }

    #[test]
    fn limits_are_checked_before_the_length() {
        let mut header = [0u8; 48];
        header[34..36].copy_from_slice(&9u16.to_le_bytes());
        assert_eq!(
            CallRequest::decode(&header),
            Err(DescriptorError::TooManyDeposits(9))
        );
        header[34..36].copy_from_slice(&0u16.to_le_bytes());
        header[36..40].copy_from_slice(&65_537u32.to_le_bytes());
        assert_eq!(
            CallRequest::decode(&header),
            Err(DescriptorError::ParamsTooLong(65_537))
        );
        assert_eq!(
            CallRequest::decode(&header[..47]),
            Err(DescriptorError::TooShort(47))
        );
    }
}
