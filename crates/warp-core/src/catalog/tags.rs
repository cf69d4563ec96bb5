//! The tag index: for every metric name and every tag `name=value`, the sorted ids of the
//! series that have it (a postings list, as in Prometheus' index). Selecting series intersects
//! and unions postings lists; nothing scans the catalog.

use regex::Regex;

use super::interner::Interner;
use super::postings::{self, Postings};
use crate::series::{canonical_metric, canonical_tags, SeriesId, RESERVED};

/// How a tag value (or the metric name) is matched.
#[derive(Debug, Clone)]
pub enum Match {
    Equal(String),
    OneOf(Vec<String>),
    /// Anchored at both ends.
    Regex(Regex),
    /// Any value: the tag is present.
    Any,
}

/// Compiled regexes by pattern, so a query repeated (a dashboard refreshing) does not compile
/// its matchers again; cleared when full.
static COMPILED: std::sync::Mutex<Option<std::collections::HashMap<String, Regex>>> =
    std::sync::Mutex::new(None);
const MAX_COMPILED: usize = 256;

impl Match {
    /// Whether one value matches (the index answers whole selections from postings instead).
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Match::Equal(e) => value == e,
            Match::OneOf(all) => all.iter().any(|e| value == e),
            Match::Regex(re) => re.is_match(value),
            Match::Any => true,
        }
    }

    /// A regular expression that must match a whole value (the `regex` crate's syntax; linear
    /// time whatever the input). Compiled once, its size bounded.
    pub fn regex(pattern: &str) -> Result<Match, String> {
        let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        let cache = compiled.get_or_insert_with(Default::default);
        if let Some(re) = cache.get(pattern) {
            return Ok(Match::Regex(re.clone()));
        }
        let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        if cache.len() >= MAX_COMPILED {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), re.clone());
        Ok(Match::Regex(re))
    }
}

/// A condition on one tag. A negated matcher selects the series the plain one does not,
/// including those without the tag (as Prometheus' `!=` and `!~` do).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub matching: Match,
    pub negated: bool,
}

/// The values of one tag (or the metric names) and their postings.
#[derive(Default)]
struct Values {
    text: Interner,
    postings: Vec<Postings>,
    /// Values whose postings emptied: compacted away when they outnumber the rest.
    empty: usize,
}

impl Values {
    fn add(&mut self, value: &str, id: SeriesId) {
        let Some(n) = self.text.intern(value) else {
            return;
        };
        match self.postings.get_mut(n as usize) {
            Some(p) => p.insert(id),
            None => self.postings.push(Postings::one(id)),
        }
    }

    fn remove(&mut self, value: &str, ids: &[SeriesId]) {
        let Some(n) = self.text.find(value) else {
            return;
        };
        let Some(p) = self.postings.get_mut(n as usize) else {
            return;
        };
        p.remove(ids);
        if p.is_empty() {
            self.text.forget(value);
            self.empty += 1;
            if self.empty > self.postings.len() / 2 {
                self.compact();
            }
        }
    }

    /// Renumbers the values that still have series.
    fn compact(&mut self) {
        let mut fresh = Values::default();
        for (n, p) in (0..).zip(std::mem::take(&mut self.postings)) {
            if !p.is_empty() {
                fresh.text.push(self.text.get(n));
                fresh.postings.push(p);
            }
        }
        *self = fresh;
    }

    fn postings(&self, value: &str) -> &[SeriesId] {
        self.text
            .find(value)
            .and_then(|n| self.postings.get(n as usize))
            .map_or(&[], Postings::as_slice)
    }

    /// The postings of every value `m` matches.
    fn matching(&self, m: &Match) -> Vec<SeriesId> {
        match m {
            Match::Equal(v) => self.postings(v).to_vec(),
            Match::OneOf(vs) => postings::union(vs.iter().map(|v| self.postings(v))),
            Match::Regex(_) => postings::union(self.each(|v| m.matches(v))),
            Match::Any => postings::union(self.each(|_| true)),
        }
    }

