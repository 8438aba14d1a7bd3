//! The keywords carriers and providers give a meaning (CTIA; Twilio's default opt-out
//! handling): a text that is only one of them, in any case and with spaces around it,
//! opts its sender out of texts, back in, or asks for help. "STOP please" is a message.

/// What a keyword asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Send me nothing more.
    Stop,
    /// Send me texts again.
    Start,
    /// What is this?
    Help,
}

const STOP: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const START: [&str; 3] = ["START", "YES", "UNSTOP"];
const HELP: [&str; 2] = ["HELP", "INFO"];

/// The keyword a text is, if it is one.
pub fn keyword(text: &str) -> Option<Keyword> {
    let word = text.trim();
    let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
    if is(&STOP) {
        Some(Keyword::Stop)
    } else if is(&START) {
        Some(Keyword::Start)
    } else if is(&HELP) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_text_in_any_case_is_a_keyword() {
        for stop in [
            "STOP",
            "stop",
            " sToP \n",
            "Unsubscribe",
            "OPTOUT",
            "stopall",
            "quit",
        ] {
            assert_eq!(keyword(stop), Some(Keyword::Stop), "{stop}");
        }
        for start in ["START", "yes", "Unstop"] {
            assert_eq!(keyword(start), Some(Keyword::Start), "{start}");
        }
        assert_eq!(keyword("help"), Some(Keyword::Help));
        assert_eq!(keyword("INFO"), Some(Keyword::Help));
        for text in ["STOP please", "stopp", "", "no", "¿STOP?", "S T O P"] {
            assert_eq!(keyword(text), None, "{text}");
        }
    }
}
