//! Time-based one-time passwords (RFC 6238 with RFC 4226's truncation): SHA-1, 6 digits,
//! 30-second steps, which every authenticator app reads from an `otpauth://` URI.
//!
//! A code is accepted for the current step and one step either side (clock drift), and a
//! step is usable once: the store keeps the last step used per account and only a later
//! one is accepted, atomically, so a code seen over someone's shoulder cannot be replayed
//! even on another node.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha1::Sha1;

/// Seconds per step.
const STEP_SECONDS: i64 = 30;
/// Digits of a code.
const DIGITS: u32 = 6;

/// A new random secret (160 bits, RFC 4226's recommended length), base32 as apps take it.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

/// The code of `secret` (base32) for time step `step`; `None` for a malformed secret.
pub(crate) fn code_at(secret: &str, step: i64) -> Option<u32> {
    let key = BASE32_NOPAD.decode(secret.as_bytes()).ok()?;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    Some(word % 10u32.pow(DIGITS))
}

/// The code an authenticator app shows for `secret` at `unix_millis`, zero-padded (for
/// operators' tools and tests).
pub fn code_for(secret: &str, unix_millis: i64) -> Option<String> {
    code_at(secret, step_of(unix_millis)).map(|code| format!("{code:06}"))
}

/// The time step of `unix_millis`.
pub(crate) fn step_of(unix_millis: i64) -> i64 {
    unix_millis.div_euclid(1000 * STEP_SECONDS)
}

/// Whether `code` looks like a TOTP code (6 ASCII digits, spaces ignored) rather than a
/// recovery code; the digits as a number.
pub(crate) fn parse_code(code: &str) -> Option<u32> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The step whose code `code` is, among the current step and its neighbours; `None` when it
/// is none of them. Every candidate is computed and compared, so timing does not tell which
/// matched.
pub(crate) fn matching_step(secret: &str, code: u32, unix_millis: i64) -> Option<i64> {
    let now = step_of(unix_millis);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if code_at(secret, step) == Some(code) {
            found = found.or(Some(step));
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps import (Google Authenticator's key URI format).
pub(crate) fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
    )
}

/// The URI as a QR code, an SVG document.
pub(crate) fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .build(),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 vectors (8 digits there; the last 6 here), with its
    /// 20-byte ASCII key "12345678901234567890".
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = BASE32_NOPAD.encode(b"12345678901234567890");
        for (unix_seconds, eight_digits) in [
            (59_i64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = step_of(unix_seconds * 1000);
            assert_eq!(code_at(&secret, step), Some(eight_digits % 1_000_000));
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let secret = new_secret();
        let now = 1_700_000_000_000;
        let step = step_of(now);
        for (offset, expected) in [
            (-2, None),
            (-1, Some(-1)),
            (0, Some(0)),
            (1, Some(1)),
            (2, None),
        ] {
            let code = code_at(&secret, step + offset).expect("code");
            let found = matching_step(&secret, code, now);
            // Another step may share the code by chance (1 in a million).
            if code_at(&secret, step) != Some(code) || offset == 0 {
                assert_eq!(found, expected.map(|o| step + o), "offset {offset}");
            }
        }
    }

    #[test]
    fn codes_and_uris_are_well_formed() {
        assert_eq!(parse_code("123 456"), Some(123_456));
        assert_eq!(parse_code("012345"), Some(12_345));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("abcd-efgh"), None);
        assert_eq!(parse_code("１２３４５６"), None);
        assert_eq!(code_at("not base32!", 1), None);
        let uri = otpauth_uri("hilo example.org", "ana", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            uri,
            "otpauth://totp/hilo%20example.org:ana?secret=JBSWY3DPEHPK3PXP&issuer=hilo%20example.org&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).expect("svg");
        assert!(
            svg.starts_with("<?xml") && svg.contains("<svg"),
            "{svg:.80}"
        );
    }
}
