//! ABI v2: calls between contracts through a call descriptor (docs/ABI.md, "The call
//! descriptor").
//!
//! ```ignore
//! let mut buf = [0u8; 256]; // or tos_sdk::scratch() for large params
//! let result = tos_sdk::CallBuilder::new(&mut buf, &callee, 0, 0) // entry 0, all gas left
//!     .deposit_native(100)
//!     .params(b"...")
//!     .call();
//! match result {
//!     tos_sdk::CallResult::Success => {}
//!     tos_sdk::CallResult::Failed(code) => { /* the callee exited with `code` */ }
//!     tos_sdk::CallResult::Trapped | tos_sdk::CallResult::Refused => {}
//!     tos_sdk::CallResult::TooLarge => { /* did not fit `buf`: nothing was called */ }
//! }
//! ```

use crate::{Hash, NATIVE, sys};

/// `tos_call`: the callee did not run (no contract, entry not exported, re-entrancy, stack
/// full, a deposit above the balance).
pub const CALL_REFUSED: u64 = u64::MAX;
/// `tos_call`: the callee trapped, aborted or ran out of gas.
pub const CALL_TRAPPED: u64 = u64::MAX - 1;
/// Size of the descriptor's header: callee 32, entry 2, D 2, P 4, gas 8.
pub const DESC_HEADER: usize = 48;
/// Size of one deposit in the descriptor: asset 32, amount 8.
pub const DESC_DEPOSIT: usize = 40;
/// Most deposits one call may carry.
pub const MAX_DEPOSITS: u16 = 8;
/// Most params bytes one call may carry.
pub const MAX_PARAMS: usize = 64 * 1024;

/// What a call to another contract gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// The callee exited 0: its effects stay (committed with the transaction).
    Success,
    /// The callee exited with this non-zero code: its effects were rolled back.
    Failed(u64),
    /// The callee trapped, aborted or ran out of gas ([`CALL_TRAPPED`]).
    Trapped,
    /// The callee did not run ([`CALL_REFUSED`]).
    Refused,
    /// The descriptor did not fit the builder's buffer, or a step was misused (a ninth
    /// deposit, a deposit after the params, params over 64 KiB): nothing was called.
    TooLarge,
}

impl CallResult {
    /// Reads what `tos_call` returned.
    #[inline]
    pub fn from_raw(raw: u64) -> Self {
        match raw {
            0 => CallResult::Success,
            CALL_REFUSED => CallResult::Refused,
            CALL_TRAPPED => CallResult::Trapped,
            code => CallResult::Failed(code),
        }
    }

    /// The u64 `tos_call` returned ([`CALL_REFUSED`] for [`CallResult::TooLarge`]).
    #[inline]
    pub fn raw(self) -> u64 {
        match self {
            CallResult::Success => 0,
            CallResult::Failed(code) => code,
            CallResult::Trapped => CALL_TRAPPED,
            CallResult::Refused | CallResult::TooLarge => CALL_REFUSED,
        }
    }

    /// True for [`CallResult::Success`].
    #[inline]
    pub fn is_success(self) -> bool {
        self == CallResult::Success
    }
}

/// Builds a call descriptor in a caller-provided buffer, then calls.
///
/// Deposits come before the params; the params are set at most once (none = empty). A step
/// that does not fit the buffer, a ninth deposit, params over 64 KiB or a deposit after the
/// params fails the builder: [`finish`](Self::finish) then gives `None` and
/// [`call`](Self::call) [`CallResult::TooLarge`].
#[derive(Debug)]
pub struct CallBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
    deposits: u16,
    params_set: bool,
    failed: bool,
}

impl<'a> CallBuilder<'a> {
    /// Starts a descriptor for entry `entry` of `callee` with gas limit `gas` (0 = all gas
    /// left after `tos_call`'s own cost).
    #[inline(always)]
    pub fn new(buf: &'a mut [u8], callee: &Hash, entry: u16, gas: u64) -> Self {
        let mut b = CallBuilder {
            buf,
            len: 0,
            deposits: 0,
            params_set: false,
            failed: false,
        };
        match b.buf.get_mut(..DESC_HEADER) {
            Some(h) => {
                h[..32].copy_from_slice(callee);
                h[32..34].copy_from_slice(&entry.to_le_bytes());
                h[34..40].fill(0);
                h[40..48].copy_from_slice(&gas.to_le_bytes());
                b.len = DESC_HEADER;
            }
            None => b.failed = true,
        }
        b
    }

