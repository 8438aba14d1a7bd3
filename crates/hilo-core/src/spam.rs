//! The spam filter for first-contact messages: a naive Bayes text model (Paul Graham's
//! "A Plan for Spam" with Gary Robinson's correction for rare words) plus behaviour
//! signals, all pure: the counts come from the caller (the shipped model plus what this
//! server learned), the verdict goes back.
//!
//! A message's features are the distinct words of `crate::search::words` (folded, so
//! accents and case do not matter) of 2 to 24 characters, plus `__link` for each link.
//! Each feature's spam probability is Robinson's `f(w) = (s·x + n·p(w)) / (s + n)` with
//! `p(w)` the share of spam among the documents holding it (each class's count divided by
//! that class's document count), `n` its document count, strength `s = 1` and
//! `x = 0.5` for an unseen word. The [`INTERESTING`] features farthest from 0.5 are
//! combined as a sum of log-odds; behaviour signals add their own log-odds; the message
//! is spam when the combined probability is at least [`SPAM_THRESHOLD`].

use std::collections::{BTreeSet, HashMap};

/// How many of a message's features decide (the ones farthest from neutral).
pub const INTERESTING: usize = 15;
/// The combined probability from which a message is spam.
pub const SPAM_THRESHOLD: f64 = 0.9;
/// Features per message at most (the first ones).
pub const FEATURES_MAX: usize = 500;
/// New conversations one sender may open within an hour before that counts against them.
pub const BURST_CONVERSATIONS: i64 = 10;
/// Recipients of one identical text within a day before that counts against its sender.
pub const SAME_TEXT_RECIPIENTS: i64 = 5;

const LINK: &str = "__link";
const STRENGTH: f64 = 1.0;
const UNKNOWN: f64 = 0.5;
/// Log-odds a behaviour signal adds.
const BURST_WEIGHT: f64 = 4.0;
const SAME_TEXT_WEIGHT: f64 = 4.0;
const LINK_HEAVY_WEIGHT: f64 = 4.0;

/// The features of a text: its distinct folded words of 2–24 characters outside links
/// and `__link` if it has any link, at most [`FEATURES_MAX`]. A link's own words (`https`,
/// a domain) say little and date fast, so they are left out.
pub fn features(text: &str) -> Vec<String> {
    let (words, links) = without_links(text);
    let mut out: BTreeSet<String> = BTreeSet::new();
    for word in crate::search::words(&words) {
        let n = word.folded.chars().count();
        if (2..=24).contains(&n) {
            out.insert(word.folded);
        }
        if out.len() >= FEATURES_MAX {
            break;
        }
    }
    let mut features: Vec<String> = out.into_iter().collect();
    if links > 0 {
        features.push(LINK.to_owned());
    }
    features
}

/// The text with its links (web and e-mail addresses, as `crate::message::links` finds
/// them) replaced by spaces, and how many there were.
fn without_links(text: &str) -> (String, usize) {
    let mut finder = linkify::LinkFinder::new();
    finder.url_must_have_scheme(false);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut count = 0;
    for link in finder.links(text) {
        out.push_str(&text[at..link.start()]);
        out.push(' ');
        at = link.end();
        count += 1;
    }
    out.push_str(&text[at..]);
    (out, count)
}

/// Document counts: how many spam and ham documents were seen, and per feature how many
/// of each held it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Spam documents seen.
    pub spam_docs: u64,
    /// Ham (not spam) documents seen.
    pub ham_docs: u64,
    /// Per feature: (spam documents, ham documents) holding it.
    pub features: HashMap<String, (u64, u64)>,
}

