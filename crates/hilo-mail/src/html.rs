//! A received mail's HTML, made safe to show: `ammonia` keeps a known-good set of tags
//! and attributes (no script, style, form, frame or event handler survives), links open
//! apart (`rel="noopener noreferrer nofollow"`), and no image loads from elsewhere, so
//! opening a mail tells its sender nothing (no tracking pixels).

/// `html` with everything unsafe or tracking taken out.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_relative(ammonia::UrlRelative::Deny)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            // A picture from elsewhere would tell its sender when the mail was read.
            ("img", "src" | "srcset") => None,
            _ => Some(value.into()),
        })
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn scripts_handlers_styles_and_remote_pictures_are_taken_out() {
        let dirty = concat!(
            "<p onclick=\"steal()\">Hola <b>Bob</b></p>",
            "<script>alert(1)</script><style>p{}</style>",
            "<img src=\"https://tracker.example/pixel.gif\" alt=\"logo\">",
            "<a href=\"javascript:alert(1)\">bad</a>",
            "<a href=\"https://example.org/\">good</a>",
            "<iframe src=\"https://example.org\"></iframe><form action=\"/x\"><input></form>",
        );
        let clean = sanitize(dirty);
        for gone in [
            "onclick", "script", "alert", "style", "tracker", "iframe", "form", "input",
        ] {
            assert!(!clean.contains(gone), "{gone} in {clean}");
        }
        assert!(clean.contains("<b>Bob</b>"), "{clean}");
        assert!(clean.contains("alt=\"logo\""), "{clean}");
        assert!(
            clean.contains(
                "<a href=\"https://example.org/\" rel=\"noopener noreferrer nofollow\">good</a>"
            ),
            "{clean}"
        );
    }
}
