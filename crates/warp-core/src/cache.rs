//! The event horizon cache: decoded blocks kept in memory within a byte budget, evicted by
//! recency and frequency (a segmented LRU). New blocks enter a probation segment; a block read
//! again is promoted to the protected segment (at most 80% of the budget), so one large scan
//! cannot flush the blocks that are read over and over.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::codec::BlockPoints;

/// (partition id, block offset)
pub type BlockKey = (u64, u64);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: u64,
    pub bytes: u64,
    pub capacity: u64,
}

struct Entry {
    block: Arc<BlockPoints>,
    weight: usize,
    tick: u64,
    protected: bool,
}

#[derive(Default)]
struct Segments {
    map: HashMap<BlockKey, Entry>,
    probation: BTreeMap<u64, BlockKey>,
    protected: BTreeMap<u64, BlockKey>,
    tick: u64,
    bytes: usize,
    protected_bytes: usize,
    stats: CacheStats,
}

pub struct BlockCache {
    capacity: usize,
    state: Mutex<Segments>,
}

impl BlockCache {
    pub fn new(capacity: usize) -> Self {
        BlockCache {
            capacity,
            state: Mutex::new(Segments::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Segments> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: BlockKey) -> Option<Arc<BlockPoints>> {
        let mut s = self.lock();
        s.tick += 1;
        let tick = s.tick;
        let Some(entry) = s.map.get_mut(&key) else {
            s.stats.misses += 1;
            return None;
        };
        let (old_tick, was_protected, weight) = (entry.tick, entry.protected, entry.weight);
        entry.tick = tick;
        entry.protected = true;
        let block = entry.block.clone();
        if was_protected {
            s.protected.remove(&old_tick);
        } else {
            s.probation.remove(&old_tick);
            s.protected_bytes += weight;
        }
        s.protected.insert(tick, key);
        s.stats.hits += 1;
        // Keep the protected segment within 80% of the budget by demoting its oldest.
        while s.protected_bytes > self.capacity / 5 * 4 {
            let Some((t, k)) = s.protected.pop_first() else {
                break;
            };
            if let Some(e) = s.map.get_mut(&k) {
                e.protected = false;
                s.protected_bytes -= e.weight;
            }
            s.probation.insert(t, k);
        }
        Some(block)
    }

    pub fn insert(&self, key: BlockKey, block: Arc<BlockPoints>) {
        let weight = block.weight();
        if weight > self.capacity {
            return;
        }
        let mut s = self.lock();
        if s.map.contains_key(&key) {
            return;
        }
        s.tick += 1;
        let tick = s.tick;
        s.map.insert(
            key,
            Entry {
                block,
                weight,
                tick,
                protected: false,
            },
        );
        s.probation.insert(tick, key);
        s.bytes += weight;
        while s.bytes > self.capacity {
            let victim = s.probation.pop_first().or_else(|| s.protected.pop_first());
            let Some((_, k)) = victim else { break };
            if let Some(e) = s.map.remove(&k) {
                s.bytes -= e.weight;
                if e.protected {
                    s.protected_bytes -= e.weight;
                }
                s.stats.evictions += 1;
            }
        }
    }

    /// Drops every block of a partition that no longer exists.
    pub fn forget_partition(&self, id: u64) {
        let mut s = self.lock();
        let keys: Vec<BlockKey> = s.map.keys().filter(|k| k.0 == id).copied().collect();
        for k in keys {
            if let Some(e) = s.map.remove(&k) {
                s.bytes -= e.weight;
                if e.protected {
                    s.protected_bytes -= e.weight;
                    s.protected.remove(&e.tick);
                } else {
                    s.probation.remove(&e.tick);
                }
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let s = self.lock();
        CacheStats {
            entries: s.map.len() as u64,
            bytes: s.bytes as u64,
            capacity: self.capacity as u64,
            ..s.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Arc<BlockPoints> {
        Arc::new(BlockPoints::Numeric(vec![0; n], vec![0.0; n]))
    }

    #[test]
    fn frequently_read_blocks_survive_a_scan() {
        let cache = BlockCache::new(16 * 100); // room for 100 one-point blocks
        cache.insert((1, 0), block(1));
        assert!(cache.get((1, 0)).is_some()); // promoted
        for i in 0..500 {
            cache.insert((2, i), block(1));
        }
        assert!(
            cache.get((1, 0)).is_some(),
            "the hot block was evicted by the scan"
        );
        assert!(cache.get((2, 0)).is_none());
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (2, 1));
        assert!(s.evictions >= 400 && s.bytes <= s.capacity);
        cache.forget_partition(1);
        assert!(cache.get((1, 0)).is_none());
    }
}
