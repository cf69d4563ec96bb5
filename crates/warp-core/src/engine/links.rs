//! The link store in the engine: links made and removed by series key (both must exist),
//! written through to their file under the manifest lock, and followed by queries.

use super::{lock, Engine, Inner};
use crate::error::{Error, Result};
use crate::links::{check_kind, Link, Links, Origin};
use crate::names;
use crate::series::{canonical_of, SeriesId};
use crate::storage::{read_if_present, replace_durably};

impl Engine {
    /// Links two existing series (any text form of their keys) with a kind; a discovered
    /// link carries the score that made it. Whether the link is new (else it was refreshed).
    pub fn link(
        &self,
        a: &str,
        b: &str,
        kind: &str,
        origin: Origin,
        score: Option<f64>,
    ) -> Result<bool> {
        check_kind(kind).map_err(Error::InvalidArgument)?;
        if score.is_some_and(|s| !s.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "a link's score must be finite, not {score:?}"
            )));
        }
        let (a, b) = (self.inner.existing_key(a)?, self.inner.existing_key(b)?);
        if a == b {
            return Err(Error::InvalidArgument(format!(
                "{a} cannot be linked to itself"
            )));
        }
        let link = Link {
            a,
            b,
            kind: kind.to_owned(),
            origin,
            score,
            since: super::read::now_ms(),
        };
        self.inner
            .change_links(|links| links.put(link).map_err(Error::InvalidArgument))
    }

    /// Removes the links between two series (of one kind, or every kind); how many.
    pub fn unlink(&self, a: &str, b: &str, kind: Option<&str>) -> Result<usize> {
        let (a, b) = (canonical_of(a)?, canonical_of(b)?);
        self.inner
            .change_links(|links| Ok(links.remove(&a, &b, kind)))
    }

    /// The links of one series (any text form of its key), or every link.
    pub fn links(&self, series: Option<&str>) -> Result<Vec<Link>> {
        self.inner.readable().map(drop)?;
        let key = series.map(canonical_of).transpose()?;
        let links = lock(&self.inner.links);
        Ok(match &key {
            Some(key) => links.of(key).into_iter().cloned().collect(),
            None => links.iter().cloned().collect(),
        })
    }
}

impl Inner {
    /// The canonical key of an existing series; `INVALID_ARGUMENT` if there is none.
    fn existing_key(&self, text: &str) -> Result<String> {
        let key = canonical_of(text)?;
        if self.catalog().id(&key).is_none() {
            return Err(Error::InvalidArgument(format!("no series {key}")));
        }
        Ok(key)
    }

    /// Loads the links at open (none if the file is missing).
    pub(super) fn load_links(&self) -> Result<()> {
        let path = self.layout.indices().join(names::LINKS);
        let Some(bytes) = read_if_present(self.storage.as_ref(), &path)? else {
            return Ok(());
        };
        match Links::decode(&bytes) {
            Ok(links) => *lock(&self.links) = links,
            Err(reason) => self.set_aside(&path, reason)?,
        }
        Ok(())
    }

    /// Applies `change` to a copy of the links, writes it (atomically, durably), then makes it
    /// current: a failed write changes nothing.
    fn change_links<T>(&self, change: impl FnOnce(&mut Links) -> Result<T>) -> Result<T> {
        let _one_at_a_time = lock(&self.manifest_lock);
        self.writable().map(drop)?;
        let mut links = lock(&self.links).clone();
        let out = change(&mut links)?;
        let path = self.layout.indices().join(names::LINKS);
        replace_durably(self.storage.as_ref(), &path, &links.encode())?;
        *lock(&self.links) = links;
        Ok(out)
    }

    /// The live series linked to any of `ids`, not among them, sorted.
    pub(super) fn linked_ids(&self, ids: &[SeriesId]) -> Vec<SeriesId> {
        let links = lock(&self.links);
        if links.len() == 0 {
            return Vec::new();
        }
        let catalog = self.catalog();
        let mut out: Vec<SeriesId> = ids
            .iter()
            .filter_map(|&id| catalog.key(id))
            .flat_map(|key| {
                links
                    .of(key)
                    .into_iter()
                    .map(move |l| if l.a == key { &l.b } else { &l.a })
            })
            .filter_map(|other| catalog.id(other))
            .filter(|id| ids.binary_search(id).is_err())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
