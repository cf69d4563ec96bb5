//! Series names: the canonical form is computed by the core, once per series handle.

use std::collections::HashMap;

use napi::bindgen_prelude::Result;
use napi_derive::napi;
use warp_core::SeriesKey;

use crate::error::IntoJs;

/// Canonical form of a series written as text (`cpu{host="a"}`), validated.
#[napi]
pub fn canonical_series(text: String) -> Result<String> {
    SeriesKey::parse(&text).map(|k| k.canonical()).js()
}

/// Canonical form of a series given as a metric and tags, validated.
#[napi]
pub fn canonical_series_of(
    metric: String,
    tags: Option<HashMap<String, String>>,
) -> Result<String> {
    SeriesKey::new(&metric, tags.unwrap_or_default())
        .map(|k| k.canonical())
        .js()
}
