//! Related series (the plan's "quantum entanglement"): an undirected link between two series
//! with a kind, declared by a caller or discovered (the stream layer's rolling correlation,
//! with its score), kept by series key in `temporal/live/indices/links.json` and followed by
//! queries that ask for linked series.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The most links a database keeps (the file is rewritten whole on each change).
pub const MAX_LINKS: usize = 100_000;
const VERSION: u32 = 1;

/// Who made a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Declared,
    Discovered,
}

/// One link; `a < b` (canonical keys), so a pair has one spelling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub a: String,
    pub b: String,
    pub kind: String,
    pub origin: Origin,
    /// For discovered links: the correlation that made them.
    #[serde(default)]
    pub score: Option<f64>,
    /// When it was made or last confirmed, ms since the epoch.
    pub since: i64,
}

#[derive(Debug, Default, Clone)]
pub struct Links {
    all: Vec<Link>,
    /// Positions in `all` by series key.
    by_key: HashMap<String, Vec<usize>>,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    links: Vec<Link>,
}

/// Checks a kind: 1–64 characters, none a control character.
pub fn check_kind(kind: &str) -> Result<(), String> {
    if kind.is_empty() || kind.chars().count() > 64 || kind.chars().any(char::is_control) {
        return Err(format!(
            "a link kind is 1–64 characters without control characters, not {kind:?}"
        ));
    }
    Ok(())
}

impl Links {
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Adds or replaces the link of this pair and kind; whether it is new. `a != b`.
    pub fn put(&mut self, mut link: Link) -> Result<bool, String> {
        if link.a > link.b {
            std::mem::swap(&mut link.a, &mut link.b);
        }
        if let Some(&i) = self.find(&link.a, &link.b, &link.kind).first() {
            self.all[i] = link;
            return Ok(false);
        }
        if self.all.len() >= MAX_LINKS {
            return Err(format!("a database keeps at most {MAX_LINKS} links"));
        }
        self.all.push(link);
        self.reindex();
        Ok(true)
    }

    /// Removes the links of a pair (of one kind, or all); how many.
    pub fn remove(&mut self, a: &str, b: &str, kind: Option<&str>) -> usize {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let before = self.all.len();
        self.all
            .retain(|l| !(l.a == a && l.b == b && kind.is_none_or(|k| l.kind == k)));
        let removed = before - self.all.len();
        if removed > 0 {
            self.reindex();
        }
        removed
    }

    /// The links of series `key`.
    pub fn of(&self, key: &str) -> Vec<&Link> {
        self.by_key
            .get(key)
            .map(|at| at.iter().map(|&i| &self.all[i]).collect())
            .unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.all.iter()
    }

    fn find(&self, a: &str, b: &str, kind: &str) -> Vec<usize> {
        self.by_key
            .get(a)
            .map(|at| {
                at.iter()
                    .copied()
                    .filter(|&i| {
                        self.all[i].b == b && self.all[i].a == a && self.all[i].kind == kind
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn reindex(&mut self) {
        self.by_key.clear();
        for (i, l) in self.all.iter().enumerate() {
            self.by_key.entry(l.a.clone()).or_default().push(i);
            self.by_key.entry(l.b.clone()).or_default().push(i);
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let file = File {
            version: VERSION,
            links: self.all.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The links a file holds; the reason if it is damaged.
    pub fn decode(bytes: &[u8]) -> Result<Links, String> {
        let file: File = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != VERSION {
            return Err(format!("unsupported version {}", file.version));
        }
        if file.links.len() > MAX_LINKS {
            return Err(format!("{} links (at most {MAX_LINKS})", file.links.len()));
        }
        let mut links = Links::default();
        for link in file.links {
            check_kind(&link.kind)?;
            for key in [&link.a, &link.b] {
                if crate::series::canonical_of(key).ok().as_ref() != Some(key) {
                    return Err(format!("{key:?} is not a canonical series key"));
                }
            }
            if link.a >= link.b {
                return Err(format!("a link of {} and {} out of order", link.a, link.b));
            }
            if link.score.is_some_and(|s| !s.is_finite()) {
                return Err(format!("a link score of {:?}", link.score));
            }
            if !links.put(link)? {
                return Err("a link given twice".into());
            }
        }
        Ok(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(a: &str, b: &str, kind: &str) -> Link {
        Link {
            a: a.into(),
            b: b.into(),
            kind: kind.into(),
            origin: Origin::Declared,
            score: None,
            since: 0,
        }
    }

    #[test]
    fn a_pair_has_one_link_per_kind_whichever_way_it_is_named() {
        let mut links = Links::default();
        assert!(links.put(link("b", "a", "power")).unwrap());
        assert!(!links.put(link("a", "b", "power")).unwrap());
        assert!(links.put(link("a", "b", "cooling")).unwrap());
        assert!(links.put(link("c", "a", "power")).unwrap());
        assert_eq!(links.of("a").len(), 3);
        assert_eq!(links.of("b").len(), 2);
        assert_eq!(links.remove("b", "a", Some("power")), 1);
        assert_eq!(links.remove("a", "b", None), 1);
        assert_eq!(links.of("b").len(), 0);
        let again = Links::decode(&links.encode()).unwrap();
        assert_eq!(
            again.iter().collect::<Vec<_>>(),
            links.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn damaged_files_are_refused() {
        let mut links = Links::default();
        links.put(link("a", "b", "x")).unwrap();
        let good = links.encode();
        for cut in 0..good.len() {
            let _ = Links::decode(&good[..cut]);
        }
        assert!(Links::decode(br#"{"version":1,"links":[{"a":"a","b":"a","kind":"x","origin":"declared","since":0}]}"#).is_err());
        assert!(Links::decode(
            br#"{"version":1,"links":[{"a":"a","b":"b","kind":"","origin":"declared","since":0}]}"#
        )
        .is_err());
        assert!(Links::decode(br#"{"version":9,"links":[]}"#).is_err());
        for bad in [
            r#"{"version":1,"links":[{"a":"a{","b":"b","kind":"x","origin":"declared","since":0}]}"#,
            r#"{"version":1,"links":[{"a":"b","b":"a","kind":"x","origin":"declared","since":0}]}"#,
            r#"{"version":1,"links":[{"a":"a","b":"b","kind":"x","origin":"declared","since":0},{"a":"a","b":"b","kind":"x","origin":"declared","since":0}]}"#,
        ] {
            assert!(Links::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
