//! The rule files under `temporal/configuration/` (lifecycle, compression, retention): stored
//! through the engine's storage, so their writes are atomic, durable and inside the crash model
//! like every other file. What they say is the TypeScript policy's business.

use super::{lock, Engine};
use crate::error::{Error, Result};
use crate::names;
use crate::storage::{read_if_present, write_replacing};

impl Engine {
    /// The rule files there are, by name, as stored.
    pub fn read_rules(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner.readable().map(drop)?;
        let dir = self.inner.layout.configuration();
        let storage = self.inner.storage.as_ref();
        let mut out = Vec::new();
        for name in names::RULE_FILES {
            if let Some(bytes) = read_if_present(storage, &dir.join(name))? {
                out.push((name.to_owned(), bytes));
            }
        }
        Ok(out)
    }

    /// Replaces rule files, each atomically (temporary file, fsync, rename), then makes the
    /// renames durable. Only the known rule files may be written.
    pub fn write_rules(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        self.inner.readable().map(drop)?;
        if let Some((name, _)) = files
            .iter()
            .find(|(n, _)| !names::RULE_FILES.contains(&n.as_str()))
        {
            return Err(Error::InvalidArgument(format!(
                "'{name}' is not a rule file (one of {:?})",
                names::RULE_FILES
            )));
        }
        // A backup copies the rule files under the same lock: it sees old or new ones.
        let _one_at_a_time = lock(&self.inner.manifest_lock);
        let dir = self.inner.layout.configuration();
        let storage = self.inner.storage.as_ref();
        for (name, bytes) in files {
            let path = dir.join(name);
            write_replacing(storage, &path, bytes).map_err(Error::io("write", &path))?;
        }
        storage
            .sync_dir(&dir)
            .map_err(Error::io("fsync directory", &dir))
    }
}
