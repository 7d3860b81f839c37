use std::collections::BTreeSet;
use std::fmt;

/// The set of syscall features live at a height, as the activation schedule computes it.
///
/// A feature is a name (`"storage_delete"`, say); a syscall declared with a feature is
/// available only where that feature is in the set. Code asks [`FeatureSet::is_active`]; it
/// never compares heights itself.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct FeatureSet {
    names: BTreeSet<String>,
}

impl FeatureSet {
    /// The empty set: only syscalls without a feature gate are live.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a feature; returns whether it was new.
    pub fn insert(&mut self, name: impl Into<String>) -> bool {
        self.names.insert(name.into())
    }

    /// Whether `name` is active.
    pub fn is_active(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Active features in name order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Number of active features.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no feature is active.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// A stable 64-bit fingerprint of the set (FNV-1a over the sorted names), used in cache
    /// keys: a module prepared under one set of live syscalls is not reused under another.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for name in &self.names {
            for b in name.bytes().chain(std::iter::once(0)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }
}

impl<S: Into<String>> FromIterator<S> for FeatureSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        FeatureSet {
            names: iter.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_content_not_insertion_order() {
        let a: FeatureSet = ["x", "yz"].into_iter().collect();
        let b: FeatureSet = ["yz", "x"].into_iter().collect();
        let c: FeatureSet = ["xy", "z"].into_iter().collect();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert!(a.is_active("yz") && !a.is_active("y"));
    }
}
