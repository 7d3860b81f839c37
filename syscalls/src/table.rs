use std::collections::BTreeSet;
use std::sync::OnceLock;

use tos_engine_api::{Gas, Protocol};

use crate::{Cost, OutSize, Param, SyscallDef, cost_names};

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

/// A syscall live under a protocol, with its cost in force.
#[derive(Clone, Copy, Debug)]
pub struct LiveSyscall {
    /// The declaration.
    pub def: &'static SyscallDef,
    /// Its cost under the protocol's gas schedule.
    pub cost: Cost,
}

impl PartialEq for LiveSyscall {
    /// Same syscall (ids are unique in a frozen table) at the same cost.
    fn eq(&self, other: &Self) -> bool {
        self.def.id == other.def.id && self.def.name == other.def.name && self.cost == other.cost
    }
}

impl Eq for LiveSyscall {}

/// The syscalls live under one [`Protocol`], sorted by id, with the costs in force.
///
/// Engines register exactly these: TBPF numbers its adapter slots by position in this table,
/// so two binaries that link different extra syscalls give a module the same table as long as
/// the schedule activates the same features.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ActiveSyscalls {
    live: Vec<LiveSyscall>,
}

impl ActiveSyscalls {
    /// The live syscall with `id`, by binary search.
    pub fn get(&self, id: u32) -> Option<&LiveSyscall> {
        self.position(id).map(|i| &self.live[i])
    }

    /// The position of the live syscall with `id` in id order.
    pub fn position(&self, id: u32) -> Option<usize> {
        self.live.binary_search_by_key(&id, |s| s.def.id).ok()
    }

    /// The live syscall at `position` in id order.
    pub fn at(&self, position: usize) -> Option<&LiveSyscall> {
        self.live.get(position)
    }

    /// The live syscall named `name`.
    pub fn by_name(&self, name: &str) -> Option<&LiveSyscall> {
        self.get(crate::murmur3_32(name.as_bytes(), 0))
            .filter(|s| s.def.name == name)
    }

    /// Every live syscall, sorted by id.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &LiveSyscall> + '_ {
        self.live.iter()
    }

    /// Number of live syscalls.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no syscall is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The table's digest: blake3 over every live syscall in id order — id (u32 LE), name
    /// length (u32 LE) and name, its parameters (one byte each; an `OutBuf` with a maximum
    /// adds the maximum as u64 LE), the feature's name (length-prefixed), and the base and
    /// per-byte costs in force (u64 LE each). Two nodes with the same digest at a height offer
    /// contracts the same syscalls at the same prices.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"tos/syscalls/v1");
        for s in &self.live {
            let d = s.def;
            h.update(&d.id.to_le_bytes());
            h.update(&(d.name.len() as u32).to_le_bytes());
            h.update(d.name.as_bytes());
            h.update(&(d.params.len() as u32).to_le_bytes());
            for p in d.params {
                match p {
                    Param::Bytes => h.update(&[0]),
                    Param::Hash => h.update(&[1]),
                    Param::U64 => h.update(&[2]),
                    Param::Out32 => h.update(&[3]),
                    Param::OutU64 => h.update(&[4]),
                    Param::OutBuf(OutSize::Input) => h.update(&[5]),
                    Param::OutBuf(OutSize::Max(n)) => h.update(&[6]).update(&n.to_le_bytes()),
                    Param::Signature => h.update(&[7]),
                };
            }
            h.update(&(d.feature.len() as u32).to_le_bytes());
            h.update(d.feature.as_bytes());
            h.update(&s.cost.base.to_le_bytes());
            h.update(&s.cost.per_byte.to_le_bytes());
        }
        *h.finalize().as_bytes()
    }
}

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

    /// The syscalls live under `protocol` (those whose feature is active), each with its cost
    /// under the protocol's gas schedule (`syscall.<name>.base` / `.per_byte`, or the declared
    /// cost where the schedule lacks one).
    pub fn active(&self, protocol: &Protocol) -> ActiveSyscalls {
        let gas = protocol.gas();
        let live = self
            .defs
            .iter()
            .copied()
            .filter(|d| protocol.features().is_active(d.feature))
            .map(|def| {
                let (base, per_byte) = cost_names(def.name);
                LiveSyscall {
                    def,
                    cost: Cost::new(
                        gas.cost_or(&base, def.cost.base),
                        gas.cost_or(&per_byte, def.cost.per_byte),
                    ),
                }
            })
            .collect();
        ActiveSyscalls { live }
    }

    /// Every feature some linked syscall belongs to.
    pub fn features(&self) -> BTreeSet<&'static str> {
        self.defs.iter().map(|d| d.feature).collect()
    }

    /// The gas-schedule costs the table declares, with their version-1 values: each syscall's
    /// `syscall.<name>.base` and `syscall.<name>.per_byte`.
    pub fn gas_costs(&self) -> Vec<(String, Gas)> {
        self.defs
            .iter()
            .flat_map(|d| {
                let (base, per_byte) = cost_names(d.name);
                [(base, d.cost.base), (per_byte, d.cost.per_byte)]
            })
            .collect()
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
