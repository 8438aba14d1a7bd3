//! Input rules shared by every entry point (HTTP, CLI, later SMTP and SMS), so a username or
//! a message text is judged the same whichever way it arrives.
//!
//! Lengths are counted in Unicode scalar values (what a user sees as characters, near
//! enough), never bytes, and values are rejected rather than silently truncated.

/// Why an input value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// A stable snake_case code, e.g. `invalid_username`.
    pub code: &'static str,
    /// A human-readable explanation naming the rule.
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Longest username, in characters.
pub const USERNAME_MAX: usize = 32;
/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 64;
/// Longest group name, in characters.
pub const GROUP_NAME_MAX: usize = 100;
/// Longest message text, in characters.
pub const MESSAGE_TEXT_MAX: usize = 10_000;
/// Longest `client_txn_id`, in characters.
pub const CLIENT_TXN_ID_MAX: usize = 64;
/// Shortest password (OWASP ASVS 6.2.1).
pub const PASSWORD_MIN: usize = 8;
/// Longest password; longer ones are refused, never truncated (ASVS 6.2.8, 6.2.9).
pub const PASSWORD_MAX: usize = 128;
/// Longest device name, in characters.
pub const DEVICE_NAME_MAX: usize = 100;

/// Longest email address (RFC 5321: a 256-octet path, brackets included).
pub const EMAIL_ADDRESS_MAX: usize = 254;

/// Checks and normalises an email address: `local@domain`, the local part at most 64
/// printable ASCII characters without spaces or the characters addresses quote, the
/// domain dot-separated labels of letters, digits and hyphens; lower-cased (hilo matches
/// addresses without regard to case).
pub fn email_address(input: &str) -> Result<String, ValidationError> {
    let address = input.trim();
    let invalid = |why: &str| {
        ValidationError::new(
            "invalid_address",
            format!("not an email address like someone@example.org: {why}"),
        )
    };
    if is_phone_address(address) {
        return Err(ValidationError::new(
            "unsupported_address",
            "that is a phone number; an email address is needed here",
        ));
    }
    if address.len() > EMAIL_ADDRESS_MAX {
        return Err(invalid("longer than 254 characters"));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(invalid("no @"));
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !br#"<>()[]\,;:"@"#.contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(invalid("the part before @"));
    }
    let labels_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !labels_ok {
        return Err(invalid("the domain"));
    }
    Ok(address.to_ascii_lowercase())
}

/// Whether an address is a phone number (it starts with `+` and has no `@`) rather than an
/// email address, which may start with `+` too (`+promo@example.org`).
pub fn is_phone_address(address: &str) -> bool {
    address.trim_start().starts_with('+') && !address.contains('@')
}

/// Checks and normalises a phone number to E.164: `+`, then 8 to 15 digits, the first not
/// 0 (spaces, dots, hyphens and parentheses between digits are dropped).
pub fn phone_number(input: &str) -> Result<String, ValidationError> {
    let invalid = || {
        ValidationError::new(
            "invalid_number",
            "not a phone number in international form like +34600111222",
        )
    };
    let trimmed = input.trim();
    let Some(rest) = trimmed.strip_prefix('+') else {
        return Err(invalid());
    };
    if rest.len() > 40 {
        return Err(invalid());
    }
    let mut digits = String::with_capacity(16);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return Err(invalid()),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(invalid());
    }
    Ok(format!("+{digits}"))
}

/// Checks and normalises a username: 3–32 of `a-z 0-9 . _`, compared case-insensitively,
/// so the result is lower case.
pub fn username(input: &str) -> Result<String, ValidationError> {
    let lowered = input.to_ascii_lowercase();
    let n_chars = lowered.chars().count();
    if !(3..=USERNAME_MAX).contains(&n_chars) {
        return Err(ValidationError::new(
            "invalid_username",
            format!("a username has 3 to {USERNAME_MAX} characters"),
        ));
    }
    if !lowered
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
    {
        return Err(ValidationError::new(
            "invalid_username",
            "a username may contain only letters a-z, digits, '.' and '_'",
        ));
    }
    // `bounces+<id>@<mail domain>` is where mail hilo sent comes back.
    if RESERVED_USERNAMES.contains(&lowered.as_str()) {
        return Err(ValidationError::new(
            "invalid_username",
            format!("{lowered} is reserved"),
        ));
    }
    Ok(lowered)
}

/// Usernames nobody may take: their addresses are the server's own.
pub const RESERVED_USERNAMES: &[&str] = &["bounces", "noreply"];

