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
    Validation {
        message: String,
        details: Vec<Detail>,
    },
    #[error("unsupported format: {format:?} (supported: json, ndjson, csv, parquet)")]
    UnsupportedFormat { format: String },
    #[error("{message}")]
    Write {
        message: String,
        details: Vec<Detail>,
    },
    /// A caller mistake that is not about the data itself: a bad argument, a
    /// batch without the column it must have. Maps to the base exception class.
    #[error("{message}")]
    Input {
        message: String,
        details: Vec<Detail>,
    },
    /// A bug caught at the boundary (e.g. a panic): never the caller's fault.
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl CoreError {
    pub fn details(&self) -> Vec<Detail> {
        match self {
            CoreError::Parse { details, .. }
            | CoreError::Validation { details, .. }
            | CoreError::Write { details, .. }
            | CoreError::Input { details, .. } => details.clone(),
            CoreError::UnsupportedFormat { format } => {
                let mut d = Detail::new();
                d.insert("format".into(), Value::String(format.clone()));
                d.insert(
                    "message".into(),
                    Value::String(format!(
                        "unsupported format {format:?}; supported: json, ndjson, csv, parquet"
                    )),
                );
                vec![d]
            }
            CoreError::Internal { message } => vec![message_detail(message)],
        }
    }

    pub fn write(message: impl Into<String>) -> Self {
        CoreError::Write {
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// A parse error about the whole input (not one record).
    pub fn parse_at(message: impl Into<String>, line: Option<u64>, offset: Option<u64>) -> Self {
        let message = message.into();
        let mut d = Detail::new();
        if let Some(l) = line {
            d.insert("line".into(), Value::from(l));
        }
        if let Some(o) = offset {
            d.insert("offset".into(), Value::from(o));
        }
        d.insert("message".into(), Value::String(message.clone()));
        CoreError::Parse {
            message,
            line,
            offset,
            details: vec![d],
        }
    }

    /// A bad schema or rules document, or a record that cannot be typed.
    pub fn validation(message: impl Into<String>) -> Self {
        let message = message.into();
        CoreError::Validation {
            details: vec![message_detail(&message)],
            message,
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        let message = message.into();
        CoreError::Input {
            details: vec![message_detail(&message)],
            message,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        CoreError::Internal {
            message: message.into(),
        }
    }
}

/// The detail of an error that is only its message: `{"message": ...}`.
fn message_detail(message: &str) -> Detail {
    let mut d = Detail::new();
    d.insert("message".into(), Value::String(message.to_string()));
    d
}

/// Arrow errors from our own array building are bugs or caller mistakes
/// (a batch of the wrong shape); no blanket `From` so other modules can map
/// them as they see fit.
pub fn arrow_err(e: arrow_schema::ArrowError) -> CoreError {
    CoreError::input(format!("arrow: {e}"))
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
