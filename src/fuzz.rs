//! Shared pieces of the property-based fuzz tests (test builds only).
//!
//! Every parser of outside input has a `fuzz` test module next to it (`cargo test --lib fuzz`
//! runs them all). Pure parsers run proptest's default 256 cases; tests that drive the embedded
//! AS's router run fewer ([`cases`]). `PROPTEST_CASES=100000 cargo test --lib fuzz` runs every
//! one of them deeper.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// A proptest configuration with `default` cases, unless `PROPTEST_CASES` asks for another number.
pub fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Shrinking a failure through a router is slow; the first failure is enough to start.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

/// Any JSON value without floats (a float may not survive a text round trip bit-for-bit).
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            json_map(inner).prop_map(Value::Object),
        ]
    })
}

/// Any JSON object.
pub fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    json_map(json_value())
}

fn json_map(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(any::<String>(), values, 0..5)
        .prop_map(|m| m.into_iter().collect())
}

/// Arbitrary bytes (up to `max` of them).
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}
