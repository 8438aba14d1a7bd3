//! A raw mail (T7 1 and 6): hilo's reading of it (mail-parser underneath: headers, ids,
//! charsets, the text without quoted history, the files) and the sanitiser its HTML goes
//! through never panic, and no tag the sanitiser gives back carries a script, style,
//! frame, event handler, script link or anything loaded from elsewhere.
#![no_main]

#[path = "mail_common.rs"]
mod mail_common;

use libfuzzer_sys::fuzz_target;

/// The tags of sanitised HTML: `<` in text is escaped, so one opens a tag, which runs to
/// the first `>` outside a quoted attribute value.
fn tags(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (at, c) in html.char_indices() {
        match (start, c) {
            (None, '<') => start = Some(at + 1),
            (Some(_), '"') => quoted = !quoted,
            (Some(from), '>') if !quoted => {
                found.push(&html[from..at]);
                start = None;
            }
            _ => {}
        }
    }
    found
}

/// A serialised tag's name and attributes (values always in double quotes, `"` escaped).
fn parts(tag: &str) -> (&str, Vec<(&str, &str)>) {
    let tag = tag.trim_start_matches('/');
    let (name, mut rest) = tag.split_once(' ').unwrap_or((tag, ""));
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest == "/" {
            break;
        }
        let end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let (attribute, after) = rest.split_at(end);
        if let Some(value) = after.strip_prefix("=\"") {
            let close = value.find('"').unwrap_or(value.len());
            attributes.push((attribute, &value[..close]));
            rest = value.get(close + 1..).unwrap_or("");
        } else {
            attributes.push((attribute, ""));
            rest = after;
        }
    }
    (name, attributes)
}

fn check(html: &str) {
    let clean = hilo_mail::html::sanitize(html);
    for tag in tags(&clean) {
        let lower = tag.to_ascii_lowercase();
        let (name, attributes) = parts(&lower);
        assert!(
            !matches!(
                name,
                "script" | "style" | "iframe" | "object" | "embed" | "form" | "input" | "link" | "meta" | "base"
            ),
            "<{tag}> survived"
        );
        for (attribute, value) in attributes {
            assert!(!attribute.starts_with("on"), "a handler survived: <{tag}>");
            assert!(
                !matches!(attribute, "src" | "srcset" | "style" | "background"),
                "<{tag}> loads or styles"
            );
            if attribute == "href" {
                let target = value.trim_start();
                assert!(
                    !target.starts_with("javascript:") && !target.starts_with("data:"),
                    "<{tag}> runs script"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    mail_common::tolerate_mail_parser_panics();
    if let Ok(mail) = hilo_mail::parse(data)
        && let Some(html) = &mail.html
    {
        check(html);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});
