//! Series names and the storable range: the canonical form and the limits come from the core.

use napi_derive::napi;
use warp_core::SeriesKey;

use crate::error::{IntoJs, Result};

/// Canonical form of a series written as text (`cpu{host="a"}`), validated.
#[napi]
pub fn canonical_series(text: String) -> Result<String> {
    SeriesKey::parse(&text).map(|k| k.canonical()).js()
}

/// Canonical form of a series given as a metric and its tags (keys and values in two arrays,
/// so only what the caller chose, its own properties, can become a tag), validated.
#[napi]
pub fn canonical_series_of(
    metric: String,
    keys: Vec<String>,
    values: Vec<String>,
) -> Result<String> {
    if keys.len() != values.len() {
        return Err(crate::error::to_js(warp_core::Error::InvalidArgument(
            format!("{} tag keys but {} values", keys.len(), values.len()),
        )));
    }
    SeriesKey::new(&metric, keys.into_iter().zip(values))
        .map(|k| k.canonical())
        .js()
}

/// The earliest timestamp a point may have (0000-01-01T00:00:00Z), in ms since the epoch.
#[napi]
pub const MIN_TIMESTAMP: i64 = warp_core::MIN_TIMESTAMP;

/// The latest timestamp a point may have (9999-12-31T23:59:59.999Z), in ms since the epoch.
#[napi]
pub const MAX_TIMESTAMP: i64 = warp_core::MAX_TIMESTAMP;

/// The largest payload an event may have, in bytes: the stream layer cuts what it records to fit.
#[napi]
#[allow(clippy::cast_possible_truncation)] // checked: 4 MiB fits
pub const MAX_EVENT_BYTES: u32 = {
    assert!(warp_core::format::MAX_EVENT_BYTES <= u32::MAX as usize);
    warp_core::format::MAX_EVENT_BYTES as u32
};
