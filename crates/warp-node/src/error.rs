//! Core errors become JavaScript errors whose `code` property is the stable code
//! (`WarpError.code`), set here rather than parsed back out of the message. The message keeps
//! the whole cause chain.

use std::error::Error as _;

use napi_derive::napi;
use warp_core::ErrorCode as CoreCode;

/// A JavaScript error carrying a core error's code.
pub type JsError = napi::Error<CoreCode>;
pub type Result<T> = std::result::Result<T, JsError>;

/// Every code a WarpEngine error can carry, for the TypeScript types. The compiler keeps it
/// in step with the core's codes (the match below is exhaustive), and a test checks that the
/// names it gives JavaScript are the strings the errors carry.
#[napi(string_enum = "UPPER_SNAKE")]
#[derive(Debug)]
pub enum ErrorCode {
    InvalidSeries,
    InvalidTimestamp,
    InvalidValue,
    InvalidRange,
    InvalidArgument,
    InvalidQuery,
    TypeMismatch,
    Closed,
    Locked,
    NotADirectory,
    CorruptWal,
    CorruptCatalog,
    CorruptCheckpoint,
    CorruptPartition,
    CorruptManifest,
    Backpressure,
    StorageFailed,
    Io,
    Internal,
}

impl From<CoreCode> for ErrorCode {
    fn from(code: CoreCode) -> Self {
        match code {
            CoreCode::InvalidSeries => ErrorCode::InvalidSeries,
            CoreCode::InvalidTimestamp => ErrorCode::InvalidTimestamp,
            CoreCode::InvalidValue => ErrorCode::InvalidValue,
            CoreCode::InvalidRange => ErrorCode::InvalidRange,
            CoreCode::InvalidArgument => ErrorCode::InvalidArgument,
            CoreCode::InvalidQuery => ErrorCode::InvalidQuery,
            CoreCode::TypeMismatch => ErrorCode::TypeMismatch,
            CoreCode::Closed => ErrorCode::Closed,
            CoreCode::Locked => ErrorCode::Locked,
            CoreCode::NotADirectory => ErrorCode::NotADirectory,
            CoreCode::CorruptWal => ErrorCode::CorruptWal,
            CoreCode::CorruptCatalog => ErrorCode::CorruptCatalog,
            CoreCode::CorruptCheckpoint => ErrorCode::CorruptCheckpoint,
            CoreCode::CorruptPartition => ErrorCode::CorruptPartition,
            CoreCode::CorruptManifest => ErrorCode::CorruptManifest,
            CoreCode::Backpressure => ErrorCode::Backpressure,
            CoreCode::StorageFailed => ErrorCode::StorageFailed,
            CoreCode::Io => ErrorCode::Io,
            CoreCode::Internal => ErrorCode::Internal,
        }
    }
}

/// Converts a core error, keeping its whole cause chain in the message.
pub fn to_js(err: warp_core::Error) -> JsError {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(" (caused by: {text})"));
        }
        cause = c.source();
    }
    JsError::new(err.code(), message)
}

/// A Rust panic caught at the boundary: reported, never unwound into Node.
pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> JsError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    to_js(warp_core::Error::Internal(what))
}

pub trait IntoJs<T> {
    fn js(self) -> Result<T>;
}

impl<T> IntoJs<T> for warp_core::Result<T> {
    fn js(self) -> Result<T> {
        self.map_err(to_js)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What napi's UPPER_SNAKE case makes of a variant name.
    fn upper_snake(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn the_typescript_codes_are_the_codes_errors_carry() {
        for code in CoreCode::ALL {
            let name = format!("{:?}", ErrorCode::from(code));
            assert_eq!(upper_snake(&name), code.as_str());
        }
    }
}
