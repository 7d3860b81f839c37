//! Adversarial wasm modules.

use crate::Case;

/// Every adversarial wasm case.
pub fn cases() -> Vec<Case> {
    Vec::new()
}
