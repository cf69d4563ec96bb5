//! Core errors become JavaScript errors whose message starts with the stable code
//! (`"CORRUPT_WAL: ..."`); the TypeScript layer turns that into `WarpError.code`.

use std::error::Error as _;

use napi::{Error, Status};

/// Converts a core error, keeping its whole cause chain in the message.
pub fn to_js(err: warp_core::Error) -> Error {
    let mut message = format!("{}: {err}", err.code());
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(" (caused by: {text})"));
        }
        cause = c.source();
    }
    Error::new(Status::GenericFailure, message)
}

/// A Rust panic caught at the boundary: reported, never unwound into Node.
pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    to_js(warp_core::Error::Internal(what))
}

pub trait IntoJs<T> {
    fn js(self) -> napi::Result<T>;
}

impl<T> IntoJs<T> for warp_core::Result<T> {
    fn js(self) -> napi::Result<T> {
        self.map_err(to_js)
    }
}