impl Counts {
    /// Counts one document.
    pub fn learn(&mut self, features: &[String], spam: bool) {
        if spam {
            self.spam_docs += 1;
        } else {
            self.ham_docs += 1;
        }
        for feature in features {
            let entry = self.features.entry(feature.clone()).or_default();
            if spam {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }

    /// The document counts and only the given features' counts: what judging a message
    /// with these features needs.
    pub fn subset(&self, features: &[String]) -> Counts {
        Counts {
            spam_docs: self.spam_docs,
            ham_docs: self.ham_docs,
            features: features
                .iter()
                .filter_map(|f| self.features.get(f).map(|c| (f.clone(), *c)))
                .collect(),
        }
    }

    /// These counts plus `other`'s.
    pub fn plus(&self, other: &Counts) -> Counts {
        let mut sum = self.clone();
        sum.spam_docs += other.spam_docs;
        sum.ham_docs += other.ham_docs;
        for (feature, (s, h)) in &other.features {
            let entry = sum.features.entry(feature.clone()).or_default();
            entry.0 += s;
            entry.1 += h;
        }
        sum
    }

    /// Robinson's spam probability of one feature.
    fn probability(&self, feature: &str) -> f64 {
        let Some(&(s, h)) = self.features.get(feature) else {
            return UNKNOWN;
        };
        let n = (s + h) as f64;
        if n == 0.0 {
            return UNKNOWN;
        }
        let spam_share = s as f64 / self.spam_docs.max(1) as f64;
        let ham_share = h as f64 / self.ham_docs.max(1) as f64;
        let p = spam_share / (spam_share + ham_share);
        (STRENGTH * UNKNOWN + n * p) / (STRENGTH + n)
    }

    /// The text model's log-odds that a message with these features is spam.
    pub fn log_odds(&self, features: &[String]) -> f64 {
        let mut probabilities: Vec<f64> = features
            .iter()
            .map(|f| self.probability(f).clamp(0.01, 0.99))
            .collect();
        probabilities.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        probabilities
            .iter()
            .take(INTERESTING)
            .map(|p| (p / (1.0 - p)).ln())
            .sum()
    }

    /// Parses counts from the model file format: a first line `#docs <TAB> spam <TAB>
    /// ham`, then `feature <TAB> spam <TAB> ham` lines. `None` if malformed.
    pub fn parse(text: &str) -> Option<Counts> {
        let mut lines = text.lines();
        let mut head = lines.next()?.split('\t');
        if head.next()? != "#docs" {
            return None;
        }
        let mut counts = Counts {
            spam_docs: head.next()?.parse().ok()?,
            ham_docs: head.next()?.parse().ok()?,
            features: HashMap::new(),
        };
        for line in lines.filter(|l| !l.is_empty()) {
            let mut cells = line.split('\t');
            let feature = cells.next()?.to_owned();
            let s = cells.next()?.parse().ok()?;
            let h = cells.next()?.parse().ok()?;
            counts.features.insert(feature, (s, h));
        }
        Some(counts)
    }

    /// The model file format (see [`Counts::parse`]), features sorted, keeping only those
    /// seen in at least `min_docs` documents.
    pub fn render(&self, min_docs: u64) -> String {
        let mut kept: Vec<(&String, &(u64, u64))> = self
            .features
            .iter()
            .filter(|(_, (s, h))| s + h >= min_docs)
            .collect();
        kept.sort();
        let mut out = format!("#docs\t{}\t{}\n", self.spam_docs, self.ham_docs);
        for (feature, (s, h)) in kept {
            out.push_str(&format!("{feature}\t{s}\t{h}\n"));
        }
        out
    }
}

/// What the sender did around a first-contact message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Conversations the sender opened (sent the first message of) in the last hour,
    /// this one included.
    pub new_conversations_last_hour: i64,
    /// Conversations the sender sent this exact text to in the last day, this one
    /// included.
    pub same_text_recipients_last_day: i64,
}

/// Why a message was judged as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Spam or not.
    pub spam: bool,
    /// The combined probability.
    pub probability: f64,
    /// The behaviour signals that counted: `burst`, `same_text`, `link_heavy`.
    pub signals: Vec<&'static str>,
}

