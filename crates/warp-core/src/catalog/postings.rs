//! Postings lists: sorted series ids, and the set operations selections are made of. A list
//! of one id (a tag value unique to one series, the common case at high cardinality) is held
//! inline, without an allocation.

use crate::series::SeriesId;

#[derive(Debug, Clone)]
pub enum Postings {
    One(SeriesId),
    Many(Vec<SeriesId>),
}

impl Postings {
    pub fn one(id: SeriesId) -> Self {
        Postings::One(id)
    }

    pub fn as_slice(&self) -> &[SeriesId] {
        match self {
            Postings::One(id) => std::slice::from_ref(id),
            Postings::Many(ids) => ids,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Adds `id`, keeping the list sorted (ids usually arrive in increasing order: a push).
    pub fn insert(&mut self, id: SeriesId) {
        let ids = match self {
            Postings::One(first) => {
                *self = Postings::Many(vec![*first]);
                match self {
                    Postings::Many(ids) => ids,
                    Postings::One(_) => return,
                }
            }
            Postings::Many(ids) => ids,
        };
        match ids.last() {
            Some(&last) if last >= id => {
                if let Err(at) = ids.binary_search(&id) {
                    ids.insert(at, id);
                }
            }
            _ => ids.push(id),
        }
    }

    /// Removes every id of `gone` (sorted).
    pub fn remove(&mut self, gone: &[SeriesId]) {
        match self {
            Postings::One(id) if gone.binary_search(id).is_ok() => {
                *self = Postings::Many(Vec::new())
            }
            Postings::One(_) => {}
            Postings::Many(ids) => {
                *ids = difference(ids, gone);
                if let [only] = ids[..] {
                    *self = Postings::One(only);
                }
            }
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Postings::One(_) => 0,
            Postings::Many(ids) => ids.capacity() * 4,
        }
    }
}

/// The ids in both sorted lists. Galloping through the longer one when the lengths differ a
/// lot, so a rare tag narrows a common one at the cost of the rare one.
pub fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 32 < large.len() {
        let mut rest = large;
        for &id in small {
            match rest.binary_search(&id) {
                Ok(at) => {
                    out.push(id);
                    rest = &rest[at + 1..];
                }
                Err(at) => rest = &rest[at..],
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (small.get(i), large.get(j)) {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(x);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The ids of `a` that are not in `b` (both sorted).
pub fn difference(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while b.get(j).is_some_and(|&y| y < x) {
            j += 1;
        }
        if b.get(j) != Some(&x) {
            out.push(x);
        }
    }
    out
}

/// The ids in any of the lists, sorted and unique.
pub fn union<'a>(lists: impl IntoIterator<Item = &'a [SeriesId]>) -> Vec<SeriesId> {
    let mut out: Vec<SeriesId> = Vec::new();
    let mut sorted = true;
    for list in lists {
        sorted &= out
            .last()
            .is_none_or(|&last| list.first().is_none_or(|&f| f > last));
        out.extend_from_slice(list);
    }
    if !sorted {
        out.sort_unstable();
        out.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_agree_with_a_reference() {
        let a: Vec<u32> = (0..1000).filter(|x| x % 3 == 0).collect();
        let b: Vec<u32> = (0..1000).filter(|x| x % 5 == 0).collect();
        let rare = vec![15, 16, 900, 2000];
        let both: Vec<u32> = (0..1000).filter(|x| x % 15 == 0).collect();
        assert_eq!(intersect(&a, &b), both);
        assert_eq!(intersect(&rare, &a), vec![15, 900]);
        assert_eq!(intersect(&a, &rare), vec![15, 900]);
        let only_a: Vec<u32> = a.iter().copied().filter(|x| x % 5 != 0).collect();
        assert_eq!(difference(&a, &b), only_a);
        let either: Vec<u32> = (0..1000).filter(|x| x % 3 == 0 || x % 5 == 0).collect();
        assert_eq!(union([a.as_slice(), b.as_slice()]), either);
        assert_eq!(union([&[1u32, 2][..], &[3, 4][..]]), vec![1, 2, 3, 4]);
    }

    #[test]
    fn postings_stay_sorted_and_shrink_back_to_one() {
        let mut p = Postings::one(5);
        for id in [9, 7, 5, 12] {
            p.insert(id);
        }
        assert_eq!(p.as_slice(), &[5, 7, 9, 12]);
        p.remove(&[5, 9, 12]);
        assert!(matches!(p, Postings::One(7)));
        p.remove(&[7]);
        assert!(p.is_empty());
    }
}
