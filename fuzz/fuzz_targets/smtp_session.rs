//! An SMTP session's byte stream (T7 2): whatever a client sends (pipelined commands, BDAT,
//! bare LF or CR, dot-stuffing, overlong lines, binary), the session never panics or hangs,
//! and every message it hands over has CRLF line ends only, so nothing can be smuggled past
//! the end of DATA (CVE-2023-51764).
#![no_main]

use std::sync::Mutex;

use hilo_mail::smtp::{Envelope, Mailbox, Reply, SmtpConfig, run_session};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Kept(Mutex<Vec<Vec<u8>>>);

impl Mailbox for Kept {
    async fn check_sender(&self, _: &Envelope) -> Result<(), Reply> {
        Ok(())
    }

    async fn check_recipient(&self, _: &Envelope, address: &str) -> Result<(), Reply> {
        if address.starts_with("nobody") {
            return Err(Reply::new(550, "5.1.1", "no such user here"));
        }
        Ok(())
    }

    async fn deliver(&self, _: Envelope, message: Vec<u8>) -> Result<(), Reply> {
        self.0.lock().expect("kept").push(message);
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let kept = Kept::default();
    let mut config = SmtpConfig::new("fuzz.test");
    config.max_message_bytes = 64 * 1024;
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        let peer = "127.0.0.1:2525".parse().expect("address");
        let talk = async {
            client.write_all(data).await.expect("written");
            client.shutdown().await.expect("shut");
            let mut replies = Vec::new();
            let _ = client.read_to_end(&mut replies).await;
            replies
        };
        let (_, replies) = tokio::join!(run_session(server, peer, &config, &kept), talk);
        assert!(replies.starts_with(b"220 "), "a greeting first");
    });
    for message in kept.0.lock().expect("kept").iter() {
        for (at, byte) in message.iter().enumerate() {
            if *byte == b'\n' {
                assert!(at > 0 && message[at - 1] == b'\r', "a bare LF was delivered");
            }
            if *byte == b'\r' {
                assert_eq!(message.get(at + 1), Some(&b'\n'), "a bare CR was delivered");
            }
        }
    }
});
