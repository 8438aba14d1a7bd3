//! Events: decoding never panics, a decoded event round-trips, and `with_cursor` turns any
//! JSON object into the same object with its cursor added.
#![no_main]

use hilo_proto::{Event, with_cursor};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<Event>(data) {
        let encoded = serde_json::to_string(&event).expect("an event encodes");
        let again: Event = serde_json::from_str(&encoded).expect("an encoded event decodes");
        assert_eq!(serde_json::to_string(&again).expect("encodes"), encoded);
    }
    let Some((head, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let cursor = i64::from_le_bytes(*head);
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(Value::Object(original)) = serde_json::from_str::<Value>(body) else {
        return;
    };
    if original.contains_key("cursor") {
        return;
    }
    let framed = with_cursor(body, Some(cursor));
    let Ok(Value::Object(mut framed)) = serde_json::from_str::<Value>(&framed) else {
        panic!("with_cursor broke a JSON object: {framed}");
    };
    assert_eq!(
        framed.remove("cursor"),
        Some(Value::String(cursor.to_string()))
    );
    assert_eq!(framed, original);
});
