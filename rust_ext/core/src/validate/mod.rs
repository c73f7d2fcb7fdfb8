//! Checking one value against a field's rules, and validating whole raw
//! batches. Every violation is reported, never just the first.
//!
//! Rules (the `rule` of a violation): `required`, `type`, `allowed`, `min`,
//! `max`, `max_length`, `min_length`, `timestamp` (ISO-8601 with a zone or
//! integer epoch milliseconds; impossible calendar dates and naive timestamps
//! are violations), `date` (YYYY-MM-DD), and `parse_error` for records that
//! could not be parsed at all ([`Rule`] names them all, `duplicate` included).
//!
//! - `violation`: [`Rule`], [`Violation`] and their JSON form;
//! - `value`: one value against one field ([`check_value`]);
//! - `batch`: whole raw batches ([`validate_batches`], [`BatchView`]).
//!
//! Date and timestamp parsing lives in [`crate::time`].

mod batch;
mod value;
mod violation;

pub(crate) use batch::views_and_parts;
pub use batch::{validate_batches, violations_schema, BatchView, Mode, Report};
pub use value::{check_value, constant_for, RawVal, Typed};
pub use violation::{truncate_value, violations_json, Rule, Violation, RECORD_FIELD};
