//! Time buckets: the grid a query aggregates on. Fixed buckets are aligned to the epoch (plus
//! an offset); calendar buckets (days, ISO weeks from Monday, months) follow a named time
//! zone, so a day across a DST change lasts 23 or 25 hours. A bucket is labelled by its start;
//! the first and last may be cut by the query's `[from, to)`.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime as Zoned};

/// The most buckets one query may have (each group gets one column entry per bucket).
pub const MAX_BUCKETS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    Day,
    Week,
    Month,
}

/// How a query's range is cut.
#[derive(Debug, Clone)]
pub enum Every {
    /// One bucket: the whole range.
    Whole,
    /// `width` ms each, aligned to the epoch plus `offset`.
    Fixed { width: i64, offset: i64 },
    /// Calendar units in `tz`, shifted by `offset` ms.
    Calendar {
        unit: CalendarUnit,
        tz: TimeZone,
        offset: i64,
    },
}

/// The buckets of one query over `[from, to)`.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Boundaries: bucket i is `[bounds[i], bounds[i + 1])`, bucket 0 starting at or before
    /// `from` and the last ending at or after `to`.
    bounds: Vec<i64>,
    /// For fixed buckets, bucket i starts at `first + i * width`: indexing without a search.
    fixed: Option<(i64, i64)>,
    pub from: i64,
    pub to: i64,
}

impl Grid {
    /// The grid of `every` over `[from, to)` (`from < to`); the reason if it would hold more
    /// than [`MAX_BUCKETS`].
    pub fn new(every: &Every, from: i64, to: i64) -> Result<Grid, String> {
        let too_many = || format!("more than {MAX_BUCKETS} buckets");
        let (bounds, fixed) = match every {
            Every::Whole => (vec![from, to], None),
            Every::Fixed { width, offset } => {
                let first = (from - offset).div_euclid(*width) * width + offset;
                let n = (to - first + width - 1) / width;
                if usize::try_from(n).map_or(true, |n| n > MAX_BUCKETS) {
                    return Err(too_many());
                }
                let bounds = (0..=n).map(|i| first + i * width).collect();
                (bounds, Some((first, *width)))
            }
            Every::Calendar { unit, tz, offset } => (
                calendar(*unit, tz, *offset, from, to, MAX_BUCKETS).ok_or_else(too_many)?,
                None,
            ),
        };
        Ok(Grid {
            bounds,
            fixed,
            from,
            to,
        })
    }

    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of bucket `i`: its start.
    pub fn start(&self, i: usize) -> i64 {
        self.bounds[i]
    }

    /// The part of bucket `i` inside the query's range.
    pub fn span(&self, i: usize) -> (i64, i64) {
        (
            self.bounds[i].max(self.from),
            self.bounds[i + 1].min(self.to),
        )
    }

    /// The bucket holding `t`, which must lie in `[from, to)`.
    pub fn index(&self, t: i64) -> usize {
        match self.fixed {
            Some((first, width)) => usize::try_from((t - first) / width).unwrap_or(0),
            None => self.bounds.partition_point(|&b| b <= t) - 1,
        }
    }

    /// Where the bucket holding `t` ends, cut at `to`.
    pub fn end_of(&self, t: i64) -> i64 {
        self.bounds[self.index(t) + 1].min(self.to)
    }
}

/// Calendar boundaries covering `[from, to)`, or `None` past `max` buckets.
fn calendar(
    unit: CalendarUnit,
    tz: &TimeZone,
    offset: i64,
    from: i64,
    to: i64,
    max: usize,
) -> Option<Vec<i64>> {
    let zoned = |ms: i64| {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned_datetime(tz.clone()))
    };
    let start = floor(unit, &zoned(from - offset)?)?;
    let mut bounds = Vec::new();
    let mut at = start;
    loop {
        let ms = at.timestamp().as_millisecond() + offset;
        bounds.push(ms);
        if ms >= to {
            return Some(bounds);
        }
        if bounds.len() > max {
            return None;
        }
        at = match unit {
            CalendarUnit::Day => at.checked_add(1.day()),
            CalendarUnit::Week => at.checked_add(1.week()),
            CalendarUnit::Month => at.checked_add(1.month()),
        }
        .ok()
        .and_then(|z| z.start_of_day().ok())?;
    }
}

/// The start of the calendar unit holding `z`, in its time zone.
fn floor(unit: CalendarUnit, z: &Zoned) -> Option<Zoned> {
    let day = z.start_of_day().ok()?;
    match unit {
        CalendarUnit::Day => Some(day),
        CalendarUnit::Week => {
            let back = i64::from(z.weekday().to_monday_zero_offset());
            day.checked_sub(back.days()).ok()?.start_of_day().ok()
        }
        CalendarUnit::Month => day.first_of_month().ok()?.start_of_day().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn fixed_buckets_align_to_the_epoch_plus_the_offset() {
        let every = Every::Fixed {
            width: H,
            offset: 0,
        };
        let g = Grid::new(&every, 90 * 60_000, 5 * H).unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!((g.start(0), g.span(0)), (H, (90 * 60_000, 2 * H)));
        assert_eq!(g.index(2 * H), 1);
        assert_eq!(g.end_of(4 * H + 1), 5 * H);
        let shifted = Every::Fixed {
            width: H,
            offset: 15 * 60_000,
        };
        let g = Grid::new(&shifted, 0, 2 * H).unwrap();
        assert_eq!(g.start(0), -45 * 60_000);
        assert_eq!(g.len(), 3);
        let negative = Grid::new(&every, -2 * H - 1, -H).unwrap();
        assert_eq!((negative.start(0), negative.len()), (-3 * H, 2));
        let tiny = Every::Fixed {
            width: 1,
            offset: 0,
        };
        assert!(Grid::new(&tiny, 0, MAX_BUCKETS as i64 + 1).is_err());
    }

    #[test]
    fn calendar_days_follow_dst_in_their_zone() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let every = Every::Calendar {
            unit: CalendarUnit::Day,
            tz,
            offset: 0,
        };
        // 2026-03-29: clocks go forward in Paris, the day lasts 23 hours.
        let from = 1_774_656_000_000; // 2026-03-28T00:00Z
        let g = Grid::new(&every, from, from + 3 * 24 * H).unwrap();
        let lengths: Vec<i64> = (0..g.len())
            .map(|i| g.bounds[i + 1] - g.bounds[i])
            .collect();
        assert!(lengths.contains(&(23 * H)), "{lengths:?}");
        // Each day starts at local midnight: 23:00Z in winter, 22:00Z in summer.
        assert_eq!(g.start(1).rem_euclid(24 * H), 23 * H);
        assert_eq!(g.start(3).rem_euclid(24 * H), 22 * H);
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let utc = TimeZone::UTC;
        let week = Every::Calendar {
            unit: CalendarUnit::Week,
            tz: utc.clone(),
            offset: 0,
        };
        let thursday = 0; // 1970-01-01 was a Thursday
        let g = Grid::new(&week, thursday, thursday + 1).unwrap();
        assert_eq!(g.start(0), -3 * 24 * H);
        let month = Every::Calendar {
            unit: CalendarUnit::Month,
            tz: utc,
            offset: 0,
        };
        let g = Grid::new(&month, 40 * 24 * H, 100 * 24 * H).unwrap();
        assert_eq!(g.start(0), 31 * 24 * H); // 1970-02-01
        assert_eq!(g.start(1), 59 * 24 * H); // 1970-03-01
        assert_eq!(g.index(59 * 24 * H), 1);
    }
}
