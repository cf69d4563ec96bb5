//! Column codecs: how a series' points are laid out inside a block (see `docs/format.md`).

mod bits;
pub mod block;
mod sample;
mod timestamps;
mod values;

pub use block::{
    BlockHeader, BlockPoints, Payload, Summary, MAX_BLOCK_BYTES, MAX_BLOCK_POINTS, MAX_EVENT_BYTES,
};
pub use sample::{encode_blocks, Sample};
