//! Group commit: the WAL buffer, the segment writer, and what is durable.
//!
//! Writers append records to the buffer under its (short) lock and get a sequence number.
//! Whoever needs durability takes the writer lock, takes the whole buffer, writes it and
//! fsyncs: every write buffered so far rides on that one fsync. Lock order is fixed by the
//! types: `writer` is taken before `buffer`, and `buffer` is never held across I/O, so
//! reading a gauge or appending never waits for an fsync.
//!
//! A failed write or fsync (or a commit the engine could not make durable) marks the log
//! failed: the bytes may be lost from the page cache, so no later write may be acknowledged on
//! top of them. Writes are refused until the database is reopened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::frame::FrameBuffer;
use super::segment::{SegmentWriter, WalGauge};
use crate::error::{Error, Result};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Buffer {
    frames: FrameBuffer,
    /// Count of writes accepted so far; a write's number is its sequence.
    seq: u64,
    failed: Option<String>,
}

impl Buffer {
    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(reason) => Err(Error::StorageFailed(reason.clone())),
            None => Ok(()),
        }
    }
}

#[derive(Default)]
struct FlusherSignal {
    stop: bool,
    /// The buffer passed its soft limit.
    kick: bool,
}

pub struct Log {
    /// `None` once closed.
    writer: Mutex<Option<SegmentWriter>>,
    buffer: Mutex<Buffer>,
    durable_seq: AtomicU64,
    syncs: AtomicU64,
    gauge: Arc<WalGauge>,
    /// Buffered bytes past which the flusher is asked to write; past eight times this the
    /// writer writes itself (backpressure).
    soft_limit: usize,
    signal: (Mutex<FlusherSignal>, Condvar),
}

impl Log {
    pub fn new(writer: SegmentWriter, soft_limit: usize) -> Log {
        Log {
            gauge: writer.gauge(),
            writer: Mutex::new(Some(writer)),
            buffer: Mutex::default(),
            durable_seq: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            soft_limit,
            signal: Default::default(),
        }
    }

    /// Appends records; returns the write's sequence number. The caller holds whatever lock
    /// orders its writes (the engine's state lock), so the log's order is the apply order.
    pub fn record(&self, push: impl FnOnce(&mut FrameBuffer)) -> Result<u64> {
        let mut b = lock(&self.buffer);
        b.check()?;
        push(&mut b.frames);
        b.seq += 1;
        Ok(b.seq)
    }

    /// Refuses writes from now on if the log has failed.
    pub fn check(&self) -> Result<()> {
        lock(&self.buffer).check()
    }

    /// Called after a write, outside the caller's locks: past the soft limit the flusher is
    /// asked to write the buffer; past eight times that, or without a flusher, the writer
    /// writes it itself, so memory stays bounded.
    pub fn after_write(&self, seq: u64, has_flusher: bool) -> Result<()> {
        let buffered = lock(&self.buffer).frames.len();
        if buffered < self.soft_limit {
            return Ok(());
        }
        if has_flusher && buffered < self.soft_limit * 8 {
            let (signal, wake) = &self.signal;
            lock(signal).kick = true;
            wake.notify_one();
            return Ok(());
        }
        self.sync_to(seq, false)
    }

    /// The sequence number of the last write accepted.
    pub fn last_seq(&self) -> u64 {
        lock(&self.buffer).seq
    }

    /// Takes the buffered records and the sequence they reach. The caller holds `writer`, so
    /// the bytes are appended in the order they were taken.
    fn take(&self) -> Result<(Vec<u8>, u64)> {
        let mut b = lock(&self.buffer);
        b.check()?;
        Ok((b.frames.take(), b.seq))
    }

    /// Writes the buffer out; with `fsync`, returns once write `target` is durable.
    pub fn sync_to(&self, target: u64, fsync: bool) -> Result<()> {
        let mut writer = lock(&self.writer);
        if fsync && self.durable_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let w = writer.as_mut().ok_or(Error::Closed)?;
        let (bytes, upto) = self.take()?;
        let written = w
            .append(&bytes)
            .and_then(|()| if fsync { w.sync() } else { Ok(()) });
        match written {
            Ok(()) if fsync => {
                self.durable_seq.fetch_max(upto, Ordering::AcqRel);
                self.syncs.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Writes and fsyncs everything accepted so far.
    pub fn flush(&self) -> Result<()> {
        self.sync_to(self.last_seq(), true)
    }

    /// Writes the buffer out, syncs, and starts a new segment; returns its index. Every write
    /// accepted before the roll is in the segments before it.
    pub fn roll(&self) -> Result<u64> {
        let mut writer = lock(&self.writer);
        let w = writer.as_mut().ok_or(Error::Closed)?;
        let (bytes, upto) = self.take()?;
        let next = w
            .append(&bytes)
            .and_then(|()| w.roll())
            .map_err(|e| self.fail(e))?;
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(next)
    }

    /// Deletes the segments before `index` (a checkpoint covers them).
    pub fn retire_before(&self, index: u64) -> Result<()> {
        match lock(&self.writer).as_mut() {
            Some(w) => w.retire_before(index),
            None => Ok(()),
        }
    }

    /// Marks the log failed; returns the error for the caller to report.
    pub fn fail(&self, e: Error) -> Error {
        let mut b = lock(&self.buffer);
        if b.failed.is_none() {
            b.failed = Some(e.to_string());
        }
        e
    }

    /// Drops the writer: later syncs report `Closed`.
    pub fn close(&self) {
        *lock(&self.writer) = None;
    }

    pub fn buffered_bytes(&self) -> u64 {
        lock(&self.buffer).frames.len() as u64
    }

    pub fn bytes_on_disk(&self) -> u64 {
        self.gauge.bytes.load(Ordering::Relaxed)
    }

    pub fn segments(&self) -> u64 {
        self.gauge.segments.load(Ordering::Relaxed)
    }

    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// The background loop of the `interval` and `none` modes: every `interval` write the
    /// buffer out (and fsync it if `fsync`); when kicked by a full buffer, write it out. Runs
    /// until [`stop_flusher`](Self::stop_flusher).
    pub fn run_flusher(&self, interval: Duration, fsync: bool) {
        let (signal, wake) = &self.signal;
        let mut last_fsync = Instant::now();
        loop {
            let mut s = wake
                .wait_timeout_while(lock(signal), interval, |s| !s.stop && !s.kick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if s.stop {
                return;
            }
            let kicked = std::mem::take(&mut s.kick);
            drop(s);
            // Kicks never postpone the periodic fsync: it is due every interval regardless.
            let due = !kicked || last_fsync.elapsed() >= interval;
            let sync_now = fsync && due;
            if sync_now {
                last_fsync = Instant::now();
            }
            // A failure is recorded and reported by the next write.
            let _ = self.sync_to(self.last_seq(), sync_now);
        }
    }

    pub fn stop_flusher(&self) {
        let (signal, wake) = &self.signal;
        lock(signal).stop = true;
        wake.notify_all();
    }
}
