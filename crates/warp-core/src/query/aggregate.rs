//! Aggregates: what a query computes per bucket, the per-bucket state (a [`Cell`]) that
//! points, whole-block summaries and other cells fold into, and how a column is read out.
//!
//! NaN values are gaps: every aggregate leaves them out (`count` counts the other values).
//! Counter functions are computed per series, then summed over a group's series (as
//! Prometheus' `sum(rate(...))`):
//! - `increase`: the sum of the rises between consecutive samples from the last sample
//!   before the bucket (if any) to the last in it, a fall counting as a reset to zero (the
//!   sample's whole value is the rise). No extrapolation to the bucket's edges: the increases
//!   of consecutive buckets add up to the increase over their union.
//! - `rate`: `increase` per second of the part of the bucket inside the query's range.
//! - `delta`: the last sample in the bucket minus the last one before it (or the bucket's
//!   first sample, when none came before); no reset handling (gauges).
//! - `derivative`: `delta` per second between those two samples.

use crate::rollup::sketch::Sketch;

/// One aggregate of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Agg {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Stddev,
    Variance,
    Spread,
    Median,
    Percentile(f64),
    Rate,
    Increase,
    Delta,
    Derivative,
    /// The mean of the last `n` buckets' `of` (once filled), NaN where none has a value.
    MovingAverage {
        n: usize,
        of: Box<Agg>,
    },
}

/// The longest moving-average window.
pub const MAX_WINDOW: usize = 100_000;

impl Agg {
    /// Parses `count`, `percentile(0.99)`, `movingAverage(5)` (of `avg`) or
    /// `movingAverage(5, max)`.
    pub fn parse(text: &str) -> Result<Agg, String> {
        let text = text.trim();
        let (name, args) = match text.split_once('(') {
            Some((name, rest)) => {
                let args = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("'{text}' lacks its closing parenthesis"))?;
                (name.trim(), Some(args))
            }
            None => (text, None),
        };
        let plain = |agg: Agg| match args {
            None => Ok(agg),
            Some(_) => Err(format!("'{name}' takes no argument")),
        };
        match name {
            "count" => plain(Agg::Count),
            "sum" => plain(Agg::Sum),
            "avg" | "mean" => plain(Agg::Avg),
            "min" => plain(Agg::Min),
            "max" => plain(Agg::Max),
            "first" => plain(Agg::First),
            "last" => plain(Agg::Last),
            "stddev" => plain(Agg::Stddev),
            "variance" => plain(Agg::Variance),
            "spread" => plain(Agg::Spread),
            "median" => plain(Agg::Median),
            "rate" => plain(Agg::Rate),
            "increase" => plain(Agg::Increase),
            "delta" => plain(Agg::Delta),
            "derivative" => plain(Agg::Derivative),
            "percentile" => {
                let p: f64 = args
                    .ok_or("percentile needs p, as in percentile(0.99)")?
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{text}': p is not a number"))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("'{text}': p must lie in [0, 1]"));
                }
                Ok(Agg::Percentile(p))
            }
            "movingAverage" => {
                let args = args.ok_or("movingAverage needs n, as in movingAverage(5)")?;
                let (n, of) = match args.split_once(',') {
                    Some((n, of)) => (n, Agg::parse(of)?),
                    None => (args, Agg::Avg),
                };
                let n: usize = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{text}': n is not a whole number"))?;
                if n == 0 || n > MAX_WINDOW {
                    return Err(format!("'{text}': n must lie in [1, {MAX_WINDOW}]"));
                }
                if matches!(of, Agg::MovingAverage { .. }) {
                    return Err(format!("'{text}': a moving average of a moving average"));
                }
                Ok(Agg::MovingAverage {
                    n,
                    of: Box::new(of),
                })
            }
            other => Err(format!("unknown aggregate '{other}'")),
        }
    }

    /// The column's name: the canonical text of the aggregate.
    pub fn name(&self) -> String {
        match self {
            Agg::Percentile(p) => format!("percentile({p})"),
            Agg::MovingAverage { n, of } if **of == Agg::Avg => format!("movingAverage({n})"),
            Agg::MovingAverage { n, of } => format!("movingAverage({n},{})", of.name()),
            other => format!("{other:?}").to_lowercase(),
        }
    }

    /// The aggregate computed per bucket (a moving average's input).
    pub fn base(&self) -> &Agg {
        match self {
            Agg::MovingAverage { of, .. } => of,
            other => other,
        }
    }

    /// Whether it needs the values themselves (exact quantiles).
    pub fn needs_values(&self) -> bool {
        matches!(self.base(), Agg::Median | Agg::Percentile(_))
    }

    /// Whether it is a counter function (computed per series, in time order).
    pub fn is_counter(&self) -> bool {
        matches!(
            self.base(),
            Agg::Rate | Agg::Increase | Agg::Delta | Agg::Derivative
        )
    }

    /// Whether a block summary can answer it (for a block inside one bucket).
    pub fn from_summary(&self) -> bool {
        matches!(
            self.base(),
            Agg::Count
                | Agg::Sum
                | Agg::Avg
                | Agg::Min
                | Agg::Max
                | Agg::First
                | Agg::Last
                | Agg::Spread
        )
    }

    /// Whether it needs numbers (all but `count` do).
    pub fn needs_numbers(&self) -> bool {
        *self.base() != Agg::Count
    }
}

