//! The storage tiers below the live tier, each a calendar window size (their directories are
//! named in `names`).

use serde::{Deserialize, Serialize};

use crate::time::{
    day_start, hour_start, month_start, next_month, next_year, year_start, DAY_MS, HOUR_MS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Hourly,
    Daily,
    Monthly,
    Yearly,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Hourly, Tier::Daily, Tier::Monthly, Tier::Yearly];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Hourly => "hourly",
            Tier::Daily => "daily",
            Tier::Monthly => "monthly",
            Tier::Yearly => "yearly",
        }
    }

    /// The coarser tier data moves to from this one.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::Hourly => Some(Tier::Daily),
            Tier::Daily => Some(Tier::Monthly),
            Tier::Monthly => Some(Tier::Yearly),
            Tier::Yearly => None,
        }
    }

    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The window `[start, end)` of this tier that holds `ts`.
    pub fn window(self, ts: i64) -> (i64, i64) {
        match self {
            Tier::Hourly => (hour_start(ts), hour_start(ts) + HOUR_MS),
            Tier::Daily => (day_start(ts), day_start(ts) + DAY_MS),
            Tier::Monthly => (month_start(ts), next_month(ts)),
            Tier::Yearly => (year_start(ts), next_year(ts)),
        }
    }
}
