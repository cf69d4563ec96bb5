//! The write-ahead log: segmented files of CRC32C-framed records (see `docs/format.md`).

mod frame;
mod record;
mod replay;
mod segment;

pub use frame::{FrameBuffer, MAX_PAYLOAD};
pub use record::{push_batch, push_event, push_point, push_series, Entry, MAX_EVENT_BYTES};
pub use replay::{replay, ReplayReport, Replayed};
pub use segment::{
    file_name as segment_file_name, SegmentWriter, HEADER_LEN as SEGMENT_HEADER_LEN,
};