    /// Adds a deposit of `amount` of `asset`, moved from this contract to the callee.
    #[inline(always)]
    pub fn deposit(mut self, asset: &Hash, amount: u64) -> Self {
        if self.failed || self.params_set || self.deposits >= MAX_DEPOSITS {
            self.failed = true;
            return self;
        }
        match self.buf.get_mut(self.len..self.len + DESC_DEPOSIT) {
            Some(d) => {
                d[..32].copy_from_slice(asset);
                d[32..].copy_from_slice(&amount.to_le_bytes());
                self.len += DESC_DEPOSIT;
                self.deposits += 1;
                self.buf[34..36].copy_from_slice(&self.deposits.to_le_bytes());
            }
            None => self.failed = true,
        }
        self
    }

    /// Adds a deposit of `amount` of the native asset.
    #[inline(always)]
    pub fn deposit_native(self, amount: u64) -> Self {
        self.deposit(&NATIVE, amount)
    }

    /// Sets the callee's params (at most 64 KiB).
    #[inline(always)]
    pub fn params(mut self, params: &[u8]) -> Self {
        if self.failed || self.params_set || params.len() > MAX_PARAMS {
            self.failed = true;
            return self;
        }
        match self.buf.get_mut(self.len..self.len + params.len()) {
            Some(p) => {
                p.copy_from_slice(params);
                self.len += params.len();
                self.params_set = true;
                self.buf[36..40].copy_from_slice(&(params.len() as u32).to_le_bytes());
            }
            None => self.failed = true,
        }
        self
    }

    /// The descriptor, or `None` if a step failed.
    #[inline(always)]
    pub fn finish(&self) -> Option<&[u8]> {
        if self.failed {
            None
        } else {
            self.buf.get(..self.len)
        }
    }

    /// Calls the callee (`tos_call`); the callee's return data is then read with
    /// [`return_data`](crate::return_data).
    #[inline(always)]
    pub fn call(self) -> CallResult {
        match self.finish() {
            // SAFETY: the host only reads the descriptor, whose length is exact.
            Some(d) => {
                CallResult::from_raw(unsafe { sys::tos_call(d.as_ptr() as u64, d.len() as u64) })
            }
            None => CallResult::TooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of docs/ABI.md: header, deposits, params; counts patched as steps go.
    #[test]
    fn builds_the_documented_layout() {
        let mut buf = [0u8; 256];
        let callee = [7u8; 32];
        let b = CallBuilder::new(&mut buf, &callee, 0x0102, 5_000)
            .deposit_native(100)
            .deposit(&[9; 32], 7)
            .params(b"abc");
        let d = b.finish().unwrap();
        assert_eq!(d.len(), DESC_HEADER + 2 * DESC_DEPOSIT + 3);
        assert_eq!(&d[..32], &callee);
        assert_eq!(&d[32..34], &[2, 1]);
        assert_eq!(&d[34..36], &[2, 0], "two deposits");
        assert_eq!(&d[36..40], &[3, 0, 0, 0], "three bytes of params");
        assert_eq!(&d[40..48], &5_000u64.to_le_bytes());
        assert_eq!(&d[48..80], &NATIVE);
        assert_eq!(&d[80..88], &100u64.to_le_bytes());
        assert_eq!(&d[88..120], &[9; 32]);
        assert_eq!(&d[120..128], &7u64.to_le_bytes());
        assert_eq!(&d[128..], b"abc");
    }

    #[test]
    fn misuse_and_overflow_fail_the_builder() {
        let callee = [1u8; 32];
        let mut small = [0u8; 47];
        assert!(
            CallBuilder::new(&mut small, &callee, 0, 0)
                .finish()
                .is_none()
        );
        let mut buf = [0u8; 100];
        assert!(
            CallBuilder::new(&mut buf, &callee, 0, 0)
                .params(&[0; 53])
                .finish()
                .is_none(),
            "48 + 53 > 100"
        );
        assert!(
            CallBuilder::new(&mut buf, &callee, 0, 0)
                .params(b"x")
                .deposit_native(1)
                .finish()
                .is_none(),
            "a deposit after the params"
        );
        let mut big = [0u8; 1024];
        let mut b = CallBuilder::new(&mut big, &callee, 0, 0);
        for _ in 0..8 {
            b = b.deposit_native(1);
        }
        assert!(b.finish().is_some());
        assert!(b.deposit_native(1).finish().is_none(), "a ninth deposit");
    }

    #[test]
    fn results_read_tos_call() {
        assert_eq!(CallResult::from_raw(0), CallResult::Success);
        assert_eq!(CallResult::from_raw(3), CallResult::Failed(3));
        assert_eq!(CallResult::from_raw(CALL_TRAPPED), CallResult::Trapped);
        assert_eq!(CallResult::from_raw(CALL_REFUSED), CallResult::Refused);
        for raw in [0, 3, CALL_TRAPPED, CALL_REFUSED] {
            assert_eq!(CallResult::from_raw(raw).raw(), raw);
        }
        assert_eq!(CallResult::TooLarge.raw(), CALL_REFUSED);
    }
}
