//! What a word is for message search, defined once for both stores and the highlighter.
//!
//! A text is cut into words (runs of letters and digits, with any combining marks inside
//! them); each word is folded (lower case, accents dropped: "Publicación" → "publicacion",
//! "CAFÉ" → "cafe") and stemmed in Spanish and English ("mensajes" → "mensaj"). A store
//! indexes a message's folded words and, apart, their stems; a query term matches a word
//! that starts with it ("reserv" finds "reservamos") or a word with one of its stems
//! ("mensajes" finds "mensaje"). Folding here rather than in each database keeps SQLite
//! FTS5 and PostgreSQL full-text agreeing on every term: their own tokenizers cut URLs,
//! e-mail addresses and hyphenated words differently, so each gets the terms ready-made.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::validate::ValidationError;

/// Longest query, in characters.
pub const QUERY_MAX_CHARS: usize = 256;
/// Most words a query may have.
pub const QUERY_TERMS_MAX: usize = 12;
/// Words longer than this, in characters, are indexed and matched by their beginning.
pub const WORD_MAX_CHARS: usize = 64;
/// How much text a highlight shows around the first match, in characters.
pub const SNIPPET_CHARS: usize = 160;

/// A word of a text: where it is (byte offsets into the original) and its folded form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// First byte of the word in the original text.
    pub start: usize,
    /// The byte after the word's last.
    pub end: usize,
    /// Lower case, without accents, at most [`WORD_MAX_CHARS`] characters.
    pub folded: String,
}

/// The words of `text`, in order.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        let in_word = c.is_alphanumeric() || (start.is_some() && is_combining_mark(c));
        match (in_word, start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                out.push(word(text, from, at));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        out.push(word(text, from, text.len()));
    }
    out.retain(|w| !w.folded.is_empty());
    out
}

fn word(text: &str, start: usize, end: usize) -> Word {
    Word {
        start,
        end,
        folded: fold(&text[start..end]),
    }
}

/// Lower case without accents, cut to [`WORD_MAX_CHARS`] characters.
pub fn fold(word: &str) -> String {
    word.to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .take(WORD_MAX_CHARS)
        .collect()
}

/// The stems of a word (Spanish and English, each of the word as written and folded),
/// folded, without repeats and without the folded word itself.
fn stems(original: &str, folded: &str) -> Vec<String> {
    if folded.chars().any(|c| c.is_numeric()) || folded.chars().count() < 3 {
        return Vec::new();
    }
    let lower = original.to_lowercase();
    let mut out: Vec<String> = Vec::with_capacity(2);
    for algorithm in [Algorithm::Spanish, Algorithm::English] {
        let stemmer = Stemmer::create(algorithm);
        for form in [lower.as_str(), folded] {
            let stem = fold(&stemmer.stem(form));
            if !stem.is_empty() && stem != folded && !out.contains(&stem) {
                out.push(stem);
            }
        }
    }
    out
}

/// What a store indexes for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexTerms {
    /// The folded words, in order (repeats kept: they count for relevance).
    pub words: Vec<String>,
    /// The stems of those words, in order.
    pub stems: Vec<String>,
}

impl IndexTerms {
    /// Nothing to index.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// The terms to index for a message: its text and the names of its attachments.
pub fn index_terms<'a>(parts: impl IntoIterator<Item = &'a str>) -> IndexTerms {
    let mut terms = IndexTerms::default();
    for part in parts {
        for w in words(part) {
            terms.stems.extend(stems(&part[w.start..w.end], &w.folded));
            terms.words.push(w.folded);
        }
    }
    terms
}

/// One word of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTerm {
    /// Folded: matches any word that starts with it.
    pub word: String,
    /// Folded stems: each matches a word with that stem.
    pub stems: Vec<String>,
}

impl QueryTerm {
    /// Whether an indexed word (folded, with its stems) matches this term.
    fn matches(&self, folded: &str, word_stems: &[String]) -> bool {
        folded.starts_with(&self.word)
            || self
                .stems
                .iter()
                .any(|s| s == folded || word_stems.contains(s))
    }
}

