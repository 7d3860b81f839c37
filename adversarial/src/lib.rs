//! The worst modules and calls an attacker could send, built by generators (never committed
//! megabytes): for the robustness tests and for `tosvm bench --adversarial`, which prints for
//! each case the node's CPU time per gas as a ratio to ordinary TBPF-JIT compute.
//!
//! Each [`Case`] is a module of one engine plus the call to time (or `None` when the case is
//! about deploying: preparing the module, or refusing it).

use tos_engine_api::{Call, ModuleTag};

pub mod legacy;
pub mod tbpf;
pub mod wasm;

/// One adversarial case.
#[derive(Clone, Debug)]
pub struct Case {
    /// A short stable name (`wasm.many_globals`).
    pub name: String,
    /// What the attacker is trying to buy cheaply.
    pub what: &'static str,
    /// The module's engine.
    pub tag: ModuleTag,
    /// The module's code (not an envelope).
    pub code: Vec<u8>,
    /// The call to time after deploying, if the case is about calls; `None` when it is about
    /// deploying (the module may be refused: the time to refuse it is what counts).
    pub call: Option<(Call, Vec<u8>)>,
}

/// Every case of every engine.
pub fn cases() -> Vec<Case> {
    let mut all = wasm::cases();
    all.extend(tbpf::cases());
    all.extend(legacy::cases());
    all
}