/// Checks a display name: at most 64 characters as sent, trimmed, not empty, no control or invisible formatting
/// characters (which allow spoofing another name).
pub fn display_name(input: &str) -> Result<String, ValidationError> {
    single_line_name(
        input,
        DISPLAY_NAME_MAX,
        "invalid_display_name",
        "a display name",
    )
}

/// Checks a group name: at most 100 characters as sent, trimmed, not empty, single line.
pub fn group_name(input: &str) -> Result<String, ValidationError> {
    single_line_name(input, GROUP_NAME_MAX, "invalid_group_name", "a group name")
}

/// Checks a device name given at login: at most 100 characters as sent, trimmed, not
/// empty, single line.
pub fn device_name(input: &str) -> Result<String, ValidationError> {
    single_line_name(
        input,
        DEVICE_NAME_MAX,
        "invalid_device_name",
        "a device name",
    )
}

fn single_line_name(
    input: &str,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<String, ValidationError> {
    // The maximum holds for the input as sent, so the limit a client reads in the API
    // document is the one applied; surrounding whitespace is then trimmed.
    let trimmed = input.trim();
    if trimmed.is_empty() || input.chars().count() > max {
        return Err(ValidationError::new(
            code,
            format!("{what} has 1 to {max} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err(ValidationError::new(
            code,
            format!("{what} may not contain control or invisible formatting characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Bidirectional overrides and zero-width characters: legitimate inside running text, but
/// in a name they let one user impersonate another.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The 30,000 most common passwords, one per line, most common first: zxcvbn 4.5.0's
/// `passwords` frequency list (MIT licence, © 2016 Daniel Wolf and Dropbox), drawn from
/// leaked password sets. 11,611 of them are long enough to pass the length rule.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether `input`, ignoring case, is one of [`COMMON_PASSWORDS`] (ASVS 6.2.4 and 6.2.12:
/// refuse passwords an attacker tries first).
pub fn is_common_password(input: &str) -> bool {
    static SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| COMMON_PASSWORDS.lines().collect());
    input.len() <= 64 && SET.contains(input.to_lowercase().as_str())
}

/// Checks a password: 8–128 characters, not among [`COMMON_PASSWORDS`], no other
/// composition rule (ASVS 6.2.5).
pub fn password(input: &str) -> Result<(), ValidationError> {
    let n_chars = input.chars().count();
    if n_chars < PASSWORD_MIN {
        return Err(ValidationError::new(
            "weak_password",
            format!("a password has at least {PASSWORD_MIN} characters"),
        ));
    }
    if n_chars > PASSWORD_MAX {
        return Err(ValidationError::new(
            "invalid_password",
            format!("a password has at most {PASSWORD_MAX} characters"),
        ));
    }
    if input.contains('\0') {
        return Err(ValidationError::new(
            "invalid_password",
            "a password may not contain NUL",
        ));
    }
    if is_common_password(input) {
        return Err(ValidationError::new(
            "weak_password",
            "this password is among the most common leaked passwords; choose another",
        ));
    }
    Ok(())
}

/// Checks a message text: 1–10,000 characters, not only whitespace, and no control
/// characters other than tab, line feed and carriage return.
pub fn message_text(input: &str) -> Result<String, ValidationError> {
    if input.trim().is_empty() {
        return Err(ValidationError::new(
            "invalid_text",
            "a message text may not be empty",
        ));
    }
    if input.chars().count() > MESSAGE_TEXT_MAX {
        return Err(ValidationError::new(
            "text_too_long",
            format!("a message text has at most {MESSAGE_TEXT_MAX} characters"),
        ));
    }
    if input
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ValidationError::new(
            "invalid_text",
            "a message text may not contain control characters",
        ));
    }
    Ok(input.to_owned())
}

/// Longest report reason, in characters.
pub const REPORT_REASON_MAX: usize = 1000;

/// Checks a report's reason: 1 to 1,000 characters once trimmed, no control characters
/// other than line breaks and tabs. Returns it trimmed.
pub fn report_reason(input: &str) -> Result<String, ValidationError> {
    let reason = input.trim();
    if reason.is_empty() || reason.chars().count() > REPORT_REASON_MAX {
        return Err(ValidationError::new(
            "invalid_reason",
            format!("a reason has 1 to {REPORT_REASON_MAX} characters"),
        ));
    }
    if reason
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ValidationError::new(
            "invalid_reason",
            "a reason may not contain control characters",
        ));
    }
    Ok(reason.to_owned())
}

/// Longest location label, in characters.
pub const LOCATION_LABEL_MAX: usize = 200;

/// Checks a reaction: exactly one emoji (one grapheme of the Unicode emoji list, skin
/// tones, flags and ZWJ sequences included), returned in its fully-qualified form so "❤"
/// and "❤️" count as the same reaction. Text, two emoji or an emoji with text is refused.
pub fn reaction_emoji(input: &str) -> Result<String, ValidationError> {
    let refuse = || {
        ValidationError::new(
            "invalid_emoji",
            "a reaction is exactly one emoji (for example 👍)",
        )
    };
    // The longest emoji (a family or a flag of a subdivision) is well under 64 bytes.
    if input.is_empty() || input.len() > 64 {
        return Err(refuse());
    }
    if let Some(emoji) = emojis::get(input) {
        return Ok(emoji.as_str().to_owned());
    }
    // A symbol sent without its emoji presentation selector ("❤" for "❤️") is that emoji;
    // but "1" is not "1️⃣", though the list knows "1" + U+FE0F as a short form of it.
    let qualified = format!("{input}\u{FE0F}");
    match emojis::get(&qualified) {
        Some(emoji) if emoji.as_str() == qualified => Ok(qualified),
        _ => Err(refuse()),
    }
}

/// Checks a shared location: finite latitude in −90..=90, longitude in −180..=180, and an
/// optional single-line label of at most 200 characters.
pub fn location(
    lat: f64,
    lon: f64,
    label: Option<&str>,
) -> Result<crate::Location, ValidationError> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(ValidationError::new(
            "invalid_location",
            "latitude is a number from -90 to 90",
        ));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(ValidationError::new(
            "invalid_location",
            "longitude is a number from -180 to 180",
        ));
    }
    let label = label
        .map(|l| {
            single_line_name(
                l,
                LOCATION_LABEL_MAX,
                "invalid_location",
                "a location label",
            )
        })
        .transpose()?;
    Ok(crate::Location { lat, lon, label })
}