/// A parsed query: every term must match (in any order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The terms, without repeats.
    pub terms: Vec<QueryTerm>,
}

/// Parses a search query: 1 to [`QUERY_MAX_CHARS`] characters holding 1 to
/// [`QUERY_TERMS_MAX`] words. Punctuation is not syntax: quotes, `*`, `-` or `OR` in a
/// query are plain characters, so nothing a user types reaches the engines' query
/// languages.
pub fn parse_query(query: &str) -> Result<SearchQuery, ValidationError> {
    if query.chars().count() > QUERY_MAX_CHARS {
        return Err(ValidationError::new(
            "invalid_query",
            format!("q has at most {QUERY_MAX_CHARS} characters"),
        ));
    }
    let mut terms: Vec<QueryTerm> = Vec::new();
    for w in words(query) {
        if terms.iter().any(|t| t.word == w.folded) {
            continue;
        }
        let stems = stems(&query[w.start..w.end], &w.folded);
        terms.push(QueryTerm {
            word: w.folded,
            stems,
        });
    }
    if terms.is_empty() {
        return Err(ValidationError::new(
            "invalid_query",
            "q must contain at least one word (letters or digits)",
        ));
    }
    if terms.len() > QUERY_TERMS_MAX {
        return Err(ValidationError::new(
            "invalid_query",
            format!("q has at most {QUERY_TERMS_MAX} words"),
        ));
    }
    Ok(SearchQuery { terms })
}

/// Whether `text` holds a match for every term (the rule the stores implement).
pub fn matches(query: &SearchQuery, text: &str) -> bool {
    let indexed: Vec<(String, Vec<String>)> = words(text)
        .into_iter()
        .map(|w| {
            let s = stems(&text[w.start..w.end], &w.folded);
            (w.folded, s)
        })
        .collect();
    query
        .terms
        .iter()
        .all(|t| indexed.iter().any(|(w, s)| t.matches(w, s)))
}

/// A highlight of `text` for `query`: the text (or, when longer than
/// [`SNIPPET_CHARS`], a window around the first match, with `…` where it was cut),
/// HTML-escaped, with each matching word wrapped in `<mark>` and `</mark>`. `None` when
/// no word matches.
pub fn highlight(text: &str, query: &SearchQuery) -> Option<String> {
    let hits: Vec<Word> = words(text)
        .into_iter()
        .filter(|w| {
            let s = stems(&text[w.start..w.end], &w.folded);
            query.terms.iter().any(|t| t.matches(&w.folded, &s))
        })
        .collect();
    let first = hits.first()?;
    let (from, to) = window(text, first.start, first.end);
    let mut out = String::with_capacity(to - from + 32);
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for hit in hits.iter().filter(|h| h.start >= from && h.end <= to) {
        escape_into(&mut out, &text[at..hit.start]);
        out.push_str("<mark>");
        escape_into(&mut out, &text[hit.start..hit.end]);
        out.push_str("</mark>");
        at = hit.end;
    }
    escape_into(&mut out, &text[at..to]);
    if to < text.len() {
        out.push('…');
    }
    Some(out)
}

/// Byte bounds of at most [`SNIPPET_CHARS`] characters of `text` around a match, starting
/// a third of the window before it and cut at spaces where one is near.
fn window(text: &str, hit_start: usize, hit_end: usize) -> (usize, usize) {
    if text.chars().count() <= SNIPPET_CHARS {
        return (0, text.len());
    }
    let before: Vec<usize> = text[..hit_start].char_indices().map(|(i, _)| i).collect();
    let lead = SNIPPET_CHARS / 3;
    let mut from = before
        .len()
        .checked_sub(lead)
        .map_or(0, |first| before[first]);
    if from > 0
        && let Some(space) = text[from..hit_start].find(char::is_whitespace)
    {
        from += space + 1;
    }
    let hit_chars = text[hit_start..hit_end].chars().count();
    let room = SNIPPET_CHARS.saturating_sub(text[from..hit_start].chars().count() + hit_chars);
    let mut to = text[hit_end..]
        .char_indices()
        .nth(room)
        .map_or(text.len(), |(i, _)| hit_end + i);
    if to < text.len()
        && let Some(space) = text[hit_end..to].rfind(char::is_whitespace)
    {
        to = hit_end + space;
    }
    (from, to)
}

