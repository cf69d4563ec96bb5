//! Repair of a partition with damaged blocks: every block is decoded and checked (a repair
//! reads everything), and the blocks that pass are written to a replacement partition of the
//! same window and priority. Only the damaged blocks' points are lost.

use super::{Built, Partition, PartitionWriter};
use crate::codec::BlockPoints;
use crate::error::Result;
use crate::series::SeriesId;

/// What checking a partition found.
pub enum Salvage {
    /// Every block decodes.
    Intact,
    /// Some blocks are damaged: the rest, rebuilt (empty if nothing was readable).
    Rebuilt {
        built: Built,
        lost_blocks: usize,
        lost_points: u64,
        first_error: String,
    },
}

/// Checks every block of `p`; if any is damaged, rebuilds the rest under `dir` (same id, so
/// the same priority among partitions).
pub fn salvage(p: &Partition, dir: String) -> Result<Salvage> {
    let (blocks, unreadable) = p.readable_blocks();
    let mut decoded = Vec::with_capacity(blocks.len());
    let (mut lost_blocks, mut lost_points, mut first_error) = (0, 0, None);
    for (entries, reason) in unreadable {
        lost_blocks += entries as usize;
        first_error.get_or_insert(reason);
    }
    for r in &blocks {
        match p.decode(r) {
            Ok(points) => decoded.push((r.series, points)),
            Err(e) => {
                lost_blocks += 1;
                lost_points += u64::from(r.count());
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let Some(first_error) = first_error else {
        return Ok(Salvage::Intact);
    };
    // Index groups that could not be read took their blocks' counts with them: what the
    // manifest counts beyond the indexed blocks is lost too.
    let indexed: u64 = blocks.iter().map(|r| u64::from(r.count())).sum();
    lost_points += p.meta.points.saturating_sub(indexed);
    let meta = &p.meta;
    let mut writer =
        PartitionWriter::new(meta.id, meta.tier, dir, (meta.start, meta.end), meta.lz4);
    // Blocks come by series, then time, without overlap: a series' good blocks concatenate.
    let mut i = 0;
    while i < decoded.len() {
        let series = decoded[i].0;
        let end = i + decoded[i..]
            .iter()
            .take_while(|(s, _)| *s == series)
            .count();
        let (blocks, points) = add_series(&mut writer, series, &decoded[i..end]);
        lost_blocks += blocks;
        lost_points += points;
        i = end;
    }
    Ok(Salvage::Rebuilt {
        built: writer.finish()?,
        lost_blocks,
        lost_points,
        first_error,
    })
}

/// Adds one series' readable blocks; returns the blocks (and their points) left out because
/// they hold the other kind of value than the series' first block: damage that decoded.
fn add_series(
    writer: &mut PartitionWriter,
    series: SeriesId,
    blocks: &[(SeriesId, BlockPoints)],
) -> (usize, u64) {
    let (mut ts, mut numbers, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut lost = (0, 0);
    for (_, points) in blocks {
        match points {
            BlockPoints::Numeric(t, v) if events.is_empty() => {
                ts.extend_from_slice(t);
                numbers.extend_from_slice(v);
            }
            BlockPoints::Event(t, v) if numbers.is_empty() => {
                ts.extend_from_slice(t);
                events.extend_from_slice(v);
            }
            other => {
                lost.0 += 1;
                lost.1 += other.timestamps().len() as u64;
            }
        }
    }
    if events.is_empty() {
        writer.add(series, &ts, &numbers);
    } else {
        writer.add(series, &ts, &events);
    }
    lost
}