    fn each<'a>(
        &'a self,
        keep: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a [SeriesId]> + 'a {
        (0..)
            .zip(&self.postings)
            .filter(move |(n, p)| !p.is_empty() && keep(self.text.get(*n)))
            .map(|(_, p)| p.as_slice())
    }

    fn values(&self) -> impl Iterator<Item = (&str, usize)> {
        (0..)
            .zip(&self.postings)
            .filter(|(_, p)| !p.is_empty())
            .map(|(n, p)| (self.text.get(n), p.len()))
    }
}

#[derive(Default)]
pub struct TagIndex {
    metrics: Values,
    names: Interner,
    tags: Vec<Values>,
}

impl TagIndex {
    /// Indexes series `id` under its canonical key. Ids must come in increasing order.
    pub fn add(&mut self, id: SeriesId, key: &str) {
        self.metrics.add(canonical_metric(key), id);
        for (name, value) in canonical_tags(key) {
            let Some(n) = self.names.intern(name) else {
                continue;
            };
            if n as usize == self.tags.len() {
                self.tags.push(Values::default());
            }
            if let Some(values) = self.tags.get_mut(n as usize) {
                values.add(&value, id);
            }
        }
    }

    /// Removes series (sorted ids, each with its key) from every postings list.
    pub fn remove(&mut self, series: &[(SeriesId, &str)]) {
        // One removal per list, of all the ids it loses.
        let mut lists: std::collections::HashMap<(Option<u32>, String), Vec<SeriesId>> =
            Default::default();
        for &(id, key) in series {
            lists
                .entry((None, canonical_metric(key).to_owned()))
                .or_default()
                .push(id);
            for (name, value) in canonical_tags(key) {
                if let Some(n) = self.names.find(name) {
                    lists
                        .entry((Some(n), value.into_owned()))
                        .or_default()
                        .push(id);
                }
            }
        }
        for ((name, value), mut ids) in lists {
            ids.sort_unstable();
            let values = match name {
                None => Some(&mut self.metrics),
                Some(n) => self.tags.get_mut(n as usize),
            };
            if let Some(values) = values {
                values.remove(&value, &ids);
            }
        }
    }

    /// The series whose metric matches `metric` and that pass every matcher, sorted. `all`
    /// gives every live series, for selections without a positive condition.
    pub fn select(
        &self,
        metric: Option<&Match>,
        matchers: &[Matcher],
        all: impl FnOnce() -> Vec<SeriesId>,
    ) -> Vec<SeriesId> {
        let mut positive: Vec<Vec<SeriesId>> = Vec::new();
        let mut negative: Vec<Vec<SeriesId>> = Vec::new();
        if let Some(m) = metric {
            positive.push(self.metrics.matching(m));
        }
        for m in matchers {
            let ids = match self
                .names
                .find(&m.name)
                .and_then(|n| self.tags.get(n as usize))
            {
                Some(values) => values.matching(&m.matching),
                None => Vec::new(),
            };
            if m.negated {
                negative.push(ids);
            } else {
                positive.push(ids);
            }
        }
        // Smallest first: every later intersection is at most that long.
        positive.sort_by_key(Vec::len);
        let mut selected = match positive.split_first() {
            Some((first, rest)) => rest
                .iter()
                .fold(first.clone(), |acc, p| postings::intersect(&acc, p)),
            None => all(),
        };
        // The engine's own series (rollup cells) only when named exactly.
        if !matches!(metric, Some(Match::Equal(name)) if name.starts_with(RESERVED)) {
            negative.push(postings::union(
                self.metrics.each(|v| v.starts_with(RESERVED)),
            ));
        }
        for n in &negative {
            selected = postings::difference(&selected, n);
        }
        selected
    }