/// `text` with `&`, `<`, `>` and `"` escaped for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> SearchQuery {
        parse_query(text).expect("a valid query")
    }

    #[test]
    fn accents_and_case_do_not_matter() {
        assert!(matches(&q("publicacion"), "Mira la publicación de ayer"));
        assert!(matches(&q("CAFE"), "un café?"));
        assert!(matches(&q("café"), "CAFE con leche"));
        assert!(matches(&q("espana"), "Viva España"));
        // Decomposed input (e + combining acute) is one word, folded the same.
        assert!(matches(&q("cafe"), "cafe\u{301} solo"));
        assert_eq!(fold("ÀÉÎÕÜ"), "aeiou");
    }

    #[test]
    fn word_forms_and_prefixes_match() {
        assert!(matches(&q("mensaje"), "tres mensajes nuevos"));
        assert!(matches(&q("mensajes"), "un mensaje"));
        assert!(matches(&q("reserv"), "ya reservamos mesa"));
        assert!(matches(&q("running"), "I run every day"));
        assert!(matches(&q("publicaciones"), "la publicación"));
        assert!(!matches(&q("mesa"), "ya reservamos"));
    }

    #[test]
    fn every_term_must_match() {
        assert!(matches(&q("mesa reserv"), "reservamos mesa"));
        assert!(!matches(&q("mesa reserv lunes"), "reservamos mesa"));
    }

    #[test]
    fn queries_have_limits_and_no_syntax() {
        assert_eq!(
            parse_query("  ¡¿!? ").map_err(|e| e.code),
            Err("invalid_query")
        );
        assert_eq!(
            parse_query(&"a".repeat(QUERY_MAX_CHARS + 1)).map_err(|e| e.code),
            Err("invalid_query")
        );
        let many = (0..=QUERY_TERMS_MAX)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(parse_query(&many).map_err(|e| e.code), Err("invalid_query"));
        let parsed = q("\"hola\" OR -mundo* NEAR(x)");
        let words: Vec<&str> = parsed.terms.iter().map(|t| t.word.as_str()).collect();
        assert_eq!(words, ["hola", "or", "mundo", "near", "x"]);
        assert_eq!(q("Hola hola HOLA").terms.len(), 1);
    }

    #[test]
    fn index_terms_keep_words_and_stems() {
        let terms = index_terms(["Tres Mensajes", "foto.JPG"]);
        assert_eq!(terms.words, ["tres", "mensajes", "foto", "jpg"]);
        assert!(terms.stems.contains(&"mensaj".to_owned()));
        assert!(index_terms([" -- "]).is_empty());
    }

    #[test]
    fn highlights_mark_matches_and_escape_the_rest() {
        assert_eq!(
            highlight("<b>Café</b> & más cafés", &q("cafe")).as_deref(),
            Some("&lt;b&gt;<mark>Café</mark>&lt;/b&gt; &amp; más <mark>cafés</mark>")
        );
        assert_eq!(highlight("nada", &q("cafe")), None);
        let long = format!("{} aguja {}", "paja ".repeat(100), "heno ".repeat(100));
        let h = highlight(&long, &q("aguja")).expect("a match");
        assert!(h.starts_with('…') && h.ends_with('…'), "{h}");
        assert!(h.contains("<mark>aguja</mark>"));
        let shown = h.replace("<mark>", "").replace("</mark>", "");
        assert!(shown.chars().count() <= SNIPPET_CHARS + 2, "{shown}");
        // Multi-byte text around the cut points.
        let wide = format!("{} ñandú {}", "ü ".repeat(150), "é".repeat(300));
        assert!(highlight(&wide, &q("nandu")).is_some());
    }
}
