//! Prepared modules, kept so a warm call does no parsing, verification or compilation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tos_engine_api::{Hash, PreparedModule};

/// What a prepared module depends on: the code, the engine and its version, and the protocol
/// it was prepared under (live syscalls and every cost).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CacheKey {
    /// blake3 of the code.
    pub code_hash: Hash,
    /// Engine name.
    pub engine: &'static str,
    /// Engine version.
    pub version: u32,
    /// [`ActiveProtocol::digest`](crate::ActiveProtocol::digest) of the protocol in force.
    pub protocol: [u8; 32],
}

/// Counters of a [`ModuleCache`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CacheStats {
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that had to prepare the module.
    pub misses: u64,
    /// Modules dropped to stay within capacity.
    pub evictions: u64,
}

/// Default number of prepared modules kept.
pub const DEFAULT_CACHE_CAPACITY: usize = 256;

/// A bounded cache of prepared modules, least recently used evicted first. Thread-safe.
#[derive(Debug)]
pub struct ModuleCache {
    inner: Mutex<Inner>,
}

struct Inner {
    capacity: usize,
    tick: u64,
    map: HashMap<CacheKey, (Arc<dyn PreparedModule>, u64)>,
    stats: CacheStats,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("len", &self.map.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl ModuleCache {
    /// A cache holding at most `capacity` modules (at least one).
    pub fn new(capacity: usize) -> Self {
        ModuleCache {
            inner: Mutex::new(Inner {
                capacity: capacity.max(1),
                tick: 0,
                map: HashMap::new(),
                stats: CacheStats::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is
        // a single insert or remove), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The module for `key`, preparing it with `prepare` on a miss. `prepare` runs without the
    /// lock held, so slow compilations do not block other lookups.
    ///
    /// # Errors
    /// Whatever `prepare` returns; nothing is cached then.
    pub fn get_or_prepare<E>(
        &self,
        key: &CacheKey,
        prepare: impl FnOnce() -> Result<Arc<dyn PreparedModule>, E>,
    ) -> Result<Arc<dyn PreparedModule>, E> {
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((module, used)) = inner.map.get_mut(key) {
                *used = tick;
                let module = Arc::clone(module);
                inner.stats.hits += 1;
                return Ok(module);
            }
            inner.stats.misses += 1;
        }
        let module = prepare()?;
        let mut inner = self.lock();
        let full = inner.map.len() >= inner.capacity && !inner.map.contains_key(key);
        let oldest = inner
            .map
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone());
        if let (true, Some(oldest)) = (full, oldest) {
            inner.map.remove(&oldest);
            inner.stats.evictions += 1;
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.map.insert(key.clone(), (Arc::clone(&module), tick));
        Ok(module)
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// Modules held.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ModuleCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}
