//! The manifest: the one file that names the live set of files — the series catalog, the
//! checkpoint of the live tier and every partition of every tier — under one generation number.
//!
//! `temporal/manifest.json` is replaced atomically (temporary file, fsync, rename); that rename
//! is the commit point of every checkpoint and lifecycle pass, and the committer then fsyncs
//! the directory. A CRC over the serialized manifest catches bit rot that would still parse as
//! JSON. Each tier directory also gets a `manifest.json` listing that tier's partitions: a
//! derived view for people and tools, refreshed after each commit (best effort, never fsynced)
//! and never read by the engine.
// A decoder: no indexing that could panic on damaged input (tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names;
use crate::partition::{PartitionMeta, Tier};
use crate::storage::{write_replacing, Storage};
use crate::time::MIN_TIMESTAMP;

const VERSION: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub generation: u64,
    /// File name of the live tier's checkpoint in `temporal/live/checkpoints/`.
    pub checkpoint: Option<String>,
    /// The series catalog's files in `temporal/live/indices/`, in the order they are read.
    pub catalog: Vec<String>,
    pub next_partition_id: u64,
    /// Retention: points older than this are gone, wherever they are still stored (for series
    /// no rule names).
    pub horizon: i64,
    /// Retention per metric pattern, first match wins (see `retention`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<crate::retention::Rule>,
    pub partitions: Vec<PartitionMeta>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: VERSION,
            generation: 0,
            checkpoint: None,
            catalog: Vec::new(),
            next_partition_id: 0,
            horizon: MIN_TIMESTAMP,
            retention: Vec::new(),
            partitions: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    crc32c: u32,
    manifest: Manifest,
}

pub fn path(temporal: &Path) -> PathBuf {
    temporal.join(names::MANIFEST)
}

fn crc(manifest: &Manifest) -> Result<u32> {
    let bytes = serde_json::to_vec(manifest).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(crc32c::crc32c(&bytes))
}

/// The manifest, or `None` for a database that never committed one.
pub fn load(storage: &dyn Storage, temporal: &Path) -> Result<Option<Manifest>> {
    let path = path(temporal);
    if storage
        .is_dir(&path)
        .map_err(Error::io("inspect", &path))?
        .is_none()
    {
        return Ok(None);
    }
    let bytes = storage.read(&path).map_err(Error::io("read", &path))?;
    let corrupt = |reason: String| Error::CorruptManifest {
        path: path.clone(),
        reason,
    };
    let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if crc(&envelope.manifest)? != envelope.crc32c {
        return Err(corrupt("checksum mismatch".into()));
    }
    if envelope.manifest.version != VERSION {
        return Err(corrupt(format!(
            "unsupported version {}",
            envelope.manifest.version
        )));
    }
    crate::retention::check(&envelope.manifest.retention).map_err(corrupt)?;
    Ok(Some(envelope.manifest))
}

fn to_json(manifest: &Manifest) -> Result<Vec<u8>> {
    let manifest = Manifest {
        version: VERSION,
        ..manifest.clone()
    };
    let envelope = Envelope {
        crc32c: crc(&manifest)?,
        manifest,
    };
    serde_json::to_vec_pretty(&envelope).map_err(|e| Error::Internal(e.to_string()))
}

/// Writes `manifest` to a temporary file, fsyncs it and renames it over the current one: the
/// commit point. The caller fsyncs `temporal/` to make the rename durable.
pub fn store(storage: &dyn Storage, temporal: &Path, manifest: &Manifest) -> Result<()> {
    let path = path(temporal);
    write_replacing(storage, &path, &to_json(manifest)?).map_err(Error::io("write", &path))
}

/// Refreshes the per-tier listings, a view for people: best effort, not fsynced. Returns how
/// many could not be written.
pub fn write_listings(storage: &dyn Storage, temporal: &Path, manifest: &Manifest) -> u64 {
    let mut failures = 0;
    for tier in Tier::ALL {
        let listing = serde_json::json!({
            "generation": manifest.generation,
            "note": "derived from temporal/manifest.json, which is authoritative",
            "partitions": manifest.partitions.iter().filter(|p| p.tier == tier).collect::<Vec<_>>(),
        });
        let Ok(bytes) = serde_json::to_vec_pretty(&listing) else {
            failures += 1;
            continue;
        };
        let path = temporal.join(names::tier_dir(tier)).join(names::MANIFEST);
        let tmp = path.with_file_name(names::temporary(names::MANIFEST));
        let written = storage
            .create(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| storage.rename(&tmp, &path));
        if written.is_err() {
            failures += 1;
            let _ = storage.remove(&tmp);
        }
    }
    failures
}
