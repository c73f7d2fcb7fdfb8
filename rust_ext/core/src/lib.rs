//! eventlake-core: parse, validate, transform, deduplicate and write Iceberg
//! Parquet. No Python here; `rust_ext/python` only converts types and maps errors.

pub mod error;

// parsing, validation, transformation, deduplication, the fused pipeline
pub mod csvscan;
pub mod dedup;
pub mod json;
pub mod keyindex;
pub mod parse;
pub mod process;
pub mod schema;
pub mod transform;
pub mod time; // dates and timestamps (validation and the transform)
pub mod validate;

// Iceberg schema/partition handling and the Parquet writer
pub mod iceberg;
pub mod metrics;
pub mod reader;
pub mod writer;

pub use error::{CoreError, Result};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
