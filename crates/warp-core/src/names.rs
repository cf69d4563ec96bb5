//! Every file and directory name of a database, in one place: what each holds, and how the
//! numbered ones are made and read back (see `docs/format.md` for the layout).

use crate::partition::Tier;
use crate::time::civil;

/// The lock file in the database directory.
pub const LOCK: &str = "LOCK";
/// WAL segments.
pub const WAL: &str = "wal";
/// Everything else: the manifest, the live tier's files, the partition tiers, the rules.
pub const TEMPORAL: &str = "temporal";
/// Under `temporal/`: the live tier's files (checkpoints; the series catalog under indices;
/// streams is reserved).
pub const LIVE: &str = "live";
pub const CHECKPOINTS: &str = "checkpoints";
pub const STREAMS: &str = "streams";
pub const LIVE_INDICES: &str = "indices";
/// Under `temporal/`: reserved for rollups of recent data.
pub const AGGREGATIONS: &str = "recent/aggregations";
/// The link store, beside the catalog's files.
pub const LINKS: &str = "links.json";
/// The rollups' definitions, under `AGGREGATIONS`.
pub const ROLLUPS: &str = "rollups.json";
/// Under `temporal/`: the rule files.
pub const CONFIGURATION: &str = "configuration";
/// The manifest under `temporal/`, and each tier's listing in its directory.
pub const MANIFEST: &str = "manifest.json";
/// The rule files under `temporal/configuration/`.
pub const RULE_FILES: [&str; 3] = [
    "lifecycle_rules.json",
    "compression_rules.json",
    "retention_policies.json",
];
/// A partition's files: its blocks, the index of its blocks, and a summary for people (which
/// says, among the rest, whether the blocks are LZ4-compressed).
pub const BLOCKS: &str = "blocks";
pub const INDEX: &str = "index";
pub const SUMMARY: &str = "summary.json";

const TEMPORARY: &str = ".tmp";

/// The name a file is written under before it is renamed into place.
pub fn temporary(name: &str) -> String {
    format!("{name}{TEMPORARY}")
}

pub fn is_temporary(name: &str) -> bool {
    name.ends_with(TEMPORARY)
}

/// WAL segment `index`: 20 decimal digits, so names sort in index order.
pub fn segment(index: u64) -> String {
    format!("{index:020}.wal")
}

/// The index a segment name stands for, if it is one.
pub fn parse_segment(name: &str) -> Option<u64> {
    parse_numbered(name, ".wal")
}

/// A segment being created: removed on open.
pub fn is_temporary_segment(name: &str) -> bool {
    name.strip_suffix(TEMPORARY)
        .and_then(parse_segment)
        .is_some()
}

/// The checkpoint covering the WAL segments before `next_segment`.
pub fn checkpoint(next_segment: u64) -> String {
    format!("{next_segment:020}.ckpt")
}

pub fn parse_checkpoint(name: &str) -> Option<u64> {
    parse_numbered(name, ".ckpt")
}

/// The catalog file written by the commit of manifest generation `generation`.
pub fn catalog(generation: u64) -> String {
    format!("{generation:020}.catalog")
}

pub fn parse_catalog(name: &str) -> Option<u64> {
    parse_numbered(name, ".catalog")
}

fn parse_numbered(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The directory of a tier, relative to `temporal/`.
pub fn tier_dir(tier: Tier) -> &'static str {
    match tier {
        Tier::Hourly => "recent/hourly",
        Tier::Daily => "historical/daily",
        Tier::Monthly => "historical/monthly",
        Tier::Yearly => "historical/yearly",
    }
}

/// The name of the `tier` window starting at `start`: `YYYY-MM-DD-HH`, `YYYY-MM-DD`,
/// `YYYY-MM` or `YYYY`.
pub fn window(tier: Tier, start: i64) -> String {
    let (y, m, d, h) = civil(start);
    match tier {
        Tier::Hourly => format!("{y:04}-{m:02}-{d:02}-{h:02}"),
        Tier::Daily => format!("{y:04}-{m:02}-{d:02}"),
        Tier::Monthly => format!("{y:04}-{m:02}"),
        Tier::Yearly => format!("{y:04}"),
    }
}

/// The directory (relative to `temporal/`) of the `n`-th partition of a window: the first
/// has the window's name, later ones (overlays) a `.n` suffix.
pub fn partition_dir(tier: Tier, start: i64, n: u32) -> String {
    let base = format!("{}/{}", tier_dir(tier), window(tier, start));
    if n <= 1 {
        base
    } else {
        format!("{base}.{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_round_trip() {
        assert_eq!(parse_segment(&segment(42)), Some(42));
        assert_eq!(parse_checkpoint(&checkpoint(7)), Some(7));
        assert_eq!(parse_segment("42.wal"), None);
        assert_eq!(parse_segment("0000000000000000004x.wal"), None);
        assert_eq!(parse_segment(&checkpoint(7)), None);
        assert!(is_temporary_segment(&temporary(&segment(3))));
        assert!(!is_temporary_segment(&segment(3)));
    }

    #[test]
    fn partition_directories_name_their_window() {
        let ts = 1_737_381_600_000; // 2025-01-20T14:00:00Z
        assert_eq!(
            partition_dir(Tier::Hourly, ts, 1),
            "recent/hourly/2025-01-20-14"
        );
        assert_eq!(
            partition_dir(Tier::Daily, ts, 2),
            "historical/daily/2025-01-20.2"
        );
        assert_eq!(partition_dir(Tier::Yearly, ts, 1), "historical/yearly/2025");
    }
}