/// What a bucket of one group has seen.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Values (not NaN).
    pub n: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Earliest and latest value with their times.
    pub first: (i64, f64),
    pub last: (i64, f64),
    /// Mean and sum of squared deviations (Chan et al.'s parallel form of Welford's).
    pub mean: f64,
    pub m2: f64,
    /// The values, when a quantile needs them.
    pub values: Vec<f64>,
    /// Values summarised by a rollup's sketches: a quantile then comes from the sketch (with
    /// `values` added), within its relative error.
    pub sketch: Option<Box<Sketch>>,
    /// Counter functions summed over series: increase, delta, derivative, and how many
    /// series gave each.
    pub increase: (f64, u32),
    pub delta: (f64, u32),
    pub derivative: (f64, u32),
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            first: (i64::MAX, f64::NAN),
            last: (i64::MIN, f64::NAN),
            mean: 0.0,
            m2: 0.0,
            values: Vec::new(),
            sketch: None,
            increase: (0.0, 0),
            delta: (0.0, 0),
            derivative: (0.0, 0),
        }
    }
}

/// Which parts of a cell a query needs kept up to date.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub moments: bool,
    pub values: bool,
}

impl Needs {
    pub fn of(aggs: &[Agg]) -> Needs {
        Needs {
            moments: aggs
                .iter()
                .any(|a| matches!(a.base(), Agg::Stddev | Agg::Variance)),
            values: aggs.iter().any(Agg::needs_values),
        }
    }
}

impl Cell {
    /// Folds sorted points (all inside this bucket, NaN allowed) into the cell.
    pub fn add(&mut self, ts: &[i64], vs: &[f64], needs: Needs) {
        let (mut n, mut sum, mut min, mut max) = (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        let (mut first, mut last) = (None, None);
        // A plain loop over the slice: the compiler vectorises the min, max and sum.
        for (i, &v) in vs.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            n += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
            first.get_or_insert(i);
            last = Some(i);
        }
        let (Some(f), Some(l)) = (first, last) else {
            return;
        };
        if needs.moments {
            let mean = sum / n as f64;
            let m2 = vs
                .iter()
                .filter(|v| !v.is_nan())
                .map(|&v| (v - mean) * (v - mean))
                .sum();
            self.merge_moments(n, mean, m2);
        }
        if needs.values {
            self.values
                .extend(vs.iter().copied().filter(|v| !v.is_nan()));
        }
        self.n += n;
        self.sum += sum;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        if ts[f] < self.first.0 {
            self.first = (ts[f], vs[f]);
        }
        if ts[l] >= self.last.0 {
            self.last = (ts[l], vs[l]);
        }
    }

    /// Folds a whole block's summary (a block without NaN: its first value is at `min_ts`, its
    /// last at `max_ts`).
    pub fn add_summary(&mut self, s: &crate::codec::block::Summary, min_ts: i64, max_ts: i64) {
        if s.valid == 0 {
            return;
        }
        self.n += u64::from(s.valid);
        self.sum += s.sum;
        self.min = self.min.min(s.min);
        self.max = self.max.max(s.max);
        if min_ts < self.first.0 {
            self.first = (min_ts, s.first);
        }
        if max_ts >= self.last.0 {
            self.last = (max_ts, s.last);
        }
    }

    fn merge_moments(&mut self, n: u64, mean: f64, m2: f64) {
        let total = self.n_moments() + n;
        if total == 0 {
            return;
        }
        let (na, nb) = (self.n_moments() as f64, n as f64);
        let delta = mean - self.mean;
        self.m2 += m2 + delta * delta * na * nb / total as f64;
        self.mean += delta * nb / total as f64;
    }

    /// The values the moments cover: moments are only kept when every value is added through
    /// `add` (a query needing them never reads block summaries).
    fn n_moments(&self) -> u64 {
        self.n
    }

