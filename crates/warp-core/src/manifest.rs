//! The manifest: the one file that names the live set of files — the checkpoint of the live
//! tier and every partition of every tier — under one generation number.
//!
//! `temporal/manifest.json` is replaced atomically (temporary file, fsync, rename, directory
//! fsync); that rename is the commit point of every checkpoint, seal, compaction and retention
//! pass. A CRC over the serialized manifest catches bit rot that would still parse as JSON.
//! Each tier directory also gets a `manifest.json` listing that tier's partitions: a derived
//! view for people and tools, rewritten after each commit and never read by the engine.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::partition::{PartitionMeta, Tier};
use crate::storage::Storage;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub generation: u64,
    /// File name of the live tier's checkpoint in `temporal/live/checkpoints/`.
    pub checkpoint: Option<String>,
    pub next_partition_id: u64,
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    crc32c: u32,
    manifest: Manifest,
}

pub fn path(temporal: &Path) -> PathBuf {
    temporal.join("manifest.json")
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
    Ok(Some(envelope.manifest))
}

/// Commits `manifest` atomically, then refreshes the per-tier listings.
pub fn store(storage: &dyn Storage, temporal: &Path, manifest: &Manifest) -> Result<()> {
    let manifest = Manifest {
        version: VERSION,
        ..manifest.clone()
    };
    let envelope = Envelope {
        crc32c: crc(&manifest)?,
        manifest,
    };
    let bytes = serde_json::to_vec_pretty(&envelope).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomically(storage, &path(temporal), &bytes)?;
    for tier in Tier::ALL {
        let listing = serde_json::json!({
            "generation": envelope.manifest.generation,
            "note": "derived from temporal/manifest.json, which is authoritative",
            "partitions": envelope.manifest.partitions.iter().filter(|p| p.tier == tier).collect::<Vec<_>>(),
        });
        let bytes =
            serde_json::to_vec_pretty(&listing).map_err(|e| Error::Internal(e.to_string()))?;
        write_atomically(
            storage,
            &temporal.join(tier.dir()).join("manifest.json"),
            &bytes,
        )?;
    }
    Ok(())
}

/// Temporary file, fsync, rename over the target, directory fsync.
pub fn write_atomically(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = storage.create(&tmp).map_err(Error::io("create", &tmp))?;
    file.write_all(bytes).map_err(Error::io("write", &tmp))?;
    file.sync().map_err(Error::io("fsync", &tmp))?;
    drop(file);
    storage
        .rename(&tmp, path)
        .map_err(Error::io("rename", &tmp))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    storage
        .sync_dir(dir)
        .map_err(Error::io("fsync directory", dir))
}
