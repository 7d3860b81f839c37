//! Execution traces for tools (`tosvm --trace`): an engine that can trace appends lines while
//! a trace is open on the calling thread, and counts the gas spent in each function. A trace
//! changes no outcome and no gas; nodes never open one.
//!
//! ```
//! use tos_engine_api::trace;
//!
//! let ((), t) = trace::record(2, || {
//!     for i in 0..3 {
//!         trace::line(|| format!("step {i}"));
//!     }
//!     trace::function_gas("main", 5);
//! });
//! assert_eq!(t.lines, ["step 0", "step 1"]);
//! assert!(t.cut, "the third line did not fit");
//! assert_eq!(t.functions["main"], 5);
//! assert!(!trace::is_open());
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Lines a trace keeps unless told otherwise.
pub const DEFAULT_TRACE_LINES: usize = 10_000;

/// What a trace recorded.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Trace {
    /// The lines, in execution order, at most the limit given to [`record`].
    pub lines: Vec<String>,
    /// Whether lines were dropped because the limit was reached.
    pub cut: bool,
    /// Gas spent in each function's own instructions, by function name.
    pub functions: BTreeMap<String, u64>,
}

thread_local! {
    static OPEN: Cell<bool> = const { Cell::new(false) };
    static LIMIT: Cell<usize> = const { Cell::new(0) };
    static CURRENT: RefCell<Trace> = RefCell::new(Trace::default());
}

/// Whether engines prepare traceable modules (see [`set_module_tracing`]).
static MODULE_TRACING: AtomicBool = AtomicBool::new(false);

/// For tools: asks every engine that must instrument code to trace it (wasm, whose code is
/// compiled to machine code) to prepare traceable modules from now on, in this process.
///
/// A traceable module reports the functions it enters and leaves to the open trace, with the
/// gas each spent; its outcomes and gas are those of the ordinary module. It runs slower, so a
/// node never turns this on. Modules prepared before the call stay as they are.
pub fn set_module_tracing(on: bool) {
    MODULE_TRACING.store(on, Ordering::Relaxed);
}

/// Whether engines should prepare traceable modules ([`set_module_tracing`]).
pub fn module_tracing() -> bool {
    MODULE_TRACING.load(Ordering::Relaxed)
}

/// Runs `f` with a trace open on this thread, keeping at most `limit` lines; returns its
/// result and the trace.
pub fn record<R>(limit: usize, f: impl FnOnce() -> R) -> (R, Trace) {
    let was_open = OPEN.with(|o| o.replace(true));
    let was_limit = LIMIT.with(|l| l.replace(limit));
    let saved = CURRENT.with(|c| c.take());
    let r = f();
    let t = CURRENT.with(|c| c.replace(saved));
    LIMIT.with(|l| l.set(was_limit));
    OPEN.with(|o| o.set(was_open));
    (r, t)
}

/// Whether a trace is open on this thread (one thread-local read).
#[inline]
pub fn is_open() -> bool {
    OPEN.with(Cell::get)
}

/// Appends the line `text` makes, when a trace is open and has room (`text` runs only then).
pub fn line(text: impl FnOnce() -> String) {
    if !is_open() {
        return;
    }
    let limit = LIMIT.with(Cell::get);
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.lines.len() < limit {
            c.lines.push(text());
        } else {
            c.cut = true;
        }
    });
}

/// Adds `gas` to what function `name` spent, when a trace is open.
pub fn function_gas(name: &str, gas: u64) {
    if !is_open() {
        return;
    }
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let g = c.functions.entry(name.to_owned()).or_default();
        *g = g.saturating_add(gas);
    });
}
