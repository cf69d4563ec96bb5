//! Strings numbered densely from 0, kept in one text arena: a string costs its bytes, an
//! 8-byte end offset and a hash-table slot holding its number, not an allocation of its own.
//! The catalog numbers series keys with it, the tag index tag names and values.
//!
//! The table keeps each string's hash beside its number, so growing it (a million series make
//! twenty doublings) rehashes from the table alone instead of reading every string back from
//! the arena, a cache miss each.

use std::hash::BuildHasher;
use std::mem::size_of;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Default)]
pub struct Interner {
    text: Vec<u8>,
    /// `ends[i]` is where string i ends in `text` (it starts where string i − 1 ends).
    ends: Vec<usize>,
    /// Strings given a number whose arena span is empty (see [`Interner::restore`]).
    replaced: std::collections::HashMap<u32, Box<str>>,
    table: HashTable<Slot>,
    hasher: DefaultHashBuilder,
}

/// A string's number and its 32-bit hash (see [`Interner::hash`]).
#[derive(Clone, Copy)]
struct Slot {
    n: u32,
    hash: u32,
}

impl Slot {
    /// The table's 64-bit hash, rebuilt from the 32 bits kept: the low half picks the bucket,
    /// the high half's top bits are the tag hashbrown filters with.
    fn hash(&self) -> u64 {
        u64::from(self.hash) << 32 | u64::from(self.hash)
    }
}

impl Interner {
    /// An interner with room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(strings: usize, bytes: usize) -> Interner {
        Interner {
            text: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(strings),
            table: HashTable::with_capacity(strings),
            ..Interner::default()
        }
    }

    /// String `n` ("" for a number never given out or forgotten).
    pub fn get(&self, n: u32) -> &str {
        // Only whole `&str`s are stored, so every span is valid UTF-8.
        std::str::from_utf8(self.arena().bytes(n)).unwrap_or_default()
    }

    fn arena(&self) -> Arena<'_> {
        Arena {
            text: &self.text,
            ends: &self.ends,
            replaced: &self.replaced,
        }
    }

    /// The 32 bits of hash a slot keeps for `bytes`.
    #[allow(clippy::cast_possible_truncation)] // folds the hash's halves into one
    fn hash(&self, bytes: &[u8]) -> u32 {
        let h = self.hasher.hash_one(bytes);
        (h ^ (h >> 32)) as u32
    }

    /// The number of `s`, if it has one.
    pub fn find(&self, s: &str) -> Option<u32> {
        let s = s.as_bytes();
        let arena = self.arena();
        let hash = self.hash(s);
        let slot = Slot { n: 0, hash };
        self.table
            .find(slot.hash(), |m| m.hash == hash && arena.bytes(m.n) == s)
            .map(|m| m.n)
    }

    /// The number of `s`, giving it the next one if it has none (one probe of the table
    /// either way). `None` once 2^32 strings have been numbered.
    pub fn intern(&mut self, s: &str) -> Option<u32> {
        let n = u32::try_from(self.ends.len()).ok()?;
        let bytes = s.as_bytes();
        let hash = self.hash(bytes);
        let arena = Arena {
            text: &self.text,
            ends: &self.ends,
            replaced: &self.replaced,
        };
        let new = Slot { n, hash };
        match self.table.entry(
            new.hash(),
            |m| m.hash == hash && arena.bytes(m.n) == bytes,
            Slot::hash,
        ) {
            Entry::Occupied(found) => Some(found.get().n),
            Entry::Vacant(slot) => {
                slot.insert(new);
                self.text.extend_from_slice(bytes);
                self.ends.push(self.text.len());
                Some(n)
            }
        }
    }

    /// Numbers `s` with the next number, without looking for it first (the caller knows it is
    /// new, or wants a placeholder for a number that was lost: pass "").
    pub fn push(&mut self, s: &str) -> Option<u32> {
        let n = u32::try_from(self.ends.len()).ok()?;
        self.text.extend_from_slice(s.as_bytes());
        self.ends.push(self.text.len());
        if !s.is_empty() {
            self.index(n);
        }
        Some(n)
    }

    /// Enters string `n`, already in the arena, into the table.
    fn index(&mut self, n: u32) {
        let hash = self.hash(self.arena().bytes(n));
        let slot = Slot { n, hash };
        self.table.insert_unique(slot.hash(), slot, Slot::hash);
    }

    /// Forgets `s`: it is no longer found, and its number is never given out again. (Its bytes
    /// stay in the arena until the interner is rebuilt.)
    pub fn forget(&mut self, s: &str) {
        let s = s.as_bytes();
        let hash = self.hash(s);
        let arena = Arena {
            text: &self.text,
            ends: &self.ends,
            replaced: &self.replaced,
        };
        let slot = Slot { n: 0, hash };
        if let Ok(entry) = self
            .table
            .find_entry(slot.hash(), |m| m.hash == hash && arena.bytes(m.n) == s)
        {
            entry.remove();
        }
    }

    /// Makes forgotten string `n` findable again under its number; `s` gives it its text if
    /// its bytes are gone (a number held empty since a rebuild).
    pub fn restore(&mut self, n: u32, s: Option<&str>) {
        if let Some(s) = s.filter(|&s| self.get(n) != s) {
            self.replaced.insert(n, s.into());
        }
        let text = self.get(n).to_owned();
        if !text.is_empty() && self.find(&text).is_none() {
            self.index(n);
        }
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * 8
            + self.table.capacity() * (size_of::<Slot>() + 1)
    }
}

/// The arena alone, so the table can hash its strings while being changed.
struct Arena<'a> {
    text: &'a [u8],
    ends: &'a [usize],
    replaced: &'a std::collections::HashMap<u32, Box<str>>,
}

impl<'a> Arena<'a> {
    /// The bytes of string `n` (hashed and compared as bytes: no UTF-8 check per probe).
    fn bytes(&self, n: u32) -> &'a [u8] {
        if !self.replaced.is_empty() {
            if let Some(s) = self.replaced.get(&n) {
                return s.as_bytes();
            }
        }
        let n = n as usize;
        let Some(&end) = self.ends.get(n) else {
            return &[];
        };
        let start = n.checked_sub(1).and_then(|p| self.ends.get(p)).copied();
        self.text.get(start.unwrap_or(0)..end).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_strings_densely_and_finds_them_again() {
        let mut names = Interner::default();
        assert_eq!(names.intern("cpu"), Some(0));
        assert_eq!(names.intern("mem"), Some(1));
        assert_eq!(names.intern("cpu"), Some(0));
        assert_eq!(names.get(1), "mem");
        assert_eq!(names.find("disk"), None);
        for i in 0..10_000 {
            names.intern(&format!("s{i}"));
        }
        assert_eq!(names.find("s9999"), Some(10_001));
        assert_eq!(names.get(10_001), "s9999");
        names.forget("mem");
        assert_eq!(names.find("mem"), None);
        assert_eq!(names.get(1), "mem", "its bytes stay until a rebuild");
        names.restore(1, None);
        assert_eq!(names.find("mem"), Some(1));
        names.forget("mem");
        let gap = names.push("").unwrap();
        names.restore(gap, Some("back"));
        assert_eq!((names.find("back"), names.get(gap)), (Some(gap), "back"));
        assert_eq!(
            names.intern("mem"),
            Some(10_003),
            "a forgotten number is never reused"
        );
        assert_eq!(names.push(""), Some(10_004));
        assert_eq!(names.find(""), None);
    }
}
