//! SMS webhooks (TESTING.md T7 5): a form of any bytes, as Twilio posts it, is read within
//! its limits, its signature checked and its fields read as an inbound text or a status
//! callback, never panicking. Oracles: the form signed with the account's token verifies;
//! signed with another token, for another URL, or with one value changed, it does not; an
//! inbound text that reads keeps the limits (body, media).
#![no_main]

use std::sync::OnceLock;

use hilo_sms::Provider;
use hilo_sms::twilio::{self, Client, Inbound, MAX_BODY, MAX_PARAMS, StatusReport};
use libfuzzer_sys::fuzz_target;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "fuzz-auth-token";
const URL: &str = "https://hilo.example/api/v1/sms/tw/inbound";

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| Client::new(twilio::API_BASE, ACCOUNT, TOKEN).expect("a client"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut params) = twilio::form(data) else {
        return;
    };
    assert!(params.len() <= MAX_PARAMS);
    let signature = twilio::signature(TOKEN, URL, &params);
    assert!(
        client().verify(URL, &params, &signature),
        "a signed form does not verify"
    );
    assert!(!twilio::verify("another-token", URL, &params, &signature));
    assert!(!twilio::verify(
        TOKEN,
        "https://hilo.example/api/v1/sms/tw/status",
        &params,
        &signature
    ));
    // Any header at all is only ever a yes or a no.
    let _ = twilio::verify(TOKEN, URL, &params, &String::from_utf8_lossy(data));
    if let Ok(inbound) = Inbound::from_params(&params) {
        assert!(inbound.body.chars().count() <= MAX_BODY);
        assert!(inbound.media.len() <= 10);
    }
    let _ = StatusReport::from_params(&params);
    let _ = client().inbound(&params);
    let _ = client().status(&params);
    // A value one character longer is a different signed text, whatever the order.
    if let Some((_, value)) = params.first_mut() {
        value.push('x');
        assert!(
            !twilio::verify(TOKEN, URL, &params, &signature),
            "a changed form verifies"
        );
    }
});
