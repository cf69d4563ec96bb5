//! One series' points in memory: parallel timestamp and value vectors.
//!
//! Appends in time order are plain pushes. A late or out-of-order point marks the column
//! unsorted; the next read sorts it once (stable, so for equal timestamps the last write wins)
//! and drops the overwritten duplicates. An empty column allocates nothing.
//!
//! A column knows the memory it holds ([`bytes`](Column::bytes)): its vectors' capacity and
//! what its values hold outside them. It grows by doubling up to [`GROWTH_STEP`] points, then
//! by that many or an eighth of its size, whichever is more: one write moves its memory by its
//! own size plus at most that step (the live tier's memory bound relies on it), and each point
//! is still copied a bounded number of times where a reallocation copies.

use std::mem::size_of;

use crate::sample::Sample;

/// Points a large column grows by at a time (1 MiB of numeric points).
pub const GROWTH_STEP: usize = 65_536;

#[derive(Debug, Clone)]
pub struct Column<V> {
    ts: Vec<i64>,
    values: Vec<V>,
    unsorted: bool,
    /// What the values hold outside the vectors (event payloads).
    heap: usize,
}

impl<V> Default for Column<V> {
    fn default() -> Self {
        Column {
            ts: Vec::new(),
            values: Vec::new(),
            unsorted: false,
            heap: 0,
        }
    }
}

fn heap_of<V: Sample>(values: &[V]) -> usize {
    values.iter().map(Sample::heap_bytes).sum()
}

impl<V: Sample> Column<V> {
    /// A column from points already sorted by strictly increasing time.
    pub fn from_sorted(ts: Vec<i64>, values: Vec<V>) -> Self {
        debug_assert!(ts.windows(2).all(|w| w[0] < w[1]));
        Column {
            heap: heap_of(&values),
            ts,
            values,
            unsorted: false,
        }
    }

    /// Memory held: both vectors' capacity and what the values hold outside them.
    pub fn bytes(&self) -> usize {
        self.ts.capacity() * size_of::<i64>() + self.values.capacity() * size_of::<V>() + self.heap
    }

    /// Makes room for `n` more points (see the module's doc).
    fn reserve(&mut self, n: usize) {
        let capacity = self.ts.capacity();
        if n > capacity - self.ts.len() {
            let step = if capacity < GROWTH_STEP {
                capacity.max(4)
            } else {
                GROWTH_STEP.max(capacity / 8)
            };
            self.ts.reserve_exact(n.max(step));
            self.values.reserve_exact(n.max(step));
        }
    }

    pub fn push(&mut self, ts: i64, value: V) {
        if let Some(&last) = self.ts.last() {
            if ts == last && !self.unsorted {
                // Overwrite in place: the common duplicate never needs a sort.
                if let Some(v) = self.values.last_mut() {
                    self.heap = self.heap - v.heap_bytes() + value.heap_bytes();
                    *v = value;
                }
                return;
            }
            if ts <= last {
                self.unsorted = true;
            }
        }
        self.reserve(1);
        self.heap += value.heap_bytes();
        self.ts.push(ts);
        self.values.push(value);
    }

    /// Appends many points; a run in increasing time order after the last point is one copy.
    pub fn extend(&mut self, ts: &[i64], values: &[V]) {
        debug_assert_eq!(ts.len(), values.len());
        let ordered = ts.windows(2).all(|w| w[0] < w[1]);
        let after_last = match (self.ts.last(), ts.first()) {
            (Some(last), Some(first)) => first > last,
            _ => true,
        };
        self.reserve(ts.len());
        if !(ordered && after_last) {
            for (t, v) in ts.iter().zip(values) {
                self.push(*t, v.clone());
            }
            return;
        }
        self.heap += heap_of(values);
        self.ts.extend_from_slice(ts);
        self.values.extend_from_slice(values);
    }

    /// Sorts by time and keeps the last write of each timestamp, if needed.
    pub fn normalize(&mut self) {
        if !self.unsorted {
            return;
        }
        let mut order: Vec<usize> = (0..self.ts.len()).collect();
        order.sort_by_key(|&i| self.ts[i]);
        let mut ts = Vec::with_capacity(order.len());
        let mut values = Vec::with_capacity(order.len());
        for (k, &i) in order.iter().enumerate() {
            let superseded = order.get(k + 1).is_some_and(|&j| self.ts[j] == self.ts[i]);
            if !superseded {
                ts.push(self.ts[i]);
                values.push(self.values[i].clone());
            }
        }
        self.heap = heap_of(&values);
        self.ts = ts;
        self.values = values;
        self.unsorted = false;
    }

    /// Number of points (after `normalize`, exact; before, it may count overwritten duplicates).
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// The point at or before `at`.
    pub fn as_of(&mut self, at: i64) -> Option<(i64, V)> {
        self.normalize();
        let i = self.ts.partition_point(|&t| t <= at);
        let i = i.checked_sub(1)?;
        Some((self.ts[i], self.values[i].clone()))
    }

    /// Sorted timestamps and values with `from <= ts <= to`.
    pub fn range(&mut self, from: i64, to: i64) -> (&[i64], &[V]) {
        self.normalize();
        let start = self.ts.partition_point(|&t| t < from);
        let end = self.ts.partition_point(|&t| t <= to).max(start);
        (&self.ts[start..end], &self.values[start..end])
    }

    /// Whether any point is older than `cutoff`.
    pub fn has_before(&self, cutoff: i64) -> bool {
        if self.unsorted {
            self.ts.iter().any(|&t| t < cutoff)
        } else {
            self.ts.first().is_some_and(|&t| t < cutoff)
        }
    }

