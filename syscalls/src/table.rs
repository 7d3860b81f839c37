use std::sync::OnceLock;

use tos_engine_api::FeatureSet;

use crate::SyscallDef;

/// Why the syscall registry cannot be frozen into a table.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TableError {
    /// Two declarations use the same name.
    #[error("syscall `{name}` is declared twice (ids {first:#010x} and {second:#010x})")]
    DuplicateName {
        /// The name.
        name: &'static str,
        /// Id of one declaration.
        first: u32,
        /// Id of the other.
        second: u32,
    },
    /// Two different names hash to the same id.
    #[error("syscalls `{first}` and `{second}` share the id {id:#010x}")]
    DuplicateId {
        /// The id.
        id: u32,
        /// One name.
        first: &'static str,
        /// The other name.
        second: &'static str,
    },
    /// A declaration claims more than five arguments.
    #[error("syscall `{name}` declares {arity} arguments; at most 5 exist")]
    Arity {
        /// The name.
        name: &'static str,
        /// The declared arity.
        arity: u8,
    },
}

/// The frozen syscall table: every declaration, sorted by id, names and ids unique.
///
/// `inventory` gives its items in link order, which no one controls; freezing sorts them so
/// the table is the same whatever the order.
#[derive(Clone, Debug)]
pub struct SyscallTable {
    defs: Vec<&'static SyscallDef>,
}

/// The syscalls live for one feature set: a [`SyscallTable`] filtered by activation.
pub type ActiveSyscalls = SyscallTable;

impl SyscallTable {
    /// Freezes the declarations submitted with `inventory::submit!` in every linked crate,
    /// once per process.
    ///
    /// # Errors
    /// [`TableError`] when two declarations clash; the error names both.
    pub fn global() -> Result<&'static SyscallTable, TableError> {
        static GLOBAL: OnceLock<Result<SyscallTable, TableError>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| SyscallTable::from_defs(inventory::iter::<SyscallDef>))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Freezes an explicit list of declarations (in any order).
    ///
    /// # Errors
    /// [`TableError`] when two declarations clash or one has more than five arguments.
    pub fn from_defs<I>(defs: I) -> Result<SyscallTable, TableError>
    where
        I: IntoIterator<Item = &'static SyscallDef>,
    {
        let mut defs: Vec<&'static SyscallDef> = defs.into_iter().collect();
        if let Some(d) = defs.iter().find(|d| d.arity > 5) {
            return Err(TableError::Arity {
                name: d.name,
                arity: d.arity,
            });
        }
        defs.sort_by(|a, b| a.name.cmp(b.name));
        if let Some(w) = defs.windows(2).find(|w| w[0].name == w[1].name) {
            let (a, b) = (w[0].id.min(w[1].id), w[0].id.max(w[1].id));
            return Err(TableError::DuplicateName {
                name: w[0].name,
                first: a,
                second: b,
            });
        }
        defs.sort_by_key(|d| d.id);
        if let Some(w) = defs.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(TableError::DuplicateId {
                id: w[0].id,
                first: w[0].name,
                second: w[1].name,
            });
        }
        Ok(SyscallTable { defs })
    }

    /// The syscalls live under `features`: those without a feature, and those whose feature
    /// is active.
    pub fn active(&self, features: &FeatureSet) -> ActiveSyscalls {
        let defs = self
            .defs
            .iter()
            .copied()
            .filter(|d| d.feature.is_none_or(|f| features.is_active(f)))
            .collect();
        SyscallTable { defs }
    }

    /// The declaration with `id`, by binary search.
    pub fn get(&self, id: u32) -> Option<&'static SyscallDef> {
        self.defs
            .binary_search_by_key(&id, |d| d.id)
            .ok()
            .map(|i| self.defs[i])
    }

    /// The declaration named `name`.
    pub fn by_name(&self, name: &str) -> Option<&'static SyscallDef> {
        self.get(crate::murmur3_32(name.as_bytes(), 0))
            .filter(|d| d.name == name)
    }

    /// All declarations, sorted by id.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static SyscallDef> + '_ {
        self.defs.iter().copied()
    }

    /// Number of syscalls.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}
