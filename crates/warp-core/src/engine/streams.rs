//! The stream layer's own series: its arrival log and its operators' result logs. They are
//! ordinary series under the reserved prefix (so the WAL, checkpoints, tiers and retention
//! carry them), hidden from listings, and named only through here.

use super::Engine;
use crate::error::{Error, Result};
use crate::series::{SeriesId, SeriesKind, RESERVED};

/// Longest name a stream series may have after the prefix.
const MAX_NAME_BYTES: usize = 512;

impl Engine {
    /// The id of the stream series `__stream:<name>`, created as `kind` if new. `name` is made
    /// of ASCII letters, digits, `_`, `.`, `:` and `-`.
    pub fn stream_series(&self, name: &str, kind: SeriesKind) -> Result<SeriesId> {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !valid {
            return Err(Error::InvalidArgument(format!(
                "stream series name {name:?} must be 1 to {MAX_NAME_BYTES} ASCII letters, \
                 digits, '_', '.', ':' or '-'"
            )));
        }
        self.inner
            .ensure_canonical(&format!("{RESERVED}stream:{name}"), kind)
    }
}
