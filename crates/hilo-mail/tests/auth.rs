//! SPF, DKIM and DMARC over records the test writes (no resolver at all): a signed mail
//! from an allowed address passes, a changed body or another address fails, an unaligned
//! From fails DMARC, a domain with no records is `none`.

use std::net::IpAddr;

use hilo_mail::{Authenticator, DkimKey, DnsMode, DnsRecord, RecordType};

fn txt(name: &str, value: &str) -> DnsRecord {
    DnsRecord {
        name: name.into(),
        kind: RecordType::Txt,
        value: value.into(),
    }
}

fn world() -> (Authenticator, DkimKey) {
    let key = DkimKey::new(&DkimKey::generate().expect("key"), "example.org", "s1").expect("key");
    let records = vec![
        txt("example.org", "v=spf1 ip4:127.0.0.1 -all"),
        txt(&key.record_name(), &key.record_value()),
        txt("_dmarc.example.org", "v=DMARC1; p=reject"),
        txt("other.example", "v=spf1 ip4:127.0.0.1 -all"),
    ];
    let auth = Authenticator::new(&DnsMode::None, &records, "mx.hilo.test").expect("records read");
    (auth, key)
}

const MAIL: &str = "From: Ana <ana@example.org>\r\nTo: bob@hilo.test\r\nSubject: Hi\r\nMessage-ID: <a@example.org>\r\n\r\nHello Bob.\r\n";

fn signed(key: &DkimKey, mail: &str) -> Vec<u8> {
    let mut out = key.sign(mail.as_bytes()).expect("signs").into_bytes();
    out.extend_from_slice(mail.as_bytes());
    out
}

fn localhost() -> IpAddr {
    "127.0.0.1".parse().expect("ip")
}

#[tokio::test]
async fn a_signed_mail_from_an_allowed_address_passes() {
    let (auth, key) = world();
    let results = auth
        .check(
            &signed(&key, MAIL),
            localhost(),
            "mail.example.org",
            Some("ana@example.org"),
        )
        .await;
    assert_eq!(
        (results.spf, results.dkim, results.dmarc),
        ("pass", "pass", "pass")
    );
    assert_eq!(results.policy, "reject");
    assert!(!results.dmarc_failed());
}

#[tokio::test]
async fn a_changed_mail_from_elsewhere_fails_everything() {
    let (auth, key) = world();
    let elsewhere: IpAddr = "192.0.2.9".parse().expect("ip");
    let tampered = String::from_utf8(signed(&key, MAIL))
        .expect("utf-8")
        .replace("Subject: Hi", "Subject: Pay now");
    let results = auth
        .check(
            tampered.as_bytes(),
            elsewhere,
            "evil.test",
            Some("ana@example.org"),
        )
        .await;
    assert_eq!(
        (results.spf, results.dkim, results.dmarc),
        ("fail", "fail", "fail")
    );
    assert!(results.dmarc_failed());
    // A body changed after signing: mail-auth's word for it is `neutral`; no pass either way.
    let tampered = String::from_utf8(signed(&key, MAIL))
        .expect("utf-8")
        .replace("Hello Bob.", "Send money.");
    let results = auth
        .check(
            tampered.as_bytes(),
            elsewhere,
            "evil.test",
            Some("ana@example.org"),
        )
        .await;
    assert_eq!((results.dkim, results.dmarc), ("neutral", "fail"));
}

#[tokio::test]
async fn spf_for_another_domain_does_not_align_with_from() {
    let (auth, _) = world();
    // Unsigned, and the envelope sender's domain (which SPF passes) is not From's.
    let results = auth
        .check(
            MAIL.as_bytes(),
            localhost(),
            "other.example",
            Some("bounce@other.example"),
        )
        .await;
    assert_eq!(
        (results.spf, results.dkim, results.dmarc),
        ("pass", "none", "fail")
    );
}

#[tokio::test]
async fn a_domain_without_records_is_none() {
    let (auth, _) = world();
    let mail = MAIL.replace("ana@example.org", "zoe@nowhere.test");
    let results = auth
        .check(
            mail.as_bytes(),
            localhost(),
            "nowhere.test",
            Some("zoe@nowhere.test"),
        )
        .await;
    assert_eq!(
        (results.spf, results.dkim, results.dmarc, results.policy),
        ("none", "none", "none", "")
    );
}

#[test]
fn records_that_do_not_read_are_refused() {
    let bad = [
        txt("_dmarc.example.org", "v=DMARC1; p=bogus; x"),
        DnsRecord {
            name: "a.example".into(),
            kind: RecordType::A,
            value: "not-an-ip".into(),
        },
    ];
    for record in bad {
        let error = Authenticator::new(&DnsMode::None, std::slice::from_ref(&record), "mx")
            .err()
            .expect("refused");
        assert!(error.to_string().contains(&record.name), "{error}");
    }
}
