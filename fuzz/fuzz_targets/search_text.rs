//! Message search terms (hilo_core::search): any query and any text, split at the first
//! newline, never panic; a highlight exists exactly when some query term matches the text,
//! and always when the whole query does (the rule both stores' indexes implement).
#![no_main]

use hilo_core::search::{SearchQuery, highlight, index_terms, matches, parse_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (query, text) = input.split_once('\n').unwrap_or((input, ""));
    let terms = index_terms([text]);
    assert_eq!(terms.is_empty(), hilo_core::search::words(text).is_empty());
    let Ok(query) = parse_query(query) else {
        return;
    };
    // A result matches every term; its highlight marks the words that match any of them.
    let marked = highlight(text, &query);
    let any_term = query.terms.iter().any(|t| {
        let one = SearchQuery {
            terms: vec![t.clone()],
        };
        matches(&one, text)
    });
    assert_eq!(marked.is_some(), any_term, "highlight and term matches disagree");
    if matches(&query, text) {
        assert!(marked.is_some(), "a matching text has a highlight");
    }
    if let Some(marked) = marked {
        assert!(marked.contains("<mark>"), "a highlight marks something");
    }
});
