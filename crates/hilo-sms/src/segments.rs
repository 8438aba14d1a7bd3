//! How a text travels as SMS: GSM-7 when every character is in the GSM 03.38 alphabet
//! (3GPP TS 23.038; an extension character costs two septets), otherwise UCS-2 for the
//! whole text (a character outside the Basic Multilingual Plane costs two units). One
//! segment holds 160 septets or 70 units; a text longer than that is sent in parts of
//! 153 septets or 67 units (each part carries a 6-octet header). A character is never
//! split between parts: an escape pair or a surrogate pair that does not fit moves whole
//! to the next part, as Twilio counts.
//!
//! Spanish: `é É ñ Ñ ü Ü ¿ ¡ à è ì ò ù Ç` are GSM-7; `á í ó ú Á Í Ó Ú ç` are not, and
//! one of them makes the whole text UCS-2 (a 160-character text becomes three parts).

/// The GSM 03.38 basic alphabet (codes 0x00–0x7F but the escape 0x1B), one septet each.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table: escape + code, two septets each.
const EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 7-bit default alphabet.
    Gsm7,
    /// UTF-16 (UCS-2 as carriers call it).
    Ucs2,
}

impl Encoding {
    /// `gsm7` or `ucs2`, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

/// What a text costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// Its encoding.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) in all.
    pub units: usize,
    /// Parts it is sent in (0 for an empty text).
    pub count: usize,
}

/// The septets a character costs in GSM-7; `None` when it is not in the alphabet.
fn septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// What `text` costs as SMS.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<Vec<usize>> = text.chars().map(septets).collect();
    let (encoding, costs, single, part) = match gsm {
        Some(costs) => (Encoding::Gsm7, costs, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units: usize = costs.iter().sum();
    let count = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        // Fill parts whole characters at a time.
        let mut count = 1;
        let mut used = 0;
        for cost in costs {
            if used + cost > part {
                count += 1;
                used = 0;
            }
            used += cost;
        }
        count
    };
    Segments {
        encoding,
        units,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_has_every_character_once() {
        assert_eq!(BASIC.chars().count(), 127);
        assert_eq!(EXTENSION.chars().count(), 10);
        let mut all: Vec<char> = BASIC.chars().chain(EXTENSION.chars()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 137);
    }

    #[test]
    fn gsm7_texts_take_160_then_153_septets_a_part() {
        let count = |n: usize| segments(&"a".repeat(n));
        assert_eq!(count(0).count, 0);
        assert_eq!(
            count(160),
            Segments {
                encoding: Encoding::Gsm7,
                units: 160,
                count: 1
            }
        );
        assert_eq!(count(161).count, 2);
        assert_eq!(count(306).count, 2);
        assert_eq!(count(307).count, 3);
        // An extension character costs two septets: 80 euro signs fill one segment.
        assert_eq!(segments(&"€".repeat(80)).units, 160);
        assert_eq!(segments(&"€".repeat(80)).count, 1);
        assert_eq!(segments(&"€".repeat(81)).count, 2);
        // An escape pair is never split: 152 septets then a euro sign go to a second part
        // of their own.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(segments(&text).units, 164);
        assert_eq!(segments(&text).count, 2);
        let edge = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&edge).count, 3);
    }

    #[test]
    fn spanish_accents_that_are_not_gsm7_make_the_whole_text_ucs2() {
        let gsm = segments("¿Qué tal? ¡Mañana comemos en Logroño, Begoña!");
        assert_eq!(gsm.encoding, Encoding::Gsm7);
        assert_eq!(gsm.count, 1);
        let ucs = segments("¿Vienes mañana? Está en el salón");
        assert_eq!(ucs.encoding, Encoding::Ucs2);
        // 160 letters with one "á": three parts of at most 67 units.
        let long = format!("{}á", "a".repeat(159));
        assert_eq!(
            segments(&long),
            Segments {
                encoding: Encoding::Ucs2,
                units: 160,
                count: 3
            }
        );
        assert_eq!(segments(&"á".repeat(70)).count, 1);
        assert_eq!(segments(&"á".repeat(71)).count, 2);
        for c in ['á', 'í', 'ó', 'ú', 'Á', 'Í', 'Ó', 'Ú', 'ç'] {
            assert_eq!(segments(&c.to_string()).encoding, Encoding::Ucs2, "{c}");
        }
        for c in [
            'é', 'É', 'ñ', 'Ñ', 'ü', 'Ü', '¿', '¡', 'à', 'è', 'ì', 'ò', 'ù', 'Ç',
        ] {
            assert_eq!(segments(&c.to_string()).encoding, Encoding::Gsm7, "{c}");
        }
    }

    #[test]
    fn an_emoji_is_two_units_and_never_split() {
        assert_eq!(segments(&"😀".repeat(35)).units, 70);
        assert_eq!(segments(&"😀".repeat(35)).count, 1);
        assert_eq!(segments(&"😀".repeat(36)).count, 2);
        assert_eq!(segments(&format!("{}😀", "á".repeat(68))).count, 1);
        assert_eq!(segments(&format!("{}😀", "á".repeat(69))).count, 2);
        // 66 units then an emoji: it moves whole to the second part, so 134 units take
        // three parts where a split pair would fit in two.
        let text = format!("{}😀{}", "á".repeat(66), "á".repeat(66));
        assert_eq!(segments(&text).units, 134);
        assert_eq!(segments(&text).count, 3);
    }
}
