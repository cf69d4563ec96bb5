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

/// What a write does when the live tier is at its hard limit (see [`Options::max_live_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPressure {
    /// Wait until the early seal has made room (a JavaScript caller's thread blocks).
    Block,
    /// Refuse the write with `BACKPRESSURE`; it leaves no trace.
    Fail,
}

/// The smallest live-tier bound accepted.
pub const MIN_LIVE_BYTES: usize = 64 << 10;
/// The largest: twice it (the hard limit) must still be a byte count.
pub const MAX_LIVE_BYTES: usize = 1 << 50;

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
    /// Memory bound of the live tier: past it the engine seals the live tier to partitions
    /// early, on its own thread; at twice it, writes wait or fail per `on_pressure`.
    pub max_live_bytes: usize,
    pub on_pressure: OnPressure,
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
            max_live_bytes: 512 << 20,
            on_pressure: OnPressure::Block,
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
        if !(MIN_LIVE_BYTES..=MAX_LIVE_BYTES).contains(&self.max_live_bytes) {
            return invalid(format!(
                "max live bytes {} is outside {MIN_LIVE_BYTES} to {MAX_LIVE_BYTES}",
                self.max_live_bytes
            ));
        }
        Ok(())
    }
}
