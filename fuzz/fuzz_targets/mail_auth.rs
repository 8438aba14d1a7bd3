//! Sender checks (T7 7): SPF, DKIM and DMARC of any message against records the target
//! sets (no DNS is ever asked) never panic, and nothing passes DKIM under a key whose
//! private half nobody has (32 random bytes, made for this target and thrown away).
#![no_main]

#[path = "mail_common.rs"]
mod mail_common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use hilo_mail::{Authenticator, DnsMode, DnsRecord, RecordType};
use libfuzzer_sys::fuzz_target;

fn checks() -> &'static Authenticator {
    static CHECKS: OnceLock<Authenticator> = OnceLock::new();
    CHECKS.get_or_init(|| {
        let record = |name: &str, value: &str| DnsRecord {
            name: name.to_owned(),
            kind: RecordType::Txt,
            value: value.to_owned(),
        };
        Authenticator::new(
            &DnsMode::None,
            &[
                record("example.org", "v=spf1 ip4:127.0.0.1 -all"),
                record("_dmarc.example.org", "v=DMARC1; p=reject; adkim=s; aspf=s"),
                record(
                    "s1._domainkey.example.org",
                    "v=DKIM1; k=ed25519; p=Xnn3gvH2M+KfoIhUgOq95rBqesLwTWpHXubOTzcAOnI=",
                ),
            ],
            "mx.fuzz.test",
        )
        .expect("records")
    })
}

fuzz_target!(|data: &[u8]| {
    mail_common::tolerate_mail_parser_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (helo, mail_from) = match data.first() {
        Some(b) if b % 3 == 0 => ("mail.example.org", Some("ana@example.org")),
        Some(b) if b % 3 == 1 => ("[127.0.0.1]", None),
        _ => ("elsewhere.test", Some("x@elsewhere.test")),
    };
    let results = runtime.block_on(checks().check(
        data,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        helo,
        mail_from,
    ));
    // Nobody can sign for the key above.
    assert_ne!(results.dkim, "pass");
});