    /// Every value of tag `name` (or of the metric name, for `None`) with its series count.
    pub fn values(&self, name: Option<&str>) -> Vec<(String, usize)> {
        let values = match name {
            None => Some(&self.metrics),
            Some(name) => self
                .names
                .find(name)
                .and_then(|n| self.tags.get(n as usize)),
        };
        values.map_or_else(Vec::new, |v| {
            v.values()
                .filter(|(s, _)| name.is_some() || !s.starts_with(RESERVED))
                .map(|(s, n)| (s.to_owned(), n))
                .collect()
        })
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        let values = |v: &Values| {
            v.text.heap_bytes()
                + v.postings.capacity() * std::mem::size_of::<Postings>()
                + v.postings.iter().map(Postings::heap_bytes).sum::<usize>()
        };
        values(&self.metrics)
            + self.names.heap_bytes()
            + self.tags.iter().map(values).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesKey;

    fn index(keys: &[&str]) -> TagIndex {
        let mut index = TagIndex::default();
        for (id, k) in (0..).zip(keys) {
            index.add(id, &SeriesKey::parse(k).unwrap().canonical());
        }
        index
    }

    fn tag(name: &str, matching: Match, negated: bool) -> Matcher {
        Matcher {
            name: name.into(),
            matching,
            negated,
        }
    }

    #[test]
    fn selects_by_metric_and_tags_like_prometheus() {
        let keys = [
            "cpu{host=a,dc=x}",
            "cpu{host=b,dc=x}",
            "cpu{host=c}",
            "mem{host=a,dc=y}",
            "disk",
        ];
        let idx = index(&keys);
        let all = || (0..keys.len() as u32).collect();
        let cpu = Match::Equal("cpu".into());
        assert_eq!(idx.select(Some(&cpu), &[], all), vec![0, 1, 2]);
        let dc_x = tag("dc", Match::Equal("x".into()), false);
        assert_eq!(idx.select(Some(&cpu), &[dc_x], all), vec![0, 1]);
        // Not equal keeps the series without the tag.
        let not_x = tag("dc", Match::Equal("x".into()), true);
        assert_eq!(idx.select(Some(&cpu), &[not_x], all), vec![2]);
        let web = tag(
            "host",
            Match::Regex(Regex::new("^(?:a|c)$").unwrap()),
            false,
        );
        assert_eq!(idx.select(None, &[web], all), vec![0, 2, 3]);
        let present = tag("dc", Match::Any, false);
        assert_eq!(idx.select(None, &[present], all), vec![0, 1, 3]);
        let absent = tag("dc", Match::Any, true);
        assert_eq!(idx.select(None, &[absent], all), vec![2, 4]);
        let one_of = Match::OneOf(vec!["mem".into(), "disk".into(), "gpu".into()]);
        assert_eq!(idx.select(Some(&one_of), &[], all), vec![3, 4]);
        let unknown = tag("zone", Match::Equal("q".into()), false);
        assert_eq!(idx.select(None, &[unknown], all), Vec::<u32>::new());
    }

    #[test]
    fn removed_series_leave_no_postings_behind() {
        let keys: Vec<String> = (0..100)
            .map(|i| format!("m{{pod=p{i},ns=n{}}}", i % 3))
            .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut idx = index(&refs);
        let canonical: Vec<String> = refs
            .iter()
            .map(|k| SeriesKey::parse(k).unwrap().canonical())
            .collect();
        let gone: Vec<(u32, &str)> = (0..90)
            .map(|i| (i, canonical[i as usize].as_str()))
            .collect();
        idx.remove(&gone);
        assert_eq!(idx.values(Some("pod")).len(), 10);
        assert_eq!(idx.values(None), vec![("m".to_owned(), 10)]);
        let ns0 = tag("ns", Match::Equal("n0".into()), false);
        assert_eq!(idx.select(None, &[ns0], Vec::new), vec![90, 93, 96, 99]);
    }
}
