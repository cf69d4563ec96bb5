//! Retention per metric: the manifest's default horizon for series no rule names, and rules
//! (a metric glob and its horizon; the first that matches a series wins), so raw points of
//! `cpu.*` can go after a week while a rollup's cells stay for a year.
//!
//! Nothing expired ever comes back: a rule's horizon only moves forward; a rule that first
//! appears starts no earlier than the newest horizon already in force (it can keep data
//! longer from now on, not return what is gone); a rule no longer planned lets its series
//! follow the default again, unless it was stricter than the default: then it stays, frozen,
//! until the default passes it. The floor (the earliest horizon of all) decides which whole
//! partitions are deleted.

use std::collections::HashMap;
use std::sync::Mutex;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::series::canonical_metric;
use crate::time::MIN_TIMESTAMP;

/// One rule as the manifest keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// A metric name where `*` stands for any run of characters.
    pub metric: String,
    pub horizon: i64,
}

/// The most rules a pass may plan.
pub const MAX_RULES: usize = 256;
/// The most rules a manifest keeps: planned ones and frozen ones still in force.
pub const MAX_KEPT: usize = 4 * MAX_RULES;

/// A glob over metric names as an anchored regex; the reason if it is not one.
pub fn glob(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() || pattern.len() > 256 || pattern.chars().any(char::is_control) {
        return Err(format!(
            "'{pattern}' is not a metric pattern (1–256 characters, * for any run)"
        ));
    }
    let body = pattern
        .split('*')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(".*");
    Regex::new(&format!("^(?:{body})$")).map_err(|e| e.to_string())
}

/// Checks a manifest's rules: at most [`MAX_KEPT`], each pattern valid and named once (a rule
/// left out could bring expired points back, so a bad list is damage, not something to skip).
pub fn check(rules: &[Rule]) -> Result<(), String> {
    if rules.len() > MAX_KEPT {
        return Err(format!(
            "{} retention rules (at most {MAX_KEPT})",
            rules.len()
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        glob(&rule.metric)?;
        if rules[..i].iter().any(|r| r.metric == rule.metric) {
            return Err(format!("retention rule '{}' given twice", rule.metric));
        }
    }
    Ok(())
}

/// The horizons of one manifest, ready to ask per series.
pub struct Horizons {
    default: i64,
    rules: Vec<(Regex, i64)>,
    /// By metric name: rules are few, series many.
    cache: Mutex<HashMap<String, i64>>,
}

impl Horizons {
    pub fn new(default: i64, rules: &[Rule]) -> Horizons {
        Horizons {
            default,
            // Manifests are checked when loaded (`check`) and plans when run.
            rules: rules
                .iter()
                .filter_map(|r| Some((glob(&r.metric).ok()?, r.horizon)))
                .collect(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether every series has the default horizon.
    pub fn uniform(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn default_horizon(&self) -> i64 {
        self.default
    }

    /// The horizon of the series with canonical key `key`.
    pub fn of(&self, key: &str) -> i64 {
        if self.rules.is_empty() {
            return self.default;
        }
        let metric = canonical_metric(key);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&h) = cache.get(metric) {
            return h;
        }
        let h = self
            .rules
            .iter()
            .find(|(re, _)| re.is_match(metric))
            .map_or(self.default, |&(_, h)| h);
        if cache.len() >= 1 << 16 {
            cache.clear();
        }
        cache.insert(metric.to_owned(), h);
        h
    }

    /// The earliest horizon of all: older points are gone for every series.
    pub fn floor(&self) -> i64 {
        self.rules.iter().map(|r| r.1).fold(self.default, i64::min)
    }
}

impl Default for Horizons {
    fn default() -> Self {
        Horizons::new(MIN_TIMESTAMP, &[])
    }
}

/// The rules after a pass planned `planned` (in order), given the rules and default horizon
/// in force before it and the default after it.
pub fn merge(
    current: &[Rule],
    default_before: i64,
    planned: &[Rule],
    default_after: i64,
) -> Vec<Rule> {
    let newest = current
        .iter()
        .map(|r| r.horizon)
        .fold(default_before, i64::max);
    let mut out: Vec<Rule> = Vec::new();
    for p in planned {
        if out.iter().any(|r| r.metric == p.metric) {
            continue;
        }
        let horizon = match current.iter().find(|r| r.metric == p.metric) {
            Some(old) => old.horizon.max(p.horizon),
            None => newest.max(p.horizon),
        };
        out.push(Rule {
            metric: p.metric.clone(),
            horizon,
        });
    }
    for old in current {
        if !out.iter().any(|r| r.metric == old.metric) && old.horizon > default_after {
            out.push(old.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(metric: &str, horizon: i64) -> Rule {
        Rule {
            metric: metric.into(),
            horizon,
        }
    }

    #[test]
    fn globs_match_whole_metric_names() {
        let re = glob("cpu.*").unwrap();
        assert!(re.is_match("cpu.user") && re.is_match("cpu."));
        assert!(!re.is_match("xcpu.user") && !re.is_match("cpuXuser"));
        assert!(glob("__rollup:r@*").unwrap().is_match("__rollup:r@17:sum"));
        assert!(glob("").is_err());
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_floor_is_the_earliest() {
        let h = Horizons::new(100, &[rule("cpu.*", 500), rule("*", 50)]);
        assert_eq!(h.of(r#"cpu.user{host="a"}"#), 500);
        assert_eq!(h.of("mem"), 50);
        assert_eq!(h.floor(), 50);
        assert_eq!(Horizons::new(100, &[]).of("x"), 100);
    }

    #[test]
    fn a_manifest_with_a_bad_rule_list_is_damaged() {
        assert!(check(&[rule("a*", 1), rule("b", 2)]).is_ok());
        assert!(check(&[rule("a", 1), rule("a", 2)]).is_err());
        assert!(check(&[rule("", 1)]).is_err());
        assert!(check(&[rule("a\u{7}", 1)]).is_err());
        let many: Vec<Rule> = (0..=MAX_KEPT).map(|i| rule(&format!("m{i}"), 0)).collect();
        assert!(check(&many).is_err());
    }

    #[test]
    fn horizons_only_move_forward() {
        // A planned rule never goes back; a new one starts at the newest horizon in force.
        let current = vec![rule("cpu.*", 500)];
        let next = merge(&current, 300, &[rule("cpu.*", 400), rule("mem", 10)], 300);
        assert_eq!(next, vec![rule("cpu.*", 500), rule("mem", 500)]);
        // A rule no longer planned stays, frozen, until the default passes it.
        assert_eq!(merge(&current, 300, &[], 400), vec![rule("cpu.*", 500)]);
        assert_eq!(merge(&current, 300, &[], 500), vec![]);
    }
}
