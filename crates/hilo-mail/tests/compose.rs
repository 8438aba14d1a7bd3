//! Composed mail: threading headers, `Auto-Submitted`, attachments, names and subjects that
//! cannot inject headers, and a DKIM signature a receiver verifies.

use hilo_mail::send::{MailList, OutgoingFile, OutgoingMail, compose};
use hilo_mail::{Authenticator, DkimKey, DnsMode, DnsRecord, RecordType};

fn mail() -> OutgoingMail {
    OutgoingMail {
        from_name: "Ana Ruiz".into(),
        from_address: "ana@a.test".into(),
        reply_to: None,
        to: vec![("bob@b.test".into(), Some("Bob".into()))],
        subject: "Re: Lunch".into(),
        message_id: "m2@a.test".into(),
        in_reply_to: Some("m1@b.test".into()),
        references: vec!["m0@a.test".into(), "m1@b.test".into()],
        text: "Sí, a la una.".into(),
        files: Vec::new(),
        auto_submitted: "no",
        list: None,
    }
}

fn headers(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

#[test]
fn threading_headers_and_auto_submitted_are_set() {
    let bytes = compose(&mail(), None).expect("composes");
    let head = headers(&bytes);
    for expected in [
        "Message-ID: <m2@a.test>",
        "In-Reply-To: <m1@b.test>",
        "References: <m0@a.test> <m1@b.test>",
        "Auto-Submitted: no",
        "Subject: Re: Lunch",
    ] {
        assert!(head.contains(expected), "{expected}\n{head}");
    }
    let parsed = hilo_mail::parse(&bytes).expect("reads back");
    assert_eq!(parsed.text, "Sí, a la una.");
    assert_eq!(parsed.from.expect("from").name.as_deref(), Some("Ana Ruiz"));
}

#[test]
fn a_group_s_mail_names_where_replies_go_and_how_to_leave() {
    let group = OutgoingMail {
        reply_to: Some(("g-c1@a.test".into(), Some("Lunch club".into()))),
        list: Some(MailList {
            id: "g-c1.a.test".into(),
            unsubscribe: "g-c1+leave@a.test".into(),
        }),
        ..mail()
    };
    let bytes = compose(&group, None).expect("composes");
    let head = headers(&bytes);
    assert!(head.contains("List-Id: <g-c1.a.test>"), "{head}");
    assert!(head.contains("Precedence: list"), "{head}");
    // A list's mail reads back as one never to answer (or pass on) automatically.
    assert!(hilo_mail::parse(&bytes).expect("reads back").automatic);
    assert!(
        head.contains("Reply-To: \"Lunch club\" <g-c1@a.test>"),
        "{head}"
    );
    assert!(
        head.contains("List-Unsubscribe: <mailto:g-c1+leave@a.test>"),
        "{head}"
    );
    // The default name of a Reply-To is the sender's.
    let tagged = OutgoingMail {
        reply_to: Some(("ana+c1@a.test".into(), None)),
        ..mail()
    };
    let head = headers(&compose(&tagged, None).expect("composes"));
    assert!(
        head.contains("Reply-To: \"Ana Ruiz\" <ana+c1@a.test>"),
        "{head}"
    );
    // An address that is not one is refused, never written into the header.
    for (id, unsubscribe) in [
        ("g-c1.a.test", "x>\r\nBcc: victim@x.test"),
        ("g-c1.a.test>\r\nBcc: victim@x.test", "g-c1+leave@a.test"),
    ] {
        let broken = OutgoingMail {
            list: Some(MailList {
                id: id.into(),
                unsubscribe: unsubscribe.into(),
            }),
            ..mail()
        };
        assert!(compose(&broken, None).is_err());
    }
}

#[test]
fn a_name_or_subject_cannot_add_a_header() {
    let mut evil = mail();
    evil.from_name = "Ana\r\nBcc: victim@x.test".into();
    evil.subject = "Hi\r\nBcc: victim@x.test\r\n\r\nbody".into();
    let bytes = compose(&evil, None).expect("composes");
    let head = headers(&bytes);
    assert!(
        !head
            .lines()
            .any(|line| line.to_ascii_lowercase().starts_with("bcc:")),
        "{head}"
    );
    let parsed = hilo_mail::parse(&bytes).expect("reads back");
    assert!(
        parsed
            .subject
            .expect("subject")
            .contains("Bcc: victim@x.test")
    );
}

#[test]
fn attachments_travel() {
    let mut with_file = mail();
    with_file.files.push(OutgoingFile {
        name: "plan.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4 plan".to_vec(),
    });
    let parsed = hilo_mail::parse(&compose(&with_file, None).expect("composes")).expect("reads");
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].name, "plan.pdf");
    assert_eq!(parsed.attachments[0].bytes, b"%PDF-1.4 plan");
    assert_eq!(parsed.text, "Sí, a la una.");
}

#[tokio::test]
async fn a_signed_mail_verifies_at_the_receiver() {
    let key = DkimKey::new(&DkimKey::generate().expect("key"), "a.test", "s1").expect("key");
    let bytes = compose(&mail(), Some(&key)).expect("composes");
    let records = [
        DnsRecord {
            name: key.record_name(),
            kind: RecordType::Txt,
            value: key.record_value(),
        },
        DnsRecord {
            name: "_dmarc.a.test".into(),
            kind: RecordType::Txt,
            value: "v=DMARC1; p=reject".into(),
        },
    ];
    let auth = Authenticator::new(&DnsMode::None, &records, "mx.b.test").expect("records");
    let results = auth
        .check(
            &bytes,
            "192.0.2.1".parse().expect("ip"),
            "a.test",
            Some("bounces+1@a.test"),
        )
        .await;
    assert_eq!((results.dkim, results.dmarc), ("pass", "pass"));
}
