//! Every message of the corpus (`tests/corpus/README.md`) parses without a panic, and
//! ours read as they should: charsets, transfer encodings, parts and quotes.

use std::path::Path;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = Vec::new();
    for dir in ["rfc", "thirdparty", "malformed", "hilo"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("corpus folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).expect("corpus file");
            files.push((
                format!(
                    "{dir}/{}",
                    path.file_name().expect("name").to_string_lossy()
                ),
                bytes,
            ));
        }
    }
    files
}

fn ours(name: &str) -> hilo_mail::ParsedMail {
    let (_, bytes) = corpus()
        .into_iter()
        .find(|(n, _)| n == &format!("hilo/{name}"))
        .expect("corpus file");
    hilo_mail::parse(&bytes).expect("parses")
}

#[test]
fn every_corpus_message_parses_or_is_refused_without_a_panic() {
    let files = corpus();
    assert!(files.len() > 50, "the corpus is there: {}", files.len());
    let mut read = 0;
    for (name, bytes) in &files {
        if let Ok(mail) = hilo_mail::parse(bytes) {
            read += 1;
            assert!(
                mail.attachments.len() <= hilo_mail::parse::MAX_ATTACHMENTS,
                "{name}"
            );
            assert!(
                mail.to.len() + mail.cc.len() <= hilo_mail::parse::MAX_ADDRESSES,
                "{name}"
            );
            // Nothing PostgreSQL cannot store, nothing that does not show.
            for text in [
                &mail.text,
                &mail.full_text,
                mail.html.as_ref().unwrap_or(&String::new()),
            ] {
                assert!(
                    !text
                        .chars()
                        .any(|c| c.is_control() && c != '\n' && c != '\t'),
                    "{name}"
                );
            }
            for one_line in mail
                .subject
                .iter()
                .chain(mail.from.iter().filter_map(|f| f.name.as_ref()))
            {
                assert!(!one_line.chars().any(char::is_control), "{name}");
            }
        }
    }
    assert!(
        read * 10 >= files.len() * 9,
        "most of the corpus reads: {read} of {}",
        files.len()
    );
}

#[test]
fn spanish_in_latin1_and_windows_1252_is_decoded() {
    let mail = ours("latin1.eml");
    assert_eq!(mail.text, "¿Nos vemos mañana en la reunión? Añade el café.");
    assert_eq!(mail.subject.as_deref(), Some("Reunión mañana"));
    assert_eq!(
        mail.from.as_ref().and_then(|f| f.name.as_deref()),
        Some("José Muñoz")
    );
    let mail = ours("cp1252.eml");
    assert_eq!(mail.text, "El precio es 20 € – \"“oferta”\" para niños.");
}

#[test]
fn alternative_parts_prefer_text_and_keep_html_attachments_and_recipients() {
    let mail = ours("alternative.eml");
    assert_eq!(mail.text, "Hola, ¿qué tal? Te envío el informe.");
    assert!(mail.html.as_deref().is_some_and(|h| h.contains("<b>")));
    assert_eq!(mail.attachments.len(), 1);
    assert_eq!(mail.attachments[0].name, "informe.pdf");
    assert_eq!(mail.attachments[0].content_type, "application/pdf");
    assert_eq!(mail.attachments[0].bytes, b"%PDF-1.4 fake report\n");
    let to: Vec<_> = mail.to.iter().map(|a| a.address.as_str()).collect();
    assert_eq!(to, ["bob@localhost", "carol@example.org"]);
    assert_eq!(mail.cc[0].address, "dan@example.org");
}

#[test]
fn html_only_mail_becomes_text() {
    let mail = ours("html-only.eml");
    assert!(mail.text.contains("First para"), "{}", mail.text);
    assert!(mail.text.contains("Second & last"), "{}", mail.text);
    assert!(!mail.text.contains('<'), "{}", mail.text);
    assert!(mail.html.is_some());
}

#[test]
fn a_reply_shows_only_what_is_new() {
    let mail = ours("reply.eml");
    assert_eq!(mail.text, "Yes, at one.");
    assert_eq!(mail.references, ["b0@localhost", "b1@localhost"]);
}
