//! Adversarial tbpf modules.

use crate::Case;

/// Every adversarial tbpf case.
pub fn cases() -> Vec<Case> {
    Vec::new()
}
