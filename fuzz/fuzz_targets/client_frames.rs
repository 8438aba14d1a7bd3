//! WebSocket client frames: decoding never panics, and a decoded frame re-encodes to a
//! frame that decodes to the same thing.
#![no_main]

use hilo_proto::ClientFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = serde_json::from_slice::<ClientFrame>(data) else {
        return;
    };
    let encoded = serde_json::to_string(&frame).expect("a frame encodes");
    let again: ClientFrame = serde_json::from_str(&encoded).expect("an encoded frame decodes");
    assert_eq!(
        serde_json::to_string(&again).expect("encodes"),
        encoded,
        "the round trip changed the frame"
    );
});
