//! The write-ahead log: segmented files of CRC32C-framed records (see `docs/format.md`), and
//! the group commit that makes them durable.

mod frame;
mod log;
mod record;
mod replay;
mod segment;

pub use frame::FrameBuffer;
pub use log::Log;
pub use record::{push_batch, push_dropped, push_event, push_point, push_series, Entry};
pub use replay::{replay, ReplayReport};
pub use segment::{SegmentWriter, HEADER_LEN as SEGMENT_HEADER_LEN};
