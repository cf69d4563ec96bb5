//! Column codecs: how a series' points are laid out inside a block (see `docs/format.md`).

pub mod bits;
pub mod block;
mod timestamps;
pub mod values;

pub use block::{BlockPoints, Payload, MAX_EVENT_BYTES};