/// Judges a first-contact message.
pub fn judge(model: &Counts, text: &str, behaviour: Behaviour) -> Verdict {
    let features = features(text);
    let mut log_odds = model.log_odds(&features);
    let mut signals = Vec::new();
    if behaviour.new_conversations_last_hour > BURST_CONVERSATIONS {
        log_odds += BURST_WEIGHT;
        signals.push("burst");
    }
    if behaviour.same_text_recipients_last_day > SAME_TEXT_RECIPIENTS {
        log_odds += SAME_TEXT_WEIGHT;
        signals.push("same_text");
    }
    let (rest, links) = without_links(text);
    let words = crate::search::words(&rest).len();
    // Two links or more, with at most two words around each.
    if links >= 2 && links * 2 >= words {
        log_odds += LINK_HEAVY_WEIGHT;
        signals.push("link_heavy");
    }
    let probability = 1.0 / (1.0 + (-log_odds).exp());
    Verdict {
        spam: probability >= SPAM_THRESHOLD,
        probability,
        signals,
    }
}

/// The model hilo ships: counts from the training part of the SpamAssassin public corpus
/// (see docs/spam.md for where it comes from, how it is rebuilt, and how it scores).
pub fn shipped() -> &'static Counts {
    static MODEL: std::sync::OnceLock<Counts> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| Counts::parse(include_str!("../data/spam-model.tsv")).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Counts {
        let mut counts = Counts::default();
        for _ in 0..20 {
            counts.learn(&features("win a free prize now, claim cash"), true);
            counts.learn(&features("are we still meeting for lunch tomorrow"), false);
        }
        counts
    }

    #[test]
    fn features_are_distinct_folded_words_and_links() {
        assert_eq!(
            features("Gratis GRATIS gratís! x https://a.example/p"),
            ["gratis", "__link"]
        );
    }

    #[test]
    fn the_text_model_tells_spam_from_ham_and_unknown_words_are_neutral() {
        let model = toy();
        let none = Behaviour::default();
        assert!(judge(&model, "Claim your FREE prize", none).spam);
        assert!(!judge(&model, "lunch tomorrow?", none).spam);
        let unknown = judge(&model, "zorblax quuxify", none);
        assert!((unknown.probability - 0.5).abs() < 1e-9, "{unknown:?}");
    }

    #[test]
    fn behaviour_signals_tip_an_innocent_text() {
        let model = toy();
        let text = "hello there";
        assert!(!judge(&model, text, Behaviour::default()).spam);
        let burst = Behaviour {
            new_conversations_last_hour: BURST_CONVERSATIONS + 1,
            ..Behaviour::default()
        };
        assert_eq!(judge(&model, text, burst).signals, ["burst"]);
        assert!(judge(&model, text, burst).spam);
        let same = Behaviour {
            same_text_recipients_last_day: SAME_TEXT_RECIPIENTS + 1,
            ..Behaviour::default()
        };
        assert!(judge(&model, text, same).spam);
        let links = judge(
            &model,
            "mira https://a.example/1 https://b.example/2",
            Behaviour::default(),
        );
        assert_eq!(
            (links.spam, links.signals.clone()),
            (true, vec!["link_heavy"])
        );
        // One link in a real sentence is not heavy.
        assert!(
            judge(
                &model,
                "here is the menu for lunch tomorrow https://a.example/menu",
                Behaviour::default()
            )
            .signals
            .is_empty()
        );
    }

    #[test]
    fn counts_round_trip_through_the_model_format() {
        let model = toy();
        assert_eq!(Counts::parse(&model.render(1)), Some(model.clone()));
        assert_eq!(Counts::parse("garbage"), None);
        let summed = model.plus(&model);
        assert_eq!(summed.spam_docs, 40);
        assert_eq!(summed.features["prize"], (40, 0));
    }

    #[test]
    fn the_shipped_model_loads_and_judges_plain_spam_and_chat() {
        let model = shipped();
        assert!(
            model.spam_docs > 1000 && model.ham_docs > 3000,
            "{}",
            model.spam_docs
        );
        let none = Behaviour::default();
        assert!(
            judge(
                model,
                "Congratulations! You have been selected to receive a FREE credit card offer. Click here to claim, limited time, act now",
                none
            )
            .spam
        );
        assert!(
            !judge(
                model,
                "hey, are we still on for the meeting tomorrow?",
                none
            )
            .spam
        );
    }
}
