//! One error type for the engine. Every variant has a stable `code()` that the Node binding
//! exposes as `WarpError.code`, so callers can branch on what went wrong.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid series: {0}")]
    InvalidSeries(String),

    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(String),

    #[error("invalid value: {0}")]
    InvalidValue(String),

    #[error("invalid range: from ({from}) is after to ({to})")]
    InvalidRange { from: i64, to: i64 },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("series '{series}' holds {existing} points; cannot write {attempted} points to it")]
    TypeMismatch {
        series: String,
        existing: &'static str,
        attempted: &'static str,
    },

    #[error("the database is closed")]
    Closed,

    #[error("database directory {0} is locked by another process (or another open handle)")]
    Locked(PathBuf),

    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),

    #[error("corrupt WAL segment {segment} at byte {offset}: {reason}")]
    CorruptWal {
        segment: String,
        offset: u64,
        reason: String,
    },

    #[error("corrupt checkpoint {path}: {reason}")]
    CorruptCheckpoint { path: PathBuf, reason: String },

    #[error("corrupt partition {path}: {reason}")]
    CorruptPartition { path: PathBuf, reason: String },

    #[error("corrupt manifest {path}: {reason}")]
    CorruptManifest { path: PathBuf, reason: String },

    #[error("storage failed earlier ({0}); writes are refused until the database is reopened")]
    StorageFailed(String),

    #[error("I/O error while trying to {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidSeries(_) => "INVALID_SERIES",
            Error::InvalidTimestamp(_) => "INVALID_TIMESTAMP",
            Error::InvalidValue(_) => "INVALID_VALUE",
            Error::InvalidRange { .. } => "INVALID_RANGE",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::TypeMismatch { .. } => "TYPE_MISMATCH",
            Error::Closed => "CLOSED",
            Error::Locked(_) => "LOCKED",
            Error::NotADirectory(_) => "NOT_A_DIRECTORY",
            Error::CorruptWal { .. } => "CORRUPT_WAL",
            Error::CorruptCheckpoint { .. } => "CORRUPT_CHECKPOINT",
            Error::CorruptPartition { .. } => "CORRUPT_PARTITION",
            Error::CorruptManifest { .. } => "CORRUPT_MANIFEST",
            Error::StorageFailed(_) => "STORAGE_FAILED",
            Error::Io { .. } => "IO",
            Error::Internal(_) => "INTERNAL",
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