/// Checks a client transaction id: 1–64 printable characters.
pub fn client_txn_id(input: &str) -> Result<String, ValidationError> {
    let n_chars = input.chars().count();
    if n_chars == 0 || n_chars > CLIENT_TXN_ID_MAX {
        return Err(ValidationError::new(
            "invalid_client_txn_id",
            format!("client_txn_id has 1 to {CLIENT_TXN_ID_MAX} characters"),
        ));
    }
    if input.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "invalid_client_txn_id",
            "client_txn_id may not contain control characters",
        ));
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_may_start_with_a_plus_a_number_is_no_address() {
        assert_eq!(
            super::email_address("+Promo@Example.org").as_deref(),
            Ok("+promo@example.org")
        );
        assert_eq!(
            super::email_address("+34600111222").map_err(|e| e.code),
            Err("unsupported_address")
        );
        assert!(super::is_phone_address(" +34600111222"));
        assert!(!super::is_phone_address("+promo@example.org"));
        assert!(!super::is_phone_address("ana@example.org"));
    }

    #[test]
    fn phone_numbers_are_e164() {
        for (input, want) in [
            ("+34600111222", "+34600111222"),
            (" +34 600 11 12 22 ", "+34600111222"),
            ("+1 (555) 000-0001", "+15550000001"),
        ] {
            assert_eq!(super::phone_number(input).as_deref(), Ok(want), "{input}");
        }
        for input in [
            "34600111222",
            "+0600111222",
            "+1234567",
            "+1234567890123456",
            "+34600111222x",
            "+",
            "",
        ] {
            assert!(super::phone_number(input).is_err(), "{input}");
        }
    }

    use super::*;

    #[test]
    fn the_bounce_address_is_not_a_username() {
        assert_eq!(
            username("Bounces").map_err(|e| e.code),
            Err("invalid_username")
        );
        assert_eq!(username("bouncer").as_deref(), Ok("bouncer"));
    }

    #[test]
    fn email_addresses_are_checked_and_lower_cased() {
        assert_eq!(
            email_address(" Ana.Ruiz+x@Example.ORG ").as_deref(),
            Ok("ana.ruiz+x@example.org")
        );
        assert_eq!(
            email_address("bob@localhost").as_deref(),
            Ok("bob@localhost")
        );
        for bad in [
            "",
            "ana",
            "@example.org",
            "ana@",
            "ana@@example.org",
            "a b@example.org",
            "ana@exa_mple.org",
            "ana@-x.org",
            ".ana@x.org",
            "ana..r@x.org",
            "<ana>@x.org",
            "ana@x..org",
            "ana\r\n@x.org",
        ] {
            assert_eq!(
                email_address(bad).map_err(|e| e.code),
                Err("invalid_address"),
                "{bad:?}"
            );
        }
        assert_eq!(
            email_address(&format!("{}@x.org", "a".repeat(65))).map_err(|e| e.code),
            Err("invalid_address")
        );
        assert_eq!(
            email_address("+34600111222").map_err(|e| e.code),
            Err("unsupported_address")
        );
    }

    fn check<T: std::fmt::Debug>(result: Result<T, ValidationError>, expect: Result<&str, &str>) {
        match (result, expect) {
            (Ok(value), Ok(want)) => assert_eq!(format!("{value:?}"), want),
            (Err(error), Err(code)) => assert_eq!(error.code, code),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn reactions_are_one_emoji() {
        for ok in ["👍", "👍🏽", "❤️", "🇪🇸", "👨‍👩‍👧", "🏳️‍🌈", "1️⃣"]
        {
            assert!(reaction_emoji(ok).is_ok(), "{ok} refused");
        }
        assert_eq!(reaction_emoji("❤").ok().as_deref(), Some("❤️"));
        for bad in [
            "", "a", "ok", "1", "👍👍", "👍 ", " 👍", "👍a", ":+1:", "\u{FE0F}",
        ] {
            check(reaction_emoji(bad), Err("invalid_emoji"));
        }
    }

    #[test]
    fn locations_are_on_earth() {
        assert!(location(40.4168, -3.7038, Some("Sol")).is_ok());
        assert!(location(-90.0, 180.0, None).is_ok());
        for (lat, lon) in [
            (123.0, 0.0),
            (0.0, 181.0),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            check(location(lat, lon, None), Err("invalid_location"));
        }
        check(location(0.0, 0.0, Some("")), Err("invalid_location"));
        check(
            location(0.0, 0.0, Some(&"x".repeat(201))),
            Err("invalid_location"),
        );
    }

    #[test]
    fn usernames() {
        check(username("Alice_01.x"), Ok("\"alice_01.x\""));
        check(username("ab"), Err("invalid_username"));
        check(
            username(&"a".repeat(32)),
            Ok(&format!("{:?}", "a".repeat(32))),
        );
        check(username(&"a".repeat(33)), Err("invalid_username"));
        check(username("al ice"), Err("invalid_username"));
        check(username("alicé"), Err("invalid_username"));
        check(username("al-ice"), Err("invalid_username"));
    }

    #[test]
    fn names() {
        check(display_name("  Ana María  "), Ok("\"Ana María\""));
        check(display_name(""), Err("invalid_display_name"));
        check(display_name("   "), Err("invalid_display_name"));
        check(
            display_name(&"é".repeat(64)),
            Ok(&format!("{:?}", "é".repeat(64))),
        );
        check(display_name(&"é".repeat(65)), Err("invalid_display_name"));
        // The maximum counts what was sent, before trimming (the API document's maxLength).
        check(
            display_name(&format!(" {} ", "é".repeat(63))),
            Err("invalid_display_name"),
        );
        check(display_name("evil\u{202E}gnp"), Err("invalid_display_name"));
        check(display_name("two\nlines"), Err("invalid_display_name"));
        check(
            group_name(&"g".repeat(100)),
            Ok(&format!("{:?}", "g".repeat(100))),
        );
        check(group_name(&"g".repeat(101)), Err("invalid_group_name"));
    }

    #[test]
    fn passwords_and_texts() {
        check(password("1234567"), Err("weak_password"));
        check(password("h7-quasar-lemon"), Ok("()"));
        check(password(&"p".repeat(128)), Ok("()"));
        check(password(&"p".repeat(129)), Err("invalid_password"));
        check(message_text("hola\nqué tal"), Ok("\"hola\\nqué tal\""));
        check(message_text(" \n "), Err("invalid_text"));
        check(message_text("nul\0"), Err("invalid_text"));
        check(
            message_text(&"x".repeat(10_000)).map(|t| t.len()),
            Ok("10000"),
        );
        check(message_text(&"x".repeat(10_001)), Err("text_too_long"));
        check(client_txn_id(""), Err("invalid_client_txn_id"));
        check(client_txn_id(&"t".repeat(65)), Err("invalid_client_txn_id"));
    }

    #[test]
    fn common_leaked_passwords_are_refused_in_any_case() {
        for common in [
            "12345678",
            "password1",
            "PassWord123",
            "iloveyou",
            "qwertyuiop",
        ] {
            check(password(common), Err("weak_password"));
        }
        let long_enough = COMMON_PASSWORDS
            .lines()
            .filter(|p| p.chars().count() >= PASSWORD_MIN)
            .count();
        assert!(
            long_enough >= 10_000,
            "{long_enough} listed passwords pass the length rule"
        );
        assert!(
            COMMON_PASSWORDS
                .lines()
                .filter(|p| p.chars().count() >= PASSWORD_MIN)
                .all(|p| password(p).is_err())
        );
    }
}
