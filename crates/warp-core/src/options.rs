//! How an engine is opened.

use std::time::Duration;

/// When an acknowledged write is on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A write is acknowledged (its `wait_durable` returns) only after the WAL is fsynced.
    /// Concurrent writers share one fsync (group commit).
    Sync,
    /// Writes are buffered and the WAL is written and fsynced every `flush_interval`; a crash
    /// loses at most the writes of the last interval.
    Interval,
    /// Writes are buffered and handed to the OS every `flush_interval`, never fsynced except
    /// by `flush`, `checkpoint` and `close`: survives a process crash once handed over, not a
    /// power loss.
    None,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub durability: Durability,
    pub flush_interval: Duration,
    /// Recover what is valid from a corrupt WAL instead of refusing to open, then checkpoint
    /// so the damaged segments are retired. What was dropped is in the recovery stats.
    pub repair: bool,
    /// A WAL segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Buffered WAL bytes past which a write hands the buffer to the OS itself.
    pub max_buffer_bytes: usize,
    /// Write a checkpoint on `close`, so the next open replays nothing.
    pub checkpoint_on_close: bool,
    /// Memory budget of the decoded-block cache (the event horizon cache).
    pub cache_bytes: usize,
    /// Queries reading at least this many points run on every core (0: always).
    pub parallel_query_points: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Interval,
            flush_interval: Duration::from_millis(100),
            repair: false,
            segment_bytes: 64 << 20,
            max_buffer_bytes: 4 << 20,
            checkpoint_on_close: true,
            cache_bytes: 256 << 20,
            parallel_query_points: 500_000,
        }
    }
}

impl Options {
    /// Rejects settings the engine cannot work with.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |msg: String| Err(crate::Error::InvalidArgument(msg));
        if self.flush_interval.is_zero() {
            return invalid("flush interval must be at least 1 ms".into());
        }
        if self.segment_bytes < 4096 {
            return invalid(format!(
                "segment size {} is below 4096 bytes",
                self.segment_bytes
            ));
        }
        Ok(())
    }
}
