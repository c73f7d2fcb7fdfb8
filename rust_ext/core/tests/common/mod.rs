//! Helpers shared by the integration tests (each test file is its own crate and
//! declares `mod common;`; a file may use only some of them).
#![allow(dead_code)]

use proptest::prelude::ProptestConfig;

/// `n` cases, or `PROPTEST_CASES` when set (for long fuzzing runs).
pub fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
