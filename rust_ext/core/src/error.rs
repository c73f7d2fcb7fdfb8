//! One error type for the core. The Python layer maps each variant to its own
//! exception class (rust_ext/python/src/errors.rs); `details` always carries
//! structured context, never just a string.

use serde_json::{Map, Value};

/// Structured context of an error: e.g. {"line": 3, "offset": 41, "message": "..."}.
pub type Detail = Map<String, Value>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{message}")]
    Parse {
        message: String,
        /// 1-based line of the first problem, when known.
        line: Option<u64>,
        /// byte offset of the first problem, when known.
        offset: Option<u64>,
        details: Vec<Detail>,
    },
    #[error("{message}")]
    Validation { message: String, details: Vec<Detail> },
    #[error("unsupported format: {format:?} (supported: json, ndjson, csv, parquet)")]
    UnsupportedFormat { format: String },
    #[error("{message}")]
    Write { message: String, details: Vec<Detail> },
}

impl CoreError {
    pub fn details(&self) -> Vec<Detail> {
        match self {
            CoreError::Parse { details, .. }
            | CoreError::Validation { details, .. }
            | CoreError::Write { details, .. } => details.clone(),
            CoreError::UnsupportedFormat { format } => {
                let mut d = Detail::new();
                d.insert("format".into(), Value::String(format.clone()));
                vec![d]
            }
        }
    }

    pub fn write(message: impl Into<String>) -> Self {
        CoreError::Write { message: message.into(), details: Vec::new() }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
