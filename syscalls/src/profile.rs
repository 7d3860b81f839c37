//! Gas per syscall, recorded on the calling thread while a profile is open: what `tosvm
//! --profile` shows. Costs one thread-local flag check per syscall when no profile is open.
//!
//! ```
//! use tos_syscalls::profile::{Profile, profile};
//!
//! let ((), p) = profile(|| { /* run calls here */ });
//! assert_eq!(p, Profile::default());
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// What one syscall cost over a profile.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SyscallStats {
    /// Calls made (those refused for lack of gas included).
    pub calls: u64,
    /// Gas charged by those calls: base and per-byte costs, and for `tos_call` the gas of the
    /// callee as well (it is charged to the caller through the syscall).
    pub gas: u64,
}

/// Gas per syscall, by name, of everything run on this thread inside [`profile`].
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Profile {
    /// By syscall name.
    pub syscalls: BTreeMap<&'static str, SyscallStats>,
}

thread_local! {
    static OPEN: Cell<bool> = const { Cell::new(false) };
    static CURRENT: RefCell<Profile> = RefCell::new(Profile::default());
}

/// Runs `f` with a profile open on this thread; returns its result and the profile. Profiles
/// do not nest: an inner one takes over the recording and the outer one misses its calls.
pub fn profile<R>(f: impl FnOnce() -> R) -> (R, Profile) {
    let was = OPEN.with(|o| o.replace(true));
    let saved = CURRENT.with(|c| c.take());
    let r = f();
    let p = CURRENT.with(|c| c.replace(saved));
    OPEN.with(|o| o.set(was));
    (r, p)
}

/// Whether a profile is open on this thread.
#[inline]
pub(crate) fn is_open() -> bool {
    OPEN.with(Cell::get)
}

/// Records one call of `name` that charged `gas`, when a profile is open.
pub(crate) fn record(name: &'static str, gas: u64) {
    if !is_open() {
        return;
    }
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let s = c.syscalls.entry(name).or_default();
        s.calls = s.calls.saturating_add(1);
        s.gas = s.gas.saturating_add(gas);
    });
}
