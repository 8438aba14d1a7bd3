//! What a request body must be before any request type reads it: a JSON object, UTF-8
//! throughout, nested at most [`MAX_NESTING`] deep, with no NUL in any string. serde_json
//! alone accepts more (it fills an all-optional struct from `[]`, skips invalid UTF-8 and
//! deep nesting inside fields a type ignores, and passes NUL to a store that cannot keep
//! it), so the HTTP layer runs [`check_body`] first. Pure, so it is also a fuzz target.

/// The deepest nesting of arrays and objects a request body may have.
pub const MAX_NESTING: usize = 32;

/// Why a body was refused before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyProblem {
    /// Not UTF-8 (RFC 8259 requires it everywhere, also inside ignored fields).
    NotUtf8,
    /// The first value is not an object.
    NotAnObject,
    /// Arrays and objects nested deeper than [`MAX_NESTING`].
    TooDeep,
    /// A NUL character in a string (`\u0000`, the only way JSON carries one).
    Nul,
}

impl BodyProblem {
    /// The machine code and message of the 400 answer.
    pub fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            BodyProblem::NotUtf8 => ("malformed_json", "the body is not valid UTF-8"),
            BodyProblem::NotAnObject => ("invalid_body", "the body must be a JSON object"),
            BodyProblem::TooDeep => (
                "too_deeply_nested",
                "JSON bodies nest at most 32 arrays or objects deep",
            ),
            BodyProblem::Nul => ("nul_character", "strings may not contain NUL characters"),
        }
    }
}

/// Checks the shape of a request body; malformed JSON otherwise is left to the parser.
pub fn check_body(body: &[u8]) -> Result<(), BodyProblem> {
    if std::str::from_utf8(body).is_err() {
        return Err(BodyProblem::NotUtf8);
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BodyProblem::NotAnObject);
    }
    let (mut depth, mut in_string, mut i) = (0usize, false, 0);
    while i < body.len() {
        match (in_string, body[i]) {
            (true, b'\\') => {
                if body[i + 1..].starts_with(b"u0000") {
                    return Err(BodyProblem::Nul);
                }
                // The escaped character is never the end of the string.
                i += 1;
            }
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(BodyProblem::TooDeep);
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            (false, _) => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether a raw path or query carries a percent-encoded NUL, refused like one in a body.
pub fn has_encoded_nul(raw: &str) -> bool {
    raw.contains("%00")
}

#[cfg(test)]
mod tests {
    use super::{BodyProblem, check_body, has_encoded_nul};

    fn check(body: impl AsRef<[u8]>) -> Result<(), BodyProblem> {
        check_body(body.as_ref())
    }

    #[test]
    fn nesting_counts_arrays_and_objects_but_not_strings() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check(format!(r#"{{"a":{}}}"#, deep(31))), Ok(()));
        assert_eq!(
            check(format!(r#"{{"a":{}}}"#, deep(32))),
            Err(BodyProblem::TooDeep)
        );
        let in_string = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert_eq!(check(in_string), Ok(()));
        // An escaped quote does not end a string; an escaped backslash before a quote does.
        let escaped_quote = format!(r#"{{"a":"\"{}","b":1}}"#, "[".repeat(40));
        assert_eq!(check(escaped_quote), Ok(()));
        let escaped_backslash = format!(r#"{{"a":"\\","b":{}}}"#, deep(40));
        assert_eq!(check(escaped_backslash), Err(BodyProblem::TooDeep));
    }

    #[test]
    fn a_nul_escape_is_found_in_values_and_keys_but_not_when_its_backslash_is_escaped() {
        assert_eq!(check(br#"{"a":"x\u0000y"}"#), Err(BodyProblem::Nul));
        assert_eq!(check(br#"{"\u0000":1}"#), Err(BodyProblem::Nul));
        // A backslash followed by the text u0000, as someone writing about JSON would send.
        assert_eq!(check(br#"{"a":"\\u0000"}"#), Ok(()));
        assert_eq!(check(br#"{"a":"\u0001"}"#), Ok(()));
        // Also in a member a later duplicate key would replace: serde keeps only the last.
        assert_eq!(
            check(br#"{"text":"a\u0000","text":"b"}"#),
            Err(BodyProblem::Nul)
        );
        assert!(has_encoded_nul("/api/v1/conversations/a%00b"));
        assert!(!has_encoded_nul("/api/v1/conversations/a%2500b"));
    }

    #[test]
    fn only_utf8_objects_pass() {
        assert_eq!(check(b"{\"a\":\"\xff\"}"), Err(BodyProblem::NotUtf8));
        assert_eq!(check(b"[]"), Err(BodyProblem::NotAnObject));
        assert_eq!(check(b"null"), Err(BodyProblem::NotAnObject));
        assert_eq!(check(b""), Err(BodyProblem::NotAnObject));
        assert_eq!(check(b" \n{}"), Ok(()));
    }
}
