//! Prepared modules, kept so a warm call does no parsing, verification or compilation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

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

/// Shards of the map: a lookup locks one, for reading, so threads calling different (or the
/// same) contracts do not queue behind one lock.
const SHARDS: usize = 16;

/// The hasher of the cache's maps: folds the key's bytes eight at a time with a multiply,
/// instead of SipHash (which cost more than the rest of a hit). Keys are mostly blake3
/// digests, already uniform; collisions someone forces by grinding code cost at most a
/// longer probe in a map the cache's capacity bounds, so no keyed hash is needed.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

type KeyMap = HashMap<CacheKey, Entry, BuildHasherDefault<KeyHasher>>;

/// A counter each thread adds to in a cache line of its own (one of [`Striped::STRIPES`],
/// by the order threads first counted), summed when read: counting a hit on every warm call
/// must not make threads pass one cache line back and forth.
#[derive(Default)]
struct Striped {
    stripes: [Padded; Striped::STRIPES],
}

/// One cache line.
#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl Striped {
    const STRIPES: usize = 16;

    fn add(&self, n: u64) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % Striped::STRIPES;
        }
        let i = STRIPE.try_with(|s| *s).unwrap_or(0);
        self.stripes[i].0.fetch_add(n, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.stripes
            .iter()
            .fold(0u64, |a, s| a.wrapping_add(s.0.load(Ordering::Relaxed)))
    }
}

/// A bounded cache of prepared modules, least recently used evicted first. Thread-safe, and a
/// hit takes only a read lock on one of [`SHARDS`] shards and counts itself in a cache line of
/// its thread's own: warm calls on several threads share it without waiting for each other. A miss prepares the
/// module with no lock held; inserting it (rare: a compilation has just run) scans the shards
/// for the least recently used entry when the cache is full.
pub struct ModuleCache {
    shards: Vec<RwLock<KeyMap>>,
    capacity: usize,
    len: AtomicUsize,
    tick: AtomicU64,
    hits: Striped,
    misses: AtomicU64,
    evictions: AtomicU64,
}

struct Entry {
    module: Arc<dyn PreparedModule>,
    /// The tick of the last lookup that returned it.
    used: AtomicU64,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// A lock that a panic elsewhere left poisoned is still consistent: every update under it is
/// a single insert or remove.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ModuleCache {
    /// A cache holding at most `capacity` modules (at least one).
    pub fn new(capacity: usize) -> Self {
        ModuleCache {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(KeyMap::default()))
                .collect(),
            capacity: capacity.max(1),
            len: AtomicUsize::new(0),
            tick: AtomicU64::new(0),
            hits: Striped::default(),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &CacheKey) -> &RwLock<KeyMap> {
        &self.shards[usize::from(key.code_hash[0]) % SHARDS]
    }

    /// The module for `key`, preparing it with `prepare` on a miss. `prepare` runs without a
    /// lock held, so slow compilations do not block other lookups.
    ///
    /// # Errors
    /// Whatever `prepare` returns; nothing is cached then.
    pub fn get_or_prepare<E>(
        &self,
        key: &CacheKey,
        prepare: impl FnOnce() -> Result<Arc<dyn PreparedModule>, E>,
    ) -> Result<Arc<dyn PreparedModule>, E> {
        // The clock moves on misses only, and a hit writes an entry's tick only when it
        // changed: in the steady state a hit writes no memory another thread reads, so calls
        // on several threads do not pass cache lines back and forth. Least recently used is
        // then exact up to the order of the hits since the last miss, which eviction (on a
        // miss) cannot tell apart.
        let tick = self.tick.load(Ordering::Relaxed);
        if let Some(entry) = read(self.shard(key)).get(key) {
            if entry.used.load(Ordering::Relaxed) != tick {
                entry.used.store(tick, Ordering::Relaxed);
            }
            self.hits.add(1);
            return Ok(Arc::clone(&entry.module));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let module = prepare()?;
        if self.len.load(Ordering::Relaxed) >= self.capacity {
            self.evict_oldest();
        }
        let entry = Entry {
            module: Arc::clone(&module),
            // Between the ticks of the hits before it and of those after it.
            used: AtomicU64::new(self.tick.fetch_add(2, Ordering::Relaxed).wrapping_add(1)),
        };
        if write(self.shard(key)).insert(key.clone(), entry).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        Ok(module)
    }

    /// Drops the least recently used module (another thread may have dropped it first).
    fn evict_oldest(&self) {
        let oldest = self
            .shards
            .iter()
            .enumerate()
            .filter_map(|(i, shard)| {
                read(shard)
                    .iter()
                    .map(|(k, e)| (e.used.load(Ordering::Relaxed), k.clone()))
                    .min_by_key(|(used, _)| *used)
                    .map(|(used, k)| (used, i, k))
            })
            .min_by_key(|(used, _, _)| *used);
        if let Some((_, i, key)) = oldest
            && write(&self.shards[i]).remove(&key).is_some()
        {
            self.len.fetch_sub(1, Ordering::Relaxed);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.sum(),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Modules held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use tos_engine_api::{Call, EngineFault, HostAbi, ModuleInfo, Outcome};

    #[derive(Debug, Default)]
    struct Nothing(ModuleInfo);

    impl PreparedModule for Nothing {
        fn info(&self) -> &ModuleInfo {
            &self.0
        }
        fn run(&self, _: Call, _: &mut dyn HostAbi, _: u64) -> Result<Outcome, EngineFault> {
            Err(EngineFault::new("test", "not runnable"))
        }
    }

    fn key(n: u8) -> CacheKey {
        CacheKey {
            code_hash: [n; 32],
            engine: "test",
            version: 1,
            protocol: [0; 32],
        }
    }

    fn get(cache: &ModuleCache, n: u8) -> bool {
        let mut prepared = false;
        cache
            .get_or_prepare(&key(n), || {
                prepared = true;
                Ok::<_, ()>(Arc::new(Nothing::default()) as Arc<dyn PreparedModule>)
            })
            .unwrap();
        prepared
    }

    #[test]
    fn the_least_recently_used_module_goes_first_across_shards() {
        let cache = ModuleCache::new(3);
        assert!(get(&cache, 1) && get(&cache, 2) && get(&cache, 3));
        assert!(!get(&cache, 1), "a hit");
        assert!(get(&cache, 4), "a miss evicts 2, the least recently used");
        assert_eq!(cache.len(), 3);
        assert!(!get(&cache, 1) && !get(&cache, 3) && !get(&cache, 4));
        assert!(get(&cache, 2), "2 was evicted");
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 4,
                misses: 5,
                evictions: 2
            }
        );
    }

    /// A hit after the last insert makes a module newer than that insert: with room for two,
    /// 1 and 2 in, 1 hit, 3 in: 2 goes, not 1.
    #[test]
    fn a_hit_since_the_last_miss_outranks_that_miss() {
        let cache = ModuleCache::new(2);
        assert!(get(&cache, 1) && get(&cache, 2));
        assert!(!get(&cache, 1));
        assert!(get(&cache, 3));
        assert!(!get(&cache, 1), "1 stayed");
        assert!(get(&cache, 2), "2 went");
    }

    #[test]
    fn threads_share_it() {
        let cache = ModuleCache::new(64);
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let cache = &cache;
                s.spawn(move || {
                    for i in 0..1_000u32 {
                        get(cache, (i % 32) as u8 + t);
                    }
                });
            }
        });
        let stats = cache.stats();
        assert_eq!(stats.hits + stats.misses, 4_000);
        assert!(cache.len() <= 64);
        assert_eq!(stats.evictions, 0);
    }
}
