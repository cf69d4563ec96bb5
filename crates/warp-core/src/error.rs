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

    #[error("invalid query: {field}: {reason}")]
    InvalidQuery { field: String, reason: String },

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

    #[error("corrupt series catalog {path}: {reason}")]
    CorruptCatalog { path: PathBuf, reason: String },

    #[error("corrupt checkpoint {path}: {reason}")]
    CorruptCheckpoint { path: PathBuf, reason: String },

    #[error("corrupt partition {path}: {reason} (opening with repair keeps what is readable)")]
    CorruptPartition { path: PathBuf, reason: String },

    #[error("corrupt manifest {path}: {reason} (opening with repair rebuilds it from the files)")]
    CorruptManifest { path: PathBuf, reason: String },

    /// A definitions file beside the manifest (rollups, links) that does not parse or check.
    #[error(
        "corrupt {path}: {reason} (opening with repair sets it aside, renamed *.damaged, and opens without it)"
    )]
    CorruptDefinitions { path: PathBuf, reason: String },

    /// A write refused because the live tier is at its hard limit (policy `Fail`), or that
    /// could not wait because the early seal failed.
    #[error("backpressure: {0}")]
    Backpressure(String),

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

/// The stable, machine-readable kind of an error: what callers branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::InvalidSeries,
        ErrorCode::InvalidTimestamp,
        ErrorCode::InvalidValue,
        ErrorCode::InvalidRange,
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidQuery,
        ErrorCode::TypeMismatch,
        ErrorCode::Closed,
        ErrorCode::Locked,
        ErrorCode::NotADirectory,
        ErrorCode::CorruptWal,
        ErrorCode::CorruptCatalog,
        ErrorCode::CorruptCheckpoint,
        ErrorCode::CorruptPartition,
        ErrorCode::CorruptManifest,
        ErrorCode::Backpressure,
        ErrorCode::StorageFailed,
        ErrorCode::Io,
        ErrorCode::Internal,
    ];

    /// The code as JavaScript sees it (`WarpError.code`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidSeries => "INVALID_SERIES",
            ErrorCode::InvalidTimestamp => "INVALID_TIMESTAMP",
            ErrorCode::InvalidValue => "INVALID_VALUE",
            ErrorCode::InvalidRange => "INVALID_RANGE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidQuery => "INVALID_QUERY",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::Closed => "CLOSED",
            ErrorCode::Locked => "LOCKED",
            ErrorCode::NotADirectory => "NOT_A_DIRECTORY",
            ErrorCode::CorruptWal => "CORRUPT_WAL",
            ErrorCode::CorruptCatalog => "CORRUPT_CATALOG",
            ErrorCode::CorruptCheckpoint => "CORRUPT_CHECKPOINT",
            ErrorCode::CorruptPartition => "CORRUPT_PARTITION",
            ErrorCode::CorruptManifest => "CORRUPT_MANIFEST",
            ErrorCode::Backpressure => "BACKPRESSURE",
            ErrorCode::StorageFailed => "STORAGE_FAILED",
            ErrorCode::Io => "IO",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidSeries(_) => ErrorCode::InvalidSeries,
            Error::InvalidTimestamp(_) => ErrorCode::InvalidTimestamp,
            Error::InvalidValue(_) => ErrorCode::InvalidValue,
            Error::InvalidRange { .. } => ErrorCode::InvalidRange,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::InvalidQuery { .. } => ErrorCode::InvalidQuery,
            Error::TypeMismatch { .. } => ErrorCode::TypeMismatch,
            Error::Closed => ErrorCode::Closed,
            Error::Locked(_) => ErrorCode::Locked,
            Error::NotADirectory(_) => ErrorCode::NotADirectory,
            Error::CorruptWal { .. } => ErrorCode::CorruptWal,
            Error::CorruptCatalog { .. } => ErrorCode::CorruptCatalog,
            Error::CorruptCheckpoint { .. } => ErrorCode::CorruptCheckpoint,
            Error::CorruptPartition { .. } => ErrorCode::CorruptPartition,
            Error::CorruptManifest { .. } | Error::CorruptDefinitions { .. } => {
                ErrorCode::CorruptManifest
            }
            Error::Backpressure(_) => ErrorCode::Backpressure,
            Error::StorageFailed(_) => ErrorCode::StorageFailed,
            Error::Io { .. } => ErrorCode::Io,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// A query that cannot run, naming the field at fault.
    pub fn invalid_query(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidQuery {
            field: field.into(),
            reason: reason.into(),
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