    /// Folds another cell of the same bucket (a partial result of another thread).
    pub fn merge(&mut self, other: Cell, needs: Needs) {
        if needs.moments && other.n > 0 {
            let (n, mean, m2) = (other.n, other.mean, other.m2);
            self.merge_moments(n, mean, m2);
        }
        self.n += other.n;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.first.0 < self.first.0 {
            self.first = other.first;
        }
        // `other` holds later series (a later chunk of them): it wins ties, as in one pass.
        if other.last.0 >= self.last.0 {
            self.last = other.last;
        }
        self.values.extend(other.values);
        if let Some(theirs) = other.sketch {
            self.merge_sketch(&theirs);
        }
        for (mine, theirs) in [
            (&mut self.increase, other.increase),
            (&mut self.delta, other.delta),
            (&mut self.derivative, other.derivative),
        ] {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
    }

    /// Folds a rollup bucket's sketch in.
    pub fn merge_sketch(&mut self, sketch: &Sketch) {
        self.sketch
            .get_or_insert_with(Default::default)
            .merge(sketch);
    }

    /// The `p`-quantile: exact over the values, or from the sketch when there is one.
    fn quantile(&mut self, p: f64) -> f64 {
        match &self.sketch {
            Some(sketch) => {
                let mut all = (**sketch).clone();
                self.values.iter().for_each(|&v| all.add(v));
                all.quantile(p)
            }
            None => quantile(&mut self.values, p),
        }
    }

    /// The value of a (base) aggregate; NaN when the bucket has nothing for it. `seconds` is
    /// the length of the bucket's part inside the range.
    pub fn value(&mut self, agg: &Agg, seconds: f64) -> f64 {
        let n = self.n as f64;
        let some = |v: f64| if self.n > 0 { v } else { f64::NAN };
        match agg {
            Agg::Count => n,
            Agg::Sum => some(self.sum),
            Agg::Avg => some(self.sum / n),
            Agg::Min => some(self.min),
            Agg::Max => some(self.max),
            Agg::First => some(self.first.1),
            Agg::Last => some(self.last.1),
            Agg::Spread => some(self.max - self.min),
            // The population variance, as InfluxDB's and DuckDB's var_pop.
            Agg::Variance => some(self.m2 / n),
            Agg::Stddev => some((self.m2 / n).sqrt()),
            Agg::Median => self.quantile(0.5),
            Agg::Percentile(p) => self.quantile(*p),
            Agg::Increase => counted(self.increase),
            Agg::Rate => counted(self.increase) / seconds,
            Agg::Delta => counted(self.delta),
            Agg::Derivative => counted(self.derivative),
            Agg::MovingAverage { of, .. } => self.value(of, seconds),
        }
    }
}

fn counted((sum, n): (f64, u32)) -> f64 {
    if n > 0 {
        sum
    } else {
        f64::NAN
    }
}

/// The `p`-quantile of `values` by linear interpolation between the two nearest ranks (as
/// DuckDB's `quantile_cont` and NumPy's default), found by selection, not a full sort.
pub fn quantile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let rank = p * (values.len() - 1) as f64;
    // p lies in [0, 1]: the rank is a whole number within the values' indices.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lo = (rank.floor() as usize).min(values.len() - 1);
    let frac = rank - lo as f64;
    let (_, &mut below, rest) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if frac == 0.0 || rest.is_empty() {
        return below;
    }
    let above = rest.iter().copied().fold(f64::INFINITY, f64::min);
    below + (above - below) * frac
}

/// Counter functions of one series over the buckets: each point in order, with the last
/// sample before the current bucket (`reference`) carried from bucket to bucket.
pub struct CounterState {
    reference: Option<(i64, f64)>,
    bucket: Option<usize>,
    first_in_bucket: Option<(i64, f64)>,
    last_in_bucket: Option<(i64, f64)>,
    increase: f64,
    prev: Option<f64>,
}

impl CounterState {
    /// Starts with the last sample before the query's range, if there is one.
    pub fn new(before: Option<(i64, f64)>) -> Self {
        CounterState {
            reference: before.filter(|(_, v)| !v.is_nan()),
            bucket: None,
            first_in_bucket: None,
            last_in_bucket: None,
            increase: 0.0,
            prev: before.map(|(_, v)| v).filter(|v| !v.is_nan()),
        }
    }

    /// Adds one sample of bucket `bucket` (samples in time order); `out` receives each bucket
    /// finished on the way.
    pub fn add(&mut self, bucket: usize, t: i64, v: f64, out: &mut impl FnMut(usize, &Counted)) {
        if v.is_nan() {
            return;
        }
        if self.bucket != Some(bucket) {
            self.finish(out);
            self.bucket = Some(bucket);
        }
        if let Some(prev) = self.prev {
            self.increase += if v >= prev { v - prev } else { v };
        }
        self.prev = Some(v);
        self.first_in_bucket.get_or_insert((t, v));
        self.last_in_bucket = Some((t, v));
    }