    /// How many points are older than `cutoff`.
    pub fn count_before(&self, cutoff: i64) -> usize {
        if self.unsorted {
            self.ts.iter().filter(|&&t| t < cutoff).count()
        } else {
            self.ts.partition_point(|&t| t < cutoff)
        }
    }

    /// Removes and returns the points older than `cutoff`.
    pub fn split_before(&mut self, cutoff: i64) -> Column<V> {
        self.normalize();
        let n = self.ts.partition_point(|&t| t < cutoff);
        let ts: Vec<i64> = self.ts.drain(..n).collect();
        let values: Vec<V> = self.values.drain(..n).collect();
        let taken = Column::from_sorted(ts, values);
        self.heap -= taken.heap;
        let len = self.ts.len();
        if len == 0 {
            // An idle series gives its buffers back.
            *self = Column::default();
        } else {
            // A seal frees what it took at once: the taken points now live in their own buffers
            // (counted as being sealed), so the room they leave here would count them twice.
            self.ts.shrink_to_fit();
            self.values.shrink_to_fit();
        }
        taken
    }

    /// Points in `[from, to]` without sorting first: `None` if the column needs sorting.
    pub fn range_sorted(&self, from: i64, to: i64) -> Option<(&[i64], &[V])> {
        if self.unsorted {
            return None;
        }
        let start = self.ts.partition_point(|&t| t < from);
        let end = self.ts.partition_point(|&t| t <= to).max(start);
        Some((&self.ts[start..end], &self.values[start..end]))
    }

    /// At most `n` points with `ts >= from`, sorted (for copying a large column in chunks).
    pub fn chunk_from(&mut self, from: i64, n: usize) -> (&[i64], &[V]) {
        self.normalize();
        let start = self.ts.partition_point(|&t| t < from);
        let end = start + n.min(self.ts.len() - start);
        (&self.ts[start..end], &self.values[start..end])
    }

    /// The first and last timestamps, if sorted and not empty.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        if self.unsorted {
            return None;
        }
        Some((*self.ts.first()?, *self.ts.last()?))
    }

    /// The last point, if sorted and not empty.
    pub fn last(&self) -> Option<(i64, &V)> {
        if self.unsorted {
            return None;
        }
        Some((*self.ts.last()?, self.values.last()?))
    }

    /// All points, sorted.
    pub fn all(&mut self) -> (&[i64], &[V]) {
        self.normalize();
        (&self.ts, &self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_and_duplicates_resolve_to_last_write() {
        let mut c = Column::default();
        for (t, v) in [
            (10, 1.0),
            (20, 2.0),
            (5, 0.5),
            (20, 2.5),
            (15, 1.5),
            (10, 1.1),
        ] {
            c.push(t, v);
        }
        assert_eq!(c.as_of(i64::MAX), Some((20, 2.5)));
        let (ts, vs) = c.all();
        assert_eq!(ts, &[5, 10, 15, 20]);
        assert_eq!(vs, &[0.5, 1.1, 1.5, 2.5]);
        assert_eq!(c.as_of(14), Some((10, 1.1)));
        assert_eq!(c.as_of(4), None);
        assert_eq!(c.range(6, 15).0, &[10, 15]);
        assert_eq!(c.range(16, 19).0, &[] as &[i64]);
    }

    #[test]
    fn extend_fast_path_and_fallback_agree() {
        let mut fast = Column::default();
        fast.extend(&[1, 2, 3], &[1.0, 2.0, 3.0]);
        fast.extend(&[2, 4], &[9.0, 4.0]);
        assert_eq!(fast.all(), (&[1, 2, 3, 4][..], &[1.0, 9.0, 3.0, 4.0][..]));
        assert_eq!(fast.as_of(i64::MAX), Some((4, 4.0)));
    }

    #[test]
    fn memory_is_the_capacity_held_and_grows_in_bounded_steps() {
        let mut c = Column::default();
        assert_eq!(c.bytes(), 0);
        let mut last = 0;
        for t in 0..(3 * GROWTH_STEP as i64) {
            c.push(t, 0.0);
            let grown = c.bytes() - last;
            assert!(grown <= GROWTH_STEP * 16, "{grown} bytes at once");
            last = c.bytes();
        }
        assert!(c.bytes() <= 3 * GROWTH_STEP * 16 + GROWTH_STEP * 16);
        let taken = c.split_before(3 * GROWTH_STEP as i64 - 10);
        assert_eq!(taken.bytes(), taken.len() * 16);
        assert!(
            c.bytes() <= 2 * 10 * 16 + 32 * 16,
            "{} bytes kept",
            c.bytes()
        );
    }

    #[test]
    fn payloads_count_once_whatever_becomes_of_them() {
        let p = |n: usize| -> crate::codec::Payload { vec![7; n].into() };
        let slots =
            |c: &Column<crate::codec::Payload>| c.ts.capacity() * 8 + c.values.capacity() * 16;
        let mut c = Column::default();
        c.push(1, p(100));
        c.push(1, p(10)); // overwritten in place
        c.push(0, p(1000)); // out of order
        c.push(0, p(5)); // a duplicate the sort drops
        assert_eq!(c.bytes() - slots(&c), 10 + 1000 + 5 + 3 * 16);
        c.normalize();
        assert_eq!(c.bytes() - slots(&c), 10 + 5 + 2 * 16);
        let taken = c.split_before(1);
        assert_eq!(taken.bytes() - slots(&taken), 5 + 16);
        assert_eq!(c.bytes() - slots(&c), 10 + 16);
    }
}
