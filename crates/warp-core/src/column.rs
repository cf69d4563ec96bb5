//! One series' points in memory: parallel timestamp and value vectors.
//!
//! Appends in time order are plain pushes. A late or out-of-order point marks the column
//! unsorted; the next read sorts it once (stable, so for equal timestamps the last write wins)
//! and drops the overwritten duplicates. An empty column allocates nothing.

#[derive(Debug, Clone)]
pub struct Column<V> {
    ts: Vec<i64>,
    values: Vec<V>,
    unsorted: bool,
}

impl<V> Default for Column<V> {
    fn default() -> Self {
        Column {
            ts: Vec::new(),
            values: Vec::new(),
            unsorted: false,
        }
    }
}

impl<V: Clone> Column<V> {
    /// A column from points already sorted by strictly increasing time.
    pub fn from_sorted(ts: Vec<i64>, values: Vec<V>) -> Self {
        debug_assert!(ts.windows(2).all(|w| w[0] < w[1]));
        Column {
            ts,
            values,
            unsorted: false,
        }
    }

    pub fn push(&mut self, ts: i64, value: V) {
        if let Some(&last) = self.ts.last() {
            if ts == last && !self.unsorted {
                // Overwrite in place: the common duplicate never needs a sort.
                if let Some(v) = self.values.last_mut() {
                    *v = value;
                }
                return;
            }
            if ts <= last {
                self.unsorted = true;
            }
        }
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
        if !(ordered && after_last) {
            for (t, v) in ts.iter().zip(values) {
                self.push(*t, v.clone());
            }
            return;
        }
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

    /// Removes and returns the points older than `cutoff`.
    pub fn split_before(&mut self, cutoff: i64) -> Column<V> {
        self.normalize();
        let n = self.ts.partition_point(|&t| t < cutoff);
        let ts: Vec<i64> = self.ts.drain(..n).collect();
        let values: Vec<V> = self.values.drain(..n).collect();
        if self.ts.is_empty() {
            // An idle series gives its buffers back.
            *self = Column::default();
        } else if self.ts.capacity() > 4 * self.ts.len().max(16) {
            self.ts.shrink_to_fit();
            self.values.shrink_to_fit();
        }
        Column::from_sorted(ts, values)
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
}
