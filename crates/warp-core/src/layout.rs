//! Where things live inside a database directory: the paths built from `names`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::names;
use crate::partition::Tier;
use crate::storage::{create_dir_durably, Storage};

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join(names::LOCK)
    }

    pub fn wal(&self) -> PathBuf {
        self.root.join(names::WAL)
    }

    pub fn temporal(&self) -> PathBuf {
        self.root.join(names::TEMPORAL)
    }

    pub fn live(&self) -> PathBuf {
        self.temporal().join(names::LIVE)
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.live().join(names::CHECKPOINTS)
    }

    /// The series catalog's files.
    pub fn indices(&self) -> PathBuf {
        self.live().join(names::LIVE_INDICES)
    }

    /// The rollups' definitions.
    pub fn aggregations(&self) -> PathBuf {
        self.temporal().join(names::AGGREGATIONS)
    }

    pub fn configuration(&self) -> PathBuf {
        self.temporal().join(names::CONFIGURATION)
    }

    /// Every directory a database has, created on open if missing.
    pub fn directories(&self) -> Vec<PathBuf> {
        let mut dirs = vec![
            self.wal(),
            self.live().join(names::STREAMS),
            self.indices(),
            self.checkpoints(),
            self.configuration(),
            self.aggregations(),
        ];
        dirs.extend(Tier::ALL.map(|t| self.temporal().join(names::tier_dir(t))));
        dirs
    }

    /// Makes sure `root` is a directory, creating it (durably) if absent.
    pub fn prepare_root(&self, storage: &dyn Storage) -> Result<()> {
        match storage
            .is_dir(&self.root)
            .map_err(Error::io("inspect", &self.root))?
        {
            Some(true) => Ok(()),
            Some(false) => Err(Error::NotADirectory(self.root.clone())),
            None => create_dir_durably(storage, &self.root)
                .map_err(Error::io("create directory", &self.root)),
        }
    }

    /// Creates every missing directory of the layout, each made durable in its parent.
    pub fn create_directories(&self, storage: &dyn Storage) -> Result<()> {
        for dir in self.directories() {
            create_dir_durably(storage, &dir).map_err(Error::io("create directory", &dir))?;
        }
        Ok(())
    }
}
