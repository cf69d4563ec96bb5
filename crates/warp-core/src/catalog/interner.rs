//! Strings numbered densely from 0, kept in one text arena: a string costs its bytes, an
//! 8-byte end offset and a hash-table slot holding its number, not an allocation of its own.
//! The catalog numbers series keys with it, the tag index tag names and values.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Default)]
pub struct Interner {
    text: Vec<u8>,
    /// `ends[i]` is where string i ends in `text` (it starts where string i − 1 ends).
    ends: Vec<usize>,
    /// Strings given a number whose arena span is empty (see [`Interner::restore`]).
    replaced: std::collections::HashMap<u32, Box<str>>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Interner {
    /// String `n` ("" for a number never given out or forgotten).
    pub fn get(&self, n: u32) -> &str {
        self.arena().get(n)
    }

    fn arena(&self) -> Arena<'_> {
        Arena {
            text: &self.text,
            ends: &self.ends,
            replaced: &self.replaced,
        }
    }

    /// The arena, the table and the hasher apart, so the table can hash arena strings while it
    /// is being changed.
    fn parts(&mut self) -> (Arena<'_>, &mut HashTable<u32>, &DefaultHashBuilder) {
        let arena = Arena {
            text: &self.text,
            ends: &self.ends,
            replaced: &self.replaced,
        };
        (arena, &mut self.table, &self.hasher)
    }

    /// The number of `s`, if it has one.
    pub fn find(&self, s: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(s);
        self.table.find(hash, |&n| self.get(n) == s).copied()
    }

    /// The number of `s`, giving it the next one if it has none. `None` once 2^32 strings have
    /// been numbered.
    pub fn intern(&mut self, s: &str) -> Option<u32> {
        if let Some(n) = self.find(s) {
            return Some(n);
        }
        self.push(s)
    }

    /// Numbers `s` with the next number, without looking for it first (the caller knows it is
    /// new, or wants a placeholder for a number that was lost: pass "").
    pub fn push(&mut self, s: &str) -> Option<u32> {
        let n = u32::try_from(self.ends.len()).ok()?;
        self.text.extend_from_slice(s.as_bytes());
        self.ends.push(self.text.len());
        if !s.is_empty() {
            let (arena, table, hasher) = self.parts();
            table.insert_unique(hasher.hash_one(s), n, |&m| hasher.hash_one(arena.get(m)));
        }
        Some(n)
    }

    /// Forgets `s`: it is no longer found, and its number is never given out again. (Its bytes
    /// stay in the arena until the interner is rebuilt.)
    pub fn forget(&mut self, s: &str) {
        let (arena, table, hasher) = self.parts();
        if let Ok(entry) = table.find_entry(hasher.hash_one(s), |&n| arena.get(n) == s) {
            entry.remove();
        }
    }

    /// Makes forgotten string `n` findable again under its number; `s` gives it its text if
    /// its bytes are gone (a number held empty since a rebuild).
    pub fn restore(&mut self, n: u32, s: Option<&str>) {
        if let Some(s) = s.filter(|&s| self.get(n) != s) {
            self.replaced.insert(n, s.into());
        }
        let (arena, table, hasher) = self.parts();
        let s = arena.get(n);
        if !s.is_empty()
            && table
                .find(hasher.hash_one(s), |&m| arena.get(m) == s)
                .is_none()
        {
            table.insert_unique(hasher.hash_one(s), n, |&m| hasher.hash_one(arena.get(m)));
        }
    }

    /// Bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 8 + self.table.capacity() * 5
    }
}

/// The arena alone, so the table can hash its strings while being changed.
struct Arena<'a> {
    text: &'a [u8],
    ends: &'a [usize],
    replaced: &'a std::collections::HashMap<u32, Box<str>>,
}

impl<'a> Arena<'a> {
    fn get(&self, n: u32) -> &'a str {
        if !self.replaced.is_empty() {
            if let Some(s) = self.replaced.get(&n) {
                return s;
            }
        }
        let n = n as usize;
        let Some(&end) = self.ends.get(n) else {
            return "";
        };
        let start = n.checked_sub(1).and_then(|p| self.ends.get(p)).copied();
        let bytes = self.text.get(start.unwrap_or(0)..end).unwrap_or_default();
        // Only whole `&str`s are appended, so every span is valid UTF-8.
        std::str::from_utf8(bytes).unwrap_or_default()
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
