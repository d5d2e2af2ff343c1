//! ferry-ledger integration tests: one binary, one module per area.

mod apps;
mod roundtrip;
mod rules;
mod signatures;
mod support;
mod tree;

use proptest::test_runner::Config;

/// Proptest cases per property: `FERRY_PROPTEST_CASES` (default 64, bounded for CI).
pub fn cases() -> Config {
    let cases = std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
