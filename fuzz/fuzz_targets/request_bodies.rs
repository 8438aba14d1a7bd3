//! Request bodies: the shape check, then every request type's decoding and field
//! validation, never panic; and the shape check agrees with serde_json about what it lets
//! through (an object, at most MAX_NESTING deep, no NUL) and what it refuses.
#![no_main]

use hilo_proto::{MAX_NESTING, check_body, decode_every_request};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(members) => members
            .iter()
            .any(|(key, value)| key.contains('\0') || has_nul(value)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    decode_every_request(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let good = value.is_object() && depth(&value) <= MAX_NESTING && !has_nul(&value);
    assert_eq!(
        check_body(data).is_ok(),
        good,
        "check_body disagrees with the parsed value: {:?}",
        check_body(data)
    );
});