    /// Ends the bucket in progress.
    pub fn finish(&mut self, out: &mut impl FnMut(usize, &Counted)) {
        let (Some(bucket), Some(last)) = (self.bucket, self.last_in_bucket) else {
            return;
        };
        let base = self.reference.or(self.first_in_bucket);
        let counted = Counted {
            increase: self.increase,
            delta: base.map(|b| last.1 - b.1),
            derivative: base
                .filter(|b| b.0 < last.0)
                .map(|b| (last.1 - b.1) / ((last.0 - b.0) as f64 / 1000.0)),
        };
        out(bucket, &counted);
        self.reference = Some(last);
        self.first_in_bucket = None;
        self.last_in_bucket = None;
        self.increase = 0.0;
        self.bucket = None;
    }
}

/// One series' counter functions over one bucket.
pub struct Counted {
    pub increase: f64,
    pub delta: Option<f64>,
    pub derivative: Option<f64>,
}

impl Cell {
    /// Adds one series' counter functions over this bucket.
    pub fn add_counted(&mut self, c: &Counted) {
        self.increase.0 += c.increase;
        self.increase.1 += 1;
        if let Some(d) = c.delta {
            self.delta.0 += d;
            self.delta.1 += 1;
        }
        if let Some(d) = c.derivative {
            self.derivative.0 += d;
            self.derivative.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_parse_and_name_themselves() {
        for (text, name) in [
            ("count", "count"),
            (" avg ", "avg"),
            ("mean", "avg"),
            ("percentile(0.99)", "percentile(0.99)"),
            ("percentile( 0.5 )", "percentile(0.5)"),
            ("movingAverage(5)", "movingAverage(5)"),
            ("movingAverage(3, max)", "movingAverage(3,max)"),
            ("derivative", "derivative"),
        ] {
            assert_eq!(Agg::parse(text).unwrap().name(), name, "{text}");
        }
        for bad in [
            "nope",
            "percentile",
            "percentile(1.5)",
            "percentile(-0.1)",
            "percentile(x)",
            "avg(1)",
            "movingAverage(0)",
            "movingAverage(2, movingAverage(2))",
            "max(",
        ] {
            assert!(Agg::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.5);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
        assert!((quantile(&mut v, 0.9) - 3.7).abs() < 1e-12);
        assert!(quantile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn cells_skip_nan_and_merge_like_one() {
        let needs = Needs {
            moments: true,
            values: true,
        };
        let ts: Vec<i64> = (0..10).collect();
        let vs = [1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0, f64::NAN, 8.0, 9.0, 10.0];
        let mut whole = Cell::default();
        whole.add(&ts, &vs, needs);
        let (mut a, mut b) = (Cell::default(), Cell::default());
        a.add(&ts[..4], &vs[..4], needs);
        b.add(&ts[4..], &vs[4..], needs);
        a.merge(b, needs);
        for agg in [
            "count", "sum", "min", "max", "first", "last", "variance", "median",
        ] {
            let agg = Agg::parse(agg).unwrap();
            let (x, y) = (whole.value(&agg, 1.0), a.value(&agg, 1.0));
            assert!((x - y).abs() < 1e-9, "{agg:?}: {x} vs {y}");
        }
        assert_eq!(whole.value(&Agg::Count, 1.0), 8.0);
        assert_eq!(whole.value(&Agg::First, 1.0), 1.0);
        assert!(Cell::default().value(&Agg::Avg, 1.0).is_nan());
    }

    #[test]
    fn counters_handle_resets_and_carry_the_previous_sample() {
        // Buckets of 10 ms; a reset in bucket 1 (50 → 5).
        let samples = [
            (0, 10.0),
            (5, 20.0),
            (10, 30.0),
            (12, 50.0),
            (15, 5.0),
            (25, 15.0),
        ];
        let mut out = Vec::new();
        let mut state = CounterState::new(Some((-5, 8.0)));
        let mut sink = |b: usize, c: &Counted| out.push((b, c.increase, c.delta, c.derivative));
        for (t, v) in samples {
            state.add((t / 10) as usize, t, v, &mut sink);
        }
        state.finish(&mut sink);
        assert_eq!(out[0].0, 0);
        assert_eq!(out[0].1, 12.0); // 8 → 10 → 20
        assert_eq!(out[0].2, Some(12.0));
        assert_eq!(out[1].1, 10.0 + 20.0 + 5.0); // 20 → 30 → 50, reset → 5
        assert_eq!(out[1].2, Some(5.0 - 20.0));
        assert_eq!(out[2], (2, 10.0, Some(10.0), Some(10.0 / 0.01)));
    }
}
