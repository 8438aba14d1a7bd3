//! The email channel (issue 10), inbound: real SMTP sessions over TCP to the server's
//! listener (raw sockets for the protocol's edges, swaks as a real client), and what the
//! mail becomes: a contact's message in the addressee's thread. Both backends.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::support::{StatusCode, TestServer, User, next_json};

/// A raw SMTP client: reads whole replies (multi-line ones too) and writes lines.
struct Smtp {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Smtp {
    async fn connect(address: SocketAddr) -> Smtp {
        let stream = TcpStream::connect(address).await.expect("smtp connects");
        let (reader, writer) = stream.into_split();
        let mut smtp = Smtp {
            reader: BufReader::new(reader),
            writer,
        };
        let greeting = smtp.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        smtp
    }

    /// The next reply, its lines joined by newlines; empty when the server hung up.
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                    .await
                    .expect("the server answers");
            if read.expect("read") == 0 {
                return lines.join("\n");
            }
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Sends a command line and returns the reply.
    async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn hello(address: SocketAddr) -> Smtp {
        let mut smtp = Smtp::connect(address).await;
        let ehlo = smtp.command("EHLO client.example.org").await;
        assert!(ehlo.starts_with("250-"), "{ehlo}");
        smtp
    }

    /// A plain mail whose headers name the envelope's sender and one recipient.
    async fn plain(&mut self, from: &str, to: &str, subject: &str, id: &str, body: &str) -> String {
        self.mail(from, &[to], &mail_text(from, to, subject, id, body))
            .await
    }

    /// One whole transaction; the reply to the end of DATA (or the first refusal).
    async fn mail(&mut self, from: &str, to: &[&str], data: &[u8]) -> String {
        let reply = self
            .command(&format!("MAIL FROM:<{from}> BODY=8BITMIME SMTPUTF8"))
            .await;
        if !reply.starts_with("250") {
            return reply;
        }
        for rcpt in to {
            let reply = self.command(&format!("RCPT TO:<{rcpt}>")).await;
            if !reply.starts_with("250") {
                return reply;
            }
        }
        let reply = self.command("DATA").await;
        if !reply.starts_with("354") {
            return reply;
        }
        self.send(&dot_stuffed(data)).await;
        self.send(b".\r\n").await;
        self.reply().await
    }
}

/// A message's bytes as DATA carries them: CRLF line ends, leading dots doubled, a final
/// CRLF.
fn dot_stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let text = data.to_vec();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    // `split` yields an empty last piece after a final newline: drop its CRLF.
    if data.ends_with(b"\n") {
        out.truncate(out.len() - 2);
    }
    out
}

fn smtp_of(server: &TestServer) -> SocketAddr {
    server.smtp.expect("the server takes mail")
}

fn mail_text(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub(super) async fn conversations(server: &TestServer, user: &User, folder: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/api/v1/conversations?folder={folder}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["conversations"].as_array().expect("a list").clone()
}

pub(super) async fn history(server: &TestServer, user: &User, id: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/api/v1/conversations/{id}/messages"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"].as_array().expect("messages").clone()
}

#[tokio::test]
async fn a_stranger_s_mail_opens_a_request_from_a_contact_and_later_mail_joins_it() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let mut events = server.ws(&bob, None).await;
    next_json(&mut events).await;

    let mut smtp = Smtp::hello(smtp_of(&server)).await;
    let reply = smtp
        .mail(
            "ana@example.org",
            &["bob@localhost"],
            &mail_text(
                "Ana Ruiz <ana@Example.org>",
                "Bob <bob@localhost>, Carol <carol@example.org>",
                "Lunch",
                "m1@example.org",
                "Lunch tomorrow?\r\n-- \r\nAna",
            ),
        )
        .await;
    assert!(reply.starts_with("250 "), "{reply}");

    // Live: the conversation, then the message.
    let created = next_json(&mut events).await;
    assert_eq!(created["type"], "conversation.created", "{created}");
    assert_eq!(created["conversation"]["folder"], "requests", "{created}");
    let arrived = next_json(&mut events).await;
    assert_eq!(arrived["type"], "message.created", "{arrived}");

    let requests = conversations(&server, &bob, "requests").await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(conversations(&server, &bob, "inbox").await.is_empty());
    let conversation = &requests[0];
    assert_eq!(conversation["kind"], "direct");
    let contact = conversation["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["kind"] == "contact")
        .expect("the sender is a contact member")
        .clone();
    assert_eq!(contact["address"], "ana@example.org");
    assert_eq!(contact["display_name"], "Ana Ruiz");
    let id = conversation["id"].as_str().expect("id").to_owned();

    let messages = history(&server, &bob, &id).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message["channel"], "email");
    assert_eq!(message["sender"]["kind"], "contact");
    assert_eq!(message["sender"]["address"], "ana@example.org");
    assert_eq!(
        message["text"], "Lunch tomorrow?",
        "the signature is trimmed"
    );
    assert_eq!(message["email"]["subject"], "Lunch");
    assert_eq!(message["email"]["message_id"], "m1@example.org");
    assert_eq!(message["email"]["from"], "ana@example.org");
    let to: Vec<&str> = message["email"]["to"]
        .as_array()
        .expect("to")
        .iter()
        .map(|a| a["address"].as_str().expect("address"))
        .collect();
    assert_eq!(
        to,
        ["bob@localhost", "carol@example.org"],
        "every To is kept"
    );
    assert_eq!(arrived["message"]["id"], message["id"]);

    // The same mail again (a retry after a lost reply): still one message.
    let again = smtp
        .plain(
            "ana@example.org",
            "bob@localhost",
            "Lunch",
            "m1@example.org",
            "Lunch tomorrow?",
        )
        .await;
    assert!(again.starts_with("250 "), "{again}");
    // A new mail from her, whatever its subject, joins the same thread.
    let later = smtp
        .mail(
            "ana@example.org",
            &["bob+anything@localhost"],
            &mail_text(
                "ana@example.org",
                "bob@localhost",
                "Other topic",
                "m2@example.org",
                "Something else",
            ),
        )
        .await;
    assert!(later.starts_with("250 "), "{later}");
    let messages = history(&server, &bob, &id).await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["Lunch tomorrow?", "Something else"]);
    assert_eq!(conversations(&server, &bob, "requests").await.len(), 1);

    // Someone else replying to the same mail gets a thread of their own.
    let other = smtp
        .mail(
            "carol@example.org",
            &["bob@localhost"],
            b"From: carol@example.org\r\nTo: bob@localhost\r\nSubject: Re: Lunch\r\nMessage-ID: <c1@example.org>\r\nIn-Reply-To: <m1@example.org>\r\nReferences: <m1@example.org>\r\n\r\nMe too!\r\n",
        )
        .await;
    assert!(other.starts_with("250 "), "{other}");
    assert_eq!(conversations(&server, &bob, "requests").await.len(), 2);
    assert_eq!(smtp.command("QUIT").await.split(' ').next(), Some("221"));
}

#[tokio::test]
async fn recipients_are_checked_at_rcpt_and_bad_mail_is_refused_with_nothing_stored() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let mut smtp = Smtp::hello(smtp_of(&server)).await;

    // Order of commands.
    assert!(
        smtp.command("RCPT TO:<bob@localhost>")
            .await
            .starts_with("503 ")
    );
    assert!(smtp.command("DATA").await.starts_with("503 "));
    assert!(
        smtp.command("MAIL FROM:<ana@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(
        smtp.command("MAIL FROM:<ana@example.org>")
            .await
            .starts_with("503 ")
    );
    // Unknown people, other domains, our own domain as a sender.
    let unknown = smtp.command("RCPT TO:<nobody@localhost>").await;
    assert!(unknown.starts_with("550 5.1.1"), "{unknown}");
    let relay = smtp.command("RCPT TO:<someone@example.net>").await;
    assert!(relay.starts_with("550 5.7.1"), "{relay}");
    assert!(
        smtp.command("DATA").await.starts_with("554 "),
        "no valid recipient yet"
    );
    assert!(smtp.command("RSET").await.starts_with("250 "));
    let spoof = smtp
        .mail(
            "bob@localhost",
            &["bob@localhost"],
            &mail_text(
                "Bob <bob@localhost>",
                "bob@localhost",
                "hi",
                "s1@x",
                "I am bob",
            ),
        )
        .await;
    assert!(spoof.starts_with("550 5.7.1"), "{spoof}");

    // Too big: announced, and sent anyway.
    let big = smtp
        .command("MAIL FROM:<ana@example.org> SIZE=999999999")
        .await;
    assert!(big.starts_with("552 "), "{big}");
    // A bare LF inside the message (the SMTP smuggling shape), a line over 1000 octets,
    // and 8-bit data without BODY=8BITMIME: each refused once DATA ends.
    for (mail_from, raw, code) in [
        // Only CRLF.CRLF ends DATA: a dot line after a bare LF (whatever ends the dot line
        // itself) and the "command" after it are data.
        (
            "MAIL FROM:<ana@example.org> BODY=8BITMIME",
            b"From: a@example.org\r\n\r\nline\n.\nMAIL FROM:<x@y>\n\r\n.\r\n".to_vec(),
            "550 5.6.0",
        ),
        (
            "MAIL FROM:<ana@example.org> BODY=8BITMIME",
            b"From: a@example.org\r\n\r\nline\n.\r\nMAIL FROM:<x@y>\r\n\r\n.\r\n".to_vec(),
            "550 5.6.0",
        ),
        (
            "MAIL FROM:<ana@example.org> BODY=8BITMIME",
            format!("From: a@example.org\r\n\r\n{}\r\n.\r\n", "x".repeat(1200)).into_bytes(),
            "550 5.6.0",
        ),
        (
            "MAIL FROM:<ana@example.org>",
            "From: a@example.org\r\n\r\nmañana\r\n.\r\n"
                .as_bytes()
                .to_vec(),
            "550 5.6.3",
        ),
    ] {
        let opened = smtp.command(mail_from).await;
        assert!(opened.starts_with("250 "), "{opened}");
        assert!(
            smtp.command("RCPT TO:<bob@localhost>")
                .await
                .starts_with("250 ")
        );
        assert!(smtp.command("DATA").await.starts_with("354 "));
        smtp.send(&raw).await;
        let reply = smtp.reply().await;
        assert!(reply.starts_with(code), "{code}: {reply}");
    }
    // Non-ASCII addresses need SMTPUTF8.
    let utf8 = smtp.command("MAIL FROM:<josé@example.es>").await;
    assert!(utf8.starts_with("553 5.6.7"), "{utf8}");
    assert!(smtp.command("NOOP").await.starts_with("250 "));
    assert!(smtp.command("VRFY bob").await.starts_with("252 "));
    assert!(
        smtp.command("AUTH PLAIN AGFiYwBkZWY=")
            .await
            .starts_with("502 ")
    );
    assert!(smtp.command("STARTTLS").await.starts_with("454 "));
    assert!(smtp.command("FOO bar").await.starts_with("500 "));

    // The session is still in step, and nothing of the refused mail was stored.
    let fine = smtp
        .plain(
            "ana@example.org",
            "bob@localhost",
            "ok",
            "ok@example.org",
            "fine",
        )
        .await;
    assert!(fine.starts_with("250 "), "{fine}");
    let requests = conversations(&server, &bob, "requests").await;
    assert_eq!(requests.len(), 1);
    let id = requests[0]["id"].as_str().expect("id");
    let texts: Vec<Value> = history(&server, &bob, id)
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [Value::from("fine")]);

    // A client that keeps getting refusals is shown the door (Postfix's hard limit, 20).
    let mut noisy = Smtp::hello(smtp_of(&server)).await;
    for _ in 0..19 {
        assert!(
            noisy
                .command("RCPT TO:<bob@localhost>")
                .await
                .starts_with("503 ")
        );
    }
    let last = noisy.command("RCPT TO:<bob@localhost>").await;
    assert!(last.starts_with("503 "), "{last}");
    let closed = noisy.reply().await;
    assert!(closed.starts_with("421 4.7.0"), "{closed}");
    assert_eq!(noisy.reply().await, "", "and the connection is closed");
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order_and_recipients_are_capped() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let mut smtp = Smtp::hello(smtp_of(&server)).await;
    // RFC 2920: the whole envelope in one write.
    smtp.send(b"MAIL FROM:<ana@example.org>\r\nRCPT TO:<bob@localhost>\r\nRCPT TO:<nobody@localhost>\r\nDATA\r\n")
        .await;
    for expected in ["250 ", "250 ", "550 ", "354 "] {
        let reply = smtp.reply().await;
        assert!(reply.starts_with(expected), "{expected}: {reply}");
    }
    smtp.send(&mail_text(
        "ana@example.org",
        "bob@localhost",
        "p",
        "p1@example.org",
        "piped",
    ))
    .await;
    smtp.send(b".\r\n").await;
    assert!(smtp.reply().await.starts_with("250 "));

    // At most 100 recipients: the 101st is told to come back (452).
    assert!(
        smtp.command("MAIL FROM:<ana@example.org>")
            .await
            .starts_with("250 ")
    );
    let mut script = String::new();
    // 130: more 452s than the session's refusal limit, which they do not count towards
    // (the client sends the rest later; the first hundred still get the mail).
    for n in 0..130 {
        script.push_str(&format!("RCPT TO:<bob+{n}@localhost>\r\n"));
    }
    smtp.send(script.as_bytes()).await;
    for n in 0..130 {
        let reply = smtp.reply().await;
        let expected = if n < 100 { "250 " } else { "452 " };
        assert!(reply.starts_with(expected), "recipient {n}: {reply}");
    }
    assert!(smtp.command("DATA").await.starts_with("354 "));
    smtp.send(&mail_text(
        "ana@example.org",
        "bob@localhost",
        "many",
        "many@example.org",
        "to many",
    ))
    .await;
    smtp.send(b".\r\n").await;
    let accepted = smtp.reply().await;
    assert!(accepted.starts_with("250 "), "{accepted}");
    let requests = conversations(&server, &bob, "requests").await;
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn every_corpus_message_lands_or_is_refused_with_a_code() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hilo-mail/tests/corpus");
    let mut smtp = Smtp::hello(smtp_of(&server)).await;
    let (mut landed, mut refused) = (0, 0);
    for dir in ["rfc", "thirdparty", "malformed", "hilo"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("corpus")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("corpus file");
            let reply = smtp
                .mail("sender@example.org", &["bob@localhost"], &bytes)
                .await;
            match reply.as_bytes().first() {
                Some(b'2') => landed += 1,
                Some(b'5') => {
                    refused += 1;
                    // A refusal leaves the transaction; start the next one clean.
                    smtp.command("RSET").await;
                }
                _ => panic!("{}: {reply}", path.display()),
            }
        }
    }
    assert!(landed > 40, "landed {landed}, refused {refused}");
    // Nothing broke: the server still answers, and every mail is in one of bob's threads.
    assert!(smtp.command("NOOP").await.starts_with("250 "));
    let requests = conversations(&server, &bob, "requests").await;
    assert!(!requests.is_empty());
    let spam = conversations(&server, &bob, "spam").await;
    let latin1 = requests
        .iter()
        .chain(spam.iter())
        .find(|c| {
            c["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|p| p["address"] == "jose@example.es"))
        })
        .expect("the Latin-1 mail's sender has a thread");
    let messages = history(&server, &bob, latin1["id"].as_str().expect("id")).await;
    assert_eq!(
        messages[0]["text"],
        "¿Nos vemos mañana en la reunión? Añade el café."
    );
    assert_eq!(messages[0]["email"]["subject"], "Reunión mañana");
    assert_eq!(messages[0]["sender"]["display_name"], "José Muñoz");
}

/// swaks, a real SMTP client (Debian's package; `.ci/run` installs it).
#[tokio::test]
async fn a_real_client_delivers_a_mail() {
    if std::process::Command::new("swaks")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var("CI").is_err(), "swaks is missing under CI");
        eprintln!("skipped: swaks is not installed");
        return;
    }
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let address = smtp_of(&server);
    let output = tokio::process::Command::new("swaks")
        .args([
            "--server",
            &address.ip().to_string(),
            "--port",
            &address.port().to_string(),
            "--from",
            "dora@example.org",
            "--to",
            "bob@localhost",
            "--header",
            "Subject: Desde swaks",
            "--body",
            "Hola Bob, que tal?",
        ])
        .output()
        .await
        .expect("swaks runs");
    let transcript = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{transcript}");
    assert!(transcript.contains("<-  250 2.0.0"), "{transcript}");
    let requests = conversations(&server, &bob, "requests").await;
    assert_eq!(requests.len(), 1);
    let messages = history(&server, &bob, requests[0]["id"].as_str().expect("id")).await;
    assert_eq!(messages[0]["text"], "Hola Bob, que tal?");
    assert_eq!(messages[0]["email"]["subject"], "Desde swaks");
}

/// A server whose sender checks ask no resolver: `example.org` lets 127.0.0.1 send
/// (SPF), publishes `key` (DKIM) and asks receivers to reject what fails (DMARC).
async fn checking_server(key: &hilo_mail::DkimKey, failure: &str) -> TestServer {
    let db = super::support::TestDb::new().await;
    let config = db.data_dir().join("hilo.toml");
    let records = [
        ("example.org", "v=spf1 ip4:127.0.0.1 -all".to_owned()),
        (&key.record_name(), key.record_value()),
        ("_dmarc.example.org", "v=DMARC1; p=reject".to_owned()),
    ]
    .iter()
    .map(|(name, value)| {
        format!("[[mail.dns_records]]\nname = \"{name}\"\ntype = \"TXT\"\nvalue = \"{value}\"\n")
    })
    .collect::<String>();
    std::fs::write(
        &config,
        format!("[mail]\ndns = \"none\"\ndmarc_failure = \"{failure}\"\n{records}"),
    )
    .expect("config written");
    TestServer::start_on(&db, |args| args.store.config = Some(config)).await
}

fn dkim_signed(key: &hilo_mail::DkimKey, mail: &[u8]) -> Vec<u8> {
    let mut out = key.sign(mail).expect("signs").into_bytes();
    out.extend_from_slice(mail);
    out
}

#[tokio::test]
async fn sender_checks_are_kept_and_a_forged_from_is_spam_or_refused() {
    let key = hilo_mail::DkimKey::new(
        &hilo_mail::DkimKey::generate().expect("key"),
        "example.org",
        "s1",
    )
    .expect("key");
    let server = checking_server(&key, "spam").await;
    let bob = server.register("bob").await;
    let mut smtp = Smtp::hello(smtp_of(&server)).await;

    // Signed by example.org and sent from an address its SPF allows: every check passes.
    let genuine = mail_text(
        "Ana <ana@example.org>",
        "bob@localhost",
        "Real",
        "g1@example.org",
        "It is me.",
    );
    let reply = smtp
        .mail(
            "ana@example.org",
            &["bob@localhost"],
            &dkim_signed(&key, &genuine),
        )
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let requests = conversations(&server, &bob, "requests").await;
    assert_eq!(requests.len(), 1);
    let message = &history(&server, &bob, requests[0]["id"].as_str().expect("id")).await[0];
    assert_eq!(
        message["email"]["auth"],
        serde_json::json!({"spf": "pass", "dkim": "pass", "dmarc": "pass"})
    );

    // From example.org but neither signed by it nor sent from where it sends: DMARC
    // fails, and the request is filed as spam, never next to the genuine one.
    let forged = mail_text(
        "Boss <boss@example.org>",
        "bob@localhost",
        "Urgent",
        "f1@forged.test",
        "Wire the money.",
    );
    let reply = smtp
        .mail("boss@forged.test", &["bob@localhost"], &forged)
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let spam = conversations(&server, &bob, "spam").await;
    assert_eq!(spam.len(), 1, "{spam:?}");
    let message = &history(&server, &bob, spam[0]["id"].as_str().expect("id")).await[0];
    assert_eq!(message["email"]["auth"]["dmarc"], "fail");
    assert_eq!(message["email"]["auth"]["dkim"], "none");
    assert_eq!(conversations(&server, &bob, "requests").await.len(), 1);
    // A signed header changed on the way fails DKIM (DMARC still passes by SPF).
    let broken = String::from_utf8(dkim_signed(
        &key,
        &mail_text(
            "Ana <ana@example.org>",
            "bob@localhost",
            "Real",
            "g2@example.org",
            "It is me.",
        ),
    ))
    .expect("utf-8")
    .replace("Subject: Real", "Subject: Changed");
    let reply = smtp
        .mail("ana@example.org", &["bob@localhost"], broken.as_bytes())
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let messages = history(&server, &bob, requests[0]["id"].as_str().expect("id")).await;
    assert_eq!(messages[1]["email"]["auth"]["dkim"], "fail");
    assert_eq!(
        messages[1]["email"]["auth"]["dmarc"], "pass",
        "SPF still aligns"
    );

    // Configured to refuse: the forged mail is turned away and nothing is kept.
    let strict = checking_server(&key, "reject").await;
    let carol = strict.register("carol").await;
    let mut smtp = Smtp::hello(smtp_of(&strict)).await;
    let forged = mail_text(
        "Boss <boss@example.org>",
        "carol@localhost",
        "Urgent",
        "f2@forged.test",
        "Wire the money.",
    );
    let reply = smtp
        .mail("boss@forged.test", &["carol@localhost"], &forged)
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    for folder in ["inbox", "requests", "spam"] {
        assert!(conversations(&strict, &carol, folder).await.is_empty());
    }
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a loopback port")
        .port()
}

/// One of two servers mailing each other: `domain`, taking mail on `port`, relaying to
/// `peer_port`, signing with `key`, and trusting `peer` (SPF for 127.0.0.1, its DKIM key,
/// a DMARC policy).
async fn mail_server(
    domain: &str,
    port: u16,
    peer_port: u16,
    key: &[u8],
    peer: &hilo_mail::DkimKey,
    extra: &str,
) -> TestServer {
    let db = super::support::TestDb::new().await;
    let key_path = db.data_dir().join("dkim.key");
    std::fs::write(&key_path, key).expect("key written");
    let peer_domain = peer
        .record_name()
        .split("._domainkey.")
        .nth(1)
        .expect("domain")
        .to_owned();
    let config = db.data_dir().join("hilo.toml");
    std::fs::write(
        &config,
        format!(
            "[mail]\n{extra}dkim_key = \"{}\"\ndkim_selector = \"s1\"\n\
             [[mail.dns_records]]\nname = \"{peer_domain}\"\ntype = \"TXT\"\nvalue = \"v=spf1 ip4:127.0.0.1 -all\"\n\
             [[mail.dns_records]]\nname = \"{}\"\ntype = \"TXT\"\nvalue = \"{}\"\n\
             [[mail.dns_records]]\nname = \"_dmarc.{peer_domain}\"\ntype = \"TXT\"\nvalue = \"v=DMARC1; p=reject\"\n",
            key_path.display(),
            peer.record_name(),
            peer.record_value(),
        ),
    )
    .expect("config written");
    let domain = domain.to_owned();
    TestServer::start_on(&db, move |args| {
        args.store.config = Some(config);
        args.mail_domain = Some(domain);
        args.smtp_listen = Some(format!("127.0.0.1:{port}"));
        args.smtp_relay = Some(format!("smtp://127.0.0.1:{peer_port}"));
    })
    .await
}

/// Two servers, a.test and b.test, each the other's relay and each trusting the other's
/// DKIM key (selector s1), SPF for 127.0.0.1 and DMARC policy.
async fn mail_pair() -> (TestServer, TestServer) {
    mail_pair_with("").await
}

/// [`mail_pair`] with more `[mail]` settings for a.test.
async fn mail_pair_with(a_settings: &str) -> (TestServer, TestServer) {
    let (a_key, b_key) = (
        hilo_mail::DkimKey::generate().expect("key"),
        hilo_mail::DkimKey::generate().expect("key"),
    );
    let a_public = hilo_mail::DkimKey::new(&a_key, "a.test", "s1").expect("key");
    let b_public = hilo_mail::DkimKey::new(&b_key, "b.test", "s1").expect("key");
    let (a_port, b_port) = (free_port(), free_port());
    let a = mail_server("a.test", a_port, b_port, &a_key, &b_public, a_settings).await;
    let b = mail_server("b.test", b_port, a_port, &b_key, &a_public, "").await;
    (a, b)
}

/// Polls `probe` until it gives something (20 s at most).
pub(super) async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /conversations {kind: direct, with_address}`.
async fn open_address(server: &TestServer, user: &User, address: &str) -> (StatusCode, Value) {
    server
        .post(
            "/api/v1/conversations",
            user,
            serde_json::json!({"kind": "direct", "with_address": address}),
        )
        .await
}

/// Waits until `server` has mailed `user`'s message `id` (its relay took it).
async fn mailed(server: &TestServer, user: &User, id: &str) {
    eventually("the message is mailed", async || {
        let message = message_by_id(server, user, id).await;
        (message["delivery"]["state"] == "sent").then_some(())
    })
    .await;
}

pub(super) async fn message_by_id(server: &TestServer, user: &User, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/v1/messages/{id}"), user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(super) async fn send_text(
    server: &TestServer,
    user: &User,
    conversation: &str,
    txn: &str,
    text: &str,
) -> Value {
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            user,
            serde_json::json!({"client_txn_id": txn, "text": text}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn two_servers_mail_each_other_and_both_threads_hold() {
    let (a, b) = mail_pair().await;
    let ana = a.register("ana").await;
    let bob = b.register("bob").await;

    // Ana writes to Bob's address: a conversation with a contact, mailed through B.
    let (status, conversation) = a
        .post(
            "/api/v1/conversations",
            &ana,
            serde_json::json!({"kind": "direct", "with_address": "Bob@B.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{conversation}");
    let a_thread = conversation["id"].as_str().expect("id").to_owned();
    assert_eq!(conversation["folder"], "inbox");
    assert!(
        conversation["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["kind"] == "contact" && m["address"] == "bob@b.test"),
        "{conversation}"
    );
    let sent = send_text(&a, &ana, &a_thread, "a1", "Hola Bob, ¿comemos?").await;
    assert_eq!(sent["delivery"]["state"], "queued", "{sent}");
    let sent_id = sent["id"].as_str().expect("id").to_owned();

    // It arrives at B as Ana's mail, signed by a.test: every check passes.
    let b_thread = eventually("the mail reaches B", async || {
        conversations(&b, &bob, "requests").await.into_iter().next()
    })
    .await;
    let b_thread = b_thread["id"].as_str().expect("id").to_owned();
    let received = &history(&b, &bob, &b_thread).await[0];
    assert_eq!(received["text"], "Hola Bob, ¿comemos?");
    assert_eq!(received["channel"], "email");
    assert_eq!(received["sender"]["address"], "ana@a.test");
    assert_eq!(received["sender"]["display_name"], "ana");
    assert_eq!(
        received["email"]["auth"],
        serde_json::json!({"spf": "pass", "dkim": "pass", "dmarc": "pass"}),
        "B verified A's signature"
    );
    assert_eq!(received["email"]["message_id"], format!("{sent_id}@a.test"));
    // A knows it went out.
    let delivered = eventually("A marks the mail sent", async || {
        let message = message_by_id(&a, &ana, &sent_id).await;
        (message["delivery"]["state"] == "sent").then_some(message)
    })
    .await;
    assert_eq!(
        delivered["email"]["message_id"],
        format!("{sent_id}@a.test")
    );
    assert_eq!(delivered["email"]["subject"], "Message from ana");
    // Only a failure report from the null sender fails a sent mail: an out-of-office
    // reply to the bounce address, or a delay notice, changes nothing.
    let bounce_address = format!("bounces+{sent_id}@a.test");
    let mut smtp = Smtp::hello(smtp_of(&a)).await;
    let away = smtp
        .plain(
            "bob@b.test",
            &bounce_address,
            "Out of office",
            "ooo@b.test",
            "Back Monday.",
        )
        .await;
    assert!(away.starts_with("250 "), "{away}");
    let delayed = format!(
        "From: MAILER-DAEMON@b.test\r\nTo: {bounce_address}\r\nSubject: Delayed\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; bob@b.test\r\nAction: delayed\r\nStatus: 4.4.1\r\n--d--\r\n"
    );
    let reply = smtp.mail("", &[&bounce_address], delayed.as_bytes()).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let unchanged = message_by_id(&a, &ana, &sent_id).await;
    assert_eq!(unchanged["delivery"]["state"], "sent", "{unchanged}");
    assert!(conversations(&a, &ana, "requests").await.is_empty());

    // Bob answers from his thread; it comes back into Ana's, as a reply to hers.
    let (status, _) = b
        .post(
            &format!("/api/v1/conversations/{b_thread}/accept"),
            &bob,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    send_text(&b, &bob, &b_thread, "b1", "¡Sí! A la una.").await;
    let reply = eventually("the reply reaches A", async || {
        let messages = history(&a, &ana, &a_thread).await;
        (messages.len() == 2).then(|| messages[1].clone())
    })
    .await;
    assert_eq!(reply["text"], "¡Sí! A la una.");
    assert_eq!(reply["sender"]["address"], "bob@b.test");
    assert_eq!(reply["email"]["subject"], "Re: Message from ana");
    assert_eq!(reply["email"]["auth"]["dkim"], "pass");
    // A's only conversation is the one Ana opened: nothing new was opened for the reply.
    assert!(conversations(&a, &ana, "requests").await.is_empty());
    assert_eq!(conversations(&a, &ana, "inbox").await.len(), 1);

    // A second message from Ana joins Bob's thread too.
    send_text(&a, &ana, &a_thread, "a2", "Perfecto.").await;
    eventually("the second mail reaches B's thread", async || {
        (history(&b, &bob, &b_thread).await.len() == 3).then_some(())
    })
    .await;
    assert_eq!(conversations(&b, &bob, "inbox").await.len(), 1);

    // Deleted for everyone, a sent message keeps nothing of its mail but its id.
    let kept = format!("message_emails WHERE message_id = '{sent_id}' AND subject IS NOT NULL");
    assert_eq!(a.db.count(&kept).await, 1);
    let (status, _) = a
        .call(
            "DELETE",
            &format!("/api/v1/messages/{sent_id}?scope=everyone"),
            Some(&ana.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(a.db.count(&kept).await, 0);
    assert_eq!(
        a.db.count(&format!("message_emails WHERE message_id = '{sent_id}'"))
            .await,
        1
    );
}

#[tokio::test]
async fn a_refused_or_bounced_mail_fails_the_message_with_the_reason() {
    let (a, _b) = mail_pair().await;
    let ana = a.register("ana").await;
    let mut events = a.ws(&ana, None).await;
    next_json(&mut events).await;

    // B has no such person: the relay refuses at RCPT, for good.
    let (_, conversation) = a
        .post(
            "/api/v1/conversations",
            &ana,
            serde_json::json!({"kind": "direct", "with_address": "nobody@b.test"}),
        )
        .await;
    let thread = conversation["id"].as_str().expect("id").to_owned();
    let sent = send_text(&a, &ana, &thread, "x1", "Hello?").await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let failed = eventually("the refusal reaches the message", async || {
        let message = message_by_id(&a, &ana, &id).await;
        (message["delivery"]["state"] == "failed").then_some(message)
    })
    .await;
    let detail = failed["delivery"]["detail"].as_str().expect("a reason");
    assert!(
        detail.contains("550") || detail.contains("no such user"),
        "{detail}"
    );
    // The sender's devices were told.
    let updated = eventually("message.updated with the failure", async || {
        let event = next_json(&mut events).await;
        (event["type"] == "message.updated" && event["message"]["delivery"]["state"] == "failed")
            .then_some(event)
    })
    .await;
    assert_eq!(updated["message"]["id"], id);

    // A bounce (DSN) that comes back later to the bounce address fails a sent message.
    let sent = send_text(&a, &ana, &thread, "x2", "Second try").await;
    let id = sent["id"].as_str().expect("id").to_owned();
    eventually("the second try is done", async || {
        let message = message_by_id(&a, &ana, &id).await;
        (message["delivery"]["state"] != "queued").then_some(())
    })
    .await;
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@b.test>\r\nTo: bounces+{id}@a.test\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <dsn1@b.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.b.test\r\n\r\nFinal-Recipient: rfc822; nobody@b.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\r\n--b--\r\n"
    );
    let mut smtp = Smtp::hello(smtp_of(&a)).await;
    let reply = smtp
        .mail("", &[&format!("bounces+{id}@a.test")], dsn.as_bytes())
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let bounced = message_by_id(&a, &ana, &id).await;
    assert_eq!(bounced["delivery"]["state"], "failed");
    assert_eq!(
        bounced["delivery"]["detail"],
        "bounced: nobody@b.test: smtp; 550 5.1.1 mailbox unavailable"
    );
    // The bounce opened nothing.
    assert!(conversations(&a, &ana, "requests").await.is_empty());
    assert!(conversations(&a, &ana, "spam").await.is_empty());
}

#[tokio::test]
async fn addresses_are_checked_and_ours_open_the_account_s_conversation() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    server.register("bob").await;
    for (address, code) in [
        ("not an address", "invalid_address"),
        ("ana@", "invalid_address"),
        ("+34600111222", "unsupported_address"),
    ] {
        let (status, body) = open_address(&server, &ana, address).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{address}: {body}");
        assert_eq!(body["error"]["code"], code, "{address}");
    }
    let (status, body) = server
        .post(
            "/api/v1/conversations",
            &ana,
            serde_json::json!({"kind": "direct", "with": "bob", "with_address": "x@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // This server's own address is its account: the same conversation as `with`.
    let (_, by_name) = server
        .post(
            "/api/v1/conversations",
            &ana,
            serde_json::json!({"kind": "direct", "with": "bob"}),
        )
        .await;
    let (status, by_address) = open_address(&server, &ana, "Bob@localhost").await;
    assert_eq!(status, StatusCode::OK, "{by_address}");
    assert_eq!(by_address["id"], by_name["id"]);
    // Without a relay, what Ana writes to a contact waits in the queue.
    let (status, contact) = open_address(&server, &ana, "zoe@example.org").await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let (status, again) = open_address(&server, &ana, "ZOE@example.org").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], contact["id"], "one conversation per address");
    let thread = contact["id"].as_str().expect("id");
    let sent = send_text(&server, &ana, thread, "q1", "Hi Zoe").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let message = message_by_id(&server, &ana, sent["id"].as_str().expect("id")).await;
    assert_eq!(message["delivery"]["state"], "queued");
    // A plain chat message carries no delivery.
    let chat = send_text(
        &server,
        &ana,
        by_name["id"].as_str().expect("id"),
        "c1",
        "Hi Bob",
    )
    .await;
    assert_eq!(chat["delivery"], Value::Null);
}

#[tokio::test]
async fn the_admin_makes_a_dkim_key_and_is_told_what_to_publish() {
    let db = super::support::TestDb::new().await;
    let args = ["dkim", "generate", "--selector", "s2", "--domain", "a.test"];
    let (ok, out, err) = super::support::admin(&db, &args, "");
    assert!(ok, "{err}");
    let path = db.data_dir().join("dkim-s2.key");
    let key = std::fs::read(&path).expect("the key is written");
    let key = hilo_mail::DkimKey::new(&key, "a.test", "s2").expect("a usable key");
    assert!(out.contains(&key.record_name()), "{out}");
    assert!(out.contains(&key.record_value()), "{out}");
    assert!(out.contains("dkim_selector = \"s2\""), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads the key: {mode:o}");
    }
    // Never overwritten.
    let (ok, _, err) = super::support::admin(&db, &args, "");
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
}

#[tokio::test]
async fn one_client_cannot_hold_every_session_and_one_account_cannot_mail_everyone() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    // Twenty sessions from one address; the twenty-first is told to come back later.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(Smtp::connect(smtp_of(&server)).await);
    }
    let mut extra = TcpStream::connect(smtp_of(&server))
        .await
        .expect("connects");
    let mut greeting = String::new();
    let mut reader = BufReader::new(&mut extra);
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut greeting))
        .await
        .expect("answered")
        .expect("read");
    assert!(greeting.starts_with("421 4.3.2"), "{greeting}");
    // A session that ends frees its place.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        let stream = TcpStream::connect(smtp_of(&server))
            .await
            .expect("connects");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("read");
        if line.starts_with("220 ") {
            again = Some(line);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a place came free");

    // New addresses per account and hour are limited: an open server is no bulk mailer.
    for n in 0..hilo_service::ADDRESSES_PER_HOUR {
        let (status, body) = open_address(&server, &ana, &format!("person{n}@example.org")).await;
        assert_eq!(status, StatusCode::CREATED, "{n}: {body}");
    }
    let (status, body) = open_address(&server, &ana, "one.more@example.org").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
}

/// The six-digit code in the mail `user` got from `domain`'s server, found in whichever
/// folder it landed in.
async fn mailed_code(server: &TestServer, user: &User, domain: &str) -> String {
    eventually("the code arrives", async || {
        for folder in ["inbox", "requests", "spam"] {
            for conversation in conversations(server, user, folder).await {
                let id = conversation["id"].as_str().expect("id");
                for message in history(server, user, id).await {
                    if message["email"]["from"] != format!("noreply@{domain}") {
                        continue;
                    }
                    let text = message["text"].as_str().unwrap_or_default();
                    if let Some(code) = text
                        .split_whitespace()
                        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return Some(code.to_owned());
                    }
                }
            }
        }
        None
    })
    .await
}

/// The messages of `user`'s direct conversation with `other` (a username), if any.
async fn direct_with(
    server: &TestServer,
    user: &User,
    other: &str,
) -> Option<(String, Vec<Value>)> {
    direct_thread(server, user, |m| m["username"] == other).await
}

/// The direct conversation of `user`'s (any folder) with a member `other` picks, and its
/// history.
async fn direct_thread(
    server: &TestServer,
    user: &User,
    other: impl Fn(&Value) -> bool,
) -> Option<(String, Vec<Value>)> {
    for folder in ["inbox", "requests", "spam"] {
        for conversation in conversations(server, user, folder).await {
            let with_other = conversation["members"]
                .as_array()
                .expect("members")
                .iter()
                .any(&other);
            if conversation["kind"] == "direct" && with_other {
                let id = conversation["id"].as_str().expect("id").to_owned();
                let messages = history(server, user, &id).await;
                return Some((id, messages));
            }
        }
    }
    None
}

#[tokio::test]
async fn an_address_proven_by_a_mailed_code_makes_its_mail_the_account_s() {
    let (a, b) = mail_pair().await;
    let ana = a.register("ana").await;
    let bob = a.register("bob").await;
    let carol = a.register("carol").await;
    // Ana's mailbox elsewhere: an account of b.test.
    let outside = b.register("anamail").await;

    // An address its server refuses is not kept.
    let (status, body) = a
        .post(
            "/api/v1/me/emails",
            &ana,
            serde_json::json!({"address": "nobody@b.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "undeliverable_address");
    let (_, mine) = a.get("/api/v1/me/emails", &ana).await;
    assert_eq!(mine, serde_json::json!({"emails": []}));
    let (status, added) = a
        .post(
            "/api/v1/me/emails",
            &ana,
            serde_json::json!({"address": "AnaMail@b.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["address"], "anamail@b.test");
    assert_eq!(added["verified"], false);
    let code = mailed_code(&b, &outside, "a.test").await;

    // Until the code is entered, mail from the address is a contact's.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = "/api/v1/me/emails/anamail@b.test/verify";
    let (status, body) = a
        .post(verify, &ana, serde_json::json!({"code": wrong}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_code");
    let (status, body) = a
        .post(verify, &ana, serde_json::json!({"code": "12ab"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Someone else's code is not Ana's.
    let (status, _) = a
        .post(verify, &carol, serde_json::json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = a
        .post(verify, &ana, serde_json::json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], true);
    assert!(body["verified_at"].is_string());
    let (status, again) = a
        .post(verify, &ana, serde_json::json!({"code": code}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "entering it twice is no error: {again}"
    );
    let (_, mine) = a.get("/api/v1/me/emails", &ana).await;
    assert_eq!(mine["emails"].as_array().expect("list").len(), 1);
    assert_eq!(mine["emails"][0]["verified"], true);
    // One account at most holds an address.
    let (status, body) = a
        .post(
            "/api/v1/me/emails",
            &carol,
            serde_json::json!({"address": "anamail@b.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "email_taken");
    let (status, body) = a
        .post(
            "/api/v1/me/emails",
            &ana,
            serde_json::json!({"address": "anamail@b.test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "email_already_verified");

    // Ana mails Bob from her outside mailbox (b.test signs it, a.test checks it): it is
    // Ana's message in her conversation with Bob, on the email channel.
    let (status, to_bob) = open_address(&b, &outside, "bob@a.test").await;
    assert_eq!(status, StatusCode::CREATED, "{to_bob}");
    let to_bob = to_bob["id"].as_str().expect("id").to_owned();
    // With a photo: the mail's file is the message's, Ana's upload of record.
    let photo = super::authz::upload(&b, &outside, super::authz::tiny_jpeg()).await;
    let (status, body) = b
        .post(
            &format!("/api/v1/conversations/{to_bob}/messages"),
            &outside,
            serde_json::json!({"client_txn_id": "m1", "text": "Hola Bob, from my other mail",
                               "attachment_ids": [photo["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (thread, messages) = eventually("Bob has Ana's mail", async || {
        direct_with(&a, &bob, "ana")
            .await
            .filter(|(_, m)| !m.is_empty())
    })
    .await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message["sender"]["username"], "ana", "{message}");
    assert_eq!(message["channel"], "email");
    assert_eq!(message["text"], "Hola Bob, from my other mail");
    assert_eq!(message["email"]["from"], "anamail@b.test");
    assert_eq!(message["email"]["auth"]["dmarc"], "pass");
    assert_eq!(
        message["attachments"][0]["content_type"], "image/jpeg",
        "{message}"
    );
    // Ana sees it as her own, in the same conversation.
    let (ana_thread, ana_messages) = direct_with(&a, &ana, "bob").await.expect("Ana's side");
    assert_eq!(ana_thread, thread);
    assert_eq!(ana_messages[0]["id"], message["id"]);

    // A mail whose domain does not vouch for it (DMARC fails: no signature, and an
    // envelope of another domain) is never Ana's, whatever its From says.
    let mut smtp = Smtp::hello(smtp_of(&a)).await;
    let reply = smtp
        .mail(
            "forger@elsewhere.test",
            &["bob@a.test"],
            &mail_text(
                "anamail@b.test",
                "bob@a.test",
                "It's me",
                "forged-1@b.test",
                "Send money",
            ),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let spam = eventually("the forgery is filed", async || {
        let list = conversations(&a, &bob, "spam").await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(spam.len(), 1);
    assert!(
        spam[0]["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["kind"] == "contact" && m["address"] == "anamail@b.test"),
        "{spam:?}"
    );
    let (_, after) = direct_with(&a, &bob, "ana").await.expect("still there");
    assert_eq!(after.len(), 1, "nothing more from Ana: {after:?}");

    // Removed, the address is a stranger's again.
    let (status, _) = a.delete("/api/v1/me/emails/anamail@b.test", &ana).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = a.delete("/api/v1/me/emails/anamail@b.test", &ana).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    send_text(&b, &outside, &to_bob, "m2", "And now?").await;
    // It joins the contact's conversation the forgery opened (in spam).
    let contact_thread = spam[0]["id"].as_str().expect("id");
    let from_contact = eventually("the contact's mail", async || {
        let messages = history(&a, &bob, contact_thread).await;
        (messages.len() == 2).then_some(messages)
    })
    .await;
    assert_eq!(from_contact[1]["text"], "And now?");
    assert_eq!(
        from_contact[1]["sender"]["kind"], "contact",
        "{from_contact:?}"
    );
    assert_eq!(from_contact[1]["email"]["auth"]["dmarc"], "pass");
    let (_, after) = direct_with(&a, &bob, "ana").await.expect("still there");
    assert_eq!(after.len(), 1, "nothing more from Ana: {after:?}");
}

#[tokio::test]
async fn an_address_blocked_or_a_blocked_account_s_mail_is_dropped_with_a_count() {
    let (a, b) = mail_pair().await;
    let ana = a.register("ana").await;
    let bob = a.register("bob").await;
    let outside = b.register("anamail").await;
    let pest = b.register("pest").await;

    // Bob blocks an address: its mail is taken (250) and nothing of it is kept.
    let (status, body) = a
        .call("PUT", "/api/v1/blocks/Pest@b.test", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = a
        .call(
            "PUT",
            "/api/v1/blocks/not@an@address",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, to_bob) = open_address(&b, &pest, "bob@a.test").await;
    let to_bob = to_bob["id"].as_str().expect("id").to_owned();
    let sent = send_text(&b, &pest, &to_bob, "p1", "Buy now").await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    // b.test's relay took it: the message shows as mailed, nothing bounced.
    mailed(&b, &pest, &sent_id).await;
    let (_, blocks) = a.get("/api/v1/blocks", &bob).await;
    assert_eq!(blocks["addresses"][0]["address"], "pest@b.test", "{blocks}");
    assert_eq!(blocks["addresses"][0]["dropped"], 1);
    for folder in ["inbox", "requests", "spam"] {
        assert!(conversations(&a, &bob, folder).await.is_empty(), "{folder}");
    }
    // Unblocked, the next one lands.
    let (status, _) = a
        .call(
            "DELETE",
            "/api/v1/blocks/pest@b.test",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    send_text(&b, &pest, &to_bob, "p2", "Last chance").await;
    eventually("the request", async || {
        let list = conversations(&a, &bob, "requests").await;
        (!list.is_empty()).then_some(())
    })
    .await;

    // Bob blocks Ana: mail from her verified address is dropped as her chat would be.
    verify_address(&a, &ana, &b, &outside, "anamail@b.test").await;
    let (status, _) = a
        .call("PUT", "/api/v1/blocks/ana", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, from_ana) = open_address(&b, &outside, "bob@a.test").await;
    let from_ana = from_ana["id"].as_str().expect("id").to_owned();
    let sent = send_text(&b, &outside, &from_ana, "a1", "Are you there?").await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    mailed(&b, &outside, &sent_id).await;
    assert!(
        direct_with(&a, &bob, "ana").await.is_none(),
        "nothing opened for Bob"
    );
    assert!(direct_with(&a, &ana, "bob").await.is_none(), "nor for Ana");
    // Blocking the address itself holds even though Ana verified it.
    let (status, _) = a
        .call("DELETE", "/api/v1/blocks/ana", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = a
        .call(
            "PUT",
            "/api/v1/blocks/anamail@b.test",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let sent = send_text(&b, &outside, &from_ana, "a2", "Still there?").await;
    let sent_id = sent["id"].as_str().expect("id").to_owned();
    mailed(&b, &outside, &sent_id).await;
    assert!(
        direct_with(&a, &bob, "ana").await.is_none(),
        "still nothing for Bob"
    );
    let (_, blocks) = a.get("/api/v1/blocks", &bob).await;
    let anamail = blocks["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .find(|b| b["address"] == "anamail@b.test")
        .expect("the block")
        .clone();
    assert_eq!(anamail["dropped"], 1, "{blocks}");
    let (status, _) = a
        .call("PUT", "/api/v1/blocks/ana", Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Blocking an address of this server blocks its account.
    let (status, _) = a
        .call(
            "DELETE",
            "/api/v1/blocks/Ana@a.test",
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, blocks) = a.get("/api/v1/blocks", &bob).await;
    assert!(
        blocks["blocked"].as_array().expect("list").is_empty(),
        "{blocks}"
    );
}

#[tokio::test]
async fn an_address_is_added_only_where_mail_goes_out_and_only_an_outside_one() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    for (address, code) in [
        ("nope", "invalid_address"),
        ("ana@localhost", "invalid_address"),
    ] {
        let (status, body) = server
            .post(
                "/api/v1/me/emails",
                &ana,
                serde_json::json!({"address": address}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{address}: {body}");
        assert_eq!(body["error"]["code"], code);
    }
    // No relay: no code can be mailed, and nothing is kept.
    let (status, body) = server
        .post(
            "/api/v1/me/emails",
            &ana,
            serde_json::json!({"address": "ana@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "mail_unavailable");
    let (_, mine) = server.get("/api/v1/me/emails", &ana).await;
    assert_eq!(mine, serde_json::json!({"emails": []}));
    let (status, _) = server
        .post(
            "/api/v1/me/emails/ana@example.org/verify",
            &ana,
            serde_json::json!({"code": "123456"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .delete("/api/v1/me/emails/ana@example.org", &ana)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A relay that refuses: nothing kept either.
    let refusing = TestServer::start_with(|args| {
        args.smtp_relay = Some(format!("smtp://127.0.0.1:{}", free_port()));
    })
    .await;
    let zoe = refusing.register("zoe").await;
    let (status, body) = refusing
        .post(
            "/api/v1/me/emails",
            &zoe,
            serde_json::json!({"address": "zoe@example.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "mail_failed");
    let (_, mine) = refusing.get("/api/v1/me/emails", &zoe).await;
    assert_eq!(mine, serde_json::json!({"emails": []}));
}

#[tokio::test]
async fn a_mail_s_files_become_the_message_s_attachments() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let b64 = |bytes: &[u8]| {
        let encoded = data_encoding::BASE64.encode(bytes);
        encoded
            .as_bytes()
            .chunks(76)
            .map(|line| String::from_utf8_lossy(line).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let jpeg = super::authz::tiny_jpeg();
    let mail = format!(
        "From: Lena <lena@example.org>\r\nTo: bob@localhost\r\nSubject: Fotos\r\nMessage-ID: <files-1@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere are the photo and my notes.\r\n\
         --b1\r\nContent-Type: image/jpeg; name=\"beach.jpg\"\r\nContent-Disposition: attachment; filename=\"beach.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --b1\r\nContent-Type: text/plain; name=\"notas.txt\"\r\nContent-Disposition: attachment; filename=\"notas.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCanci=C3=B3n del verano\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"empty.bin\"\r\nContent-Disposition: attachment; filename=\"empty.bin\"\r\n\r\n\r\n\
         --b1--\r\n",
        b64(&jpeg)
    );
    let mut smtp = Smtp::hello(smtp_of(&server)).await;
    let reply = smtp
        .mail("lena@example.org", &["bob@localhost"], mail.as_bytes())
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let request = conversations(&server, &bob, "requests").await;
    let thread = request[0]["id"].as_str().expect("id");
    let messages = history(&server, &bob, thread).await;
    let message = &messages[0];
    assert_eq!(message["text"], "Here are the photo and my notes.");
    let files = message["attachments"].as_array().expect("attachments");
    // The empty file is left out; the others come in order.
    assert_eq!(files.len(), 2, "{message}");
    assert_eq!(files[0]["name"], "beach.jpg");
    assert_eq!(files[0]["content_type"], "image/jpeg");
    assert_eq!(files[0]["width"], 16);
    assert_eq!(files[1]["name"], "notas.txt");
    let notes = files[1]["url"].as_str().expect("url");
    let download = |user: &User| {
        let request = reqwest::Client::new()
            .get(server.url(notes))
            .bearer_auth(user.token.clone());
        async move { request.send().await.expect("answers") }
    };
    let answer = download(&bob).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.bytes().await.expect("bytes").as_ref(),
        "Canción del verano".as_bytes()
    );
    // Nobody outside the conversation reads them.
    assert_eq!(download(&carol).await.status(), StatusCode::NOT_FOUND);
    let thumbnail = reqwest::Client::new()
        .get(server.url(&format!(
            "{}/thumbnail",
            files[0]["url"].as_str().expect("url")
        )))
        .bearer_auth(bob.token.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(thumbnail.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_listener_offers_starttls_with_the_configured_certificate() {
    let db = super::support::TestDb::new().await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../hilo-mail/tests/tls");
    let config = db.data_dir().join("hilo.toml");
    std::fs::write(
        &config,
        format!("[mail]\ntls_cert = \"{fixtures}/cert.pem\"\ntls_key = \"{fixtures}/key.pem\"\n"),
    )
    .expect("config written");
    let server = TestServer::start_on(&db, move |args| args.store.config = Some(config)).await;
    let mut smtp = Smtp::connect(smtp_of(&server)).await;
    let ehlo = smtp.command("EHLO client.example.org").await;
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    let ready = smtp.command("STARTTLS").await;
    assert!(ready.starts_with("220 2.0.0"), "{ready}");
    // The plain server of the other tests offers none.
    let plain = TestServer::start().await;
    let mut smtp = Smtp::connect(smtp_of(&plain)).await;
    let ehlo = smtp.command("EHLO client.example.org").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
}

#[tokio::test]
async fn the_original_of_a_mail_is_its_whole_text_and_safe_html() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let mail = "From: Lena <lena@example.org>\r\nTo: bob@localhost\r\nSubject: Menu\r\nMessage-ID: <html-1@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTonight: paella.\r\n\r\nOn Monday, Bob wrote:\r\n> what's for dinner?\r\n\
         --alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p onclick=\"x()\">Tonight: <b>paella</b>.</p><script>steal()</script>\
         <img src=\"https://tracker.example/open.gif\" alt=\"\"><blockquote>what's for dinner?</blockquote>\r\n\
         --alt--\r\n";
    let mut smtp = Smtp::hello(smtp_of(&server)).await;
    let reply = smtp
        .mail("lena@example.org", &["bob@localhost"], mail.as_bytes())
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let thread = conversations(&server, &bob, "requests").await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let message = &history(&server, &bob, &thread).await[0];
    assert_eq!(
        message["text"], "Tonight: paella.",
        "the thread shows it trimmed"
    );
    let id = message["id"].as_str().expect("id");
    let path = format!("/api/v1/messages/{id}/original");
    let (status, original) = server.get(&path, &bob).await;
    assert_eq!(status, StatusCode::OK, "{original}");
    let text = original["text"].as_str().expect("text");
    assert!(text.contains("> what's for dinner?"), "all of it: {text}");
    let html = original["html"].as_str().expect("html");
    assert!(html.contains("<b>paella</b>"), "{html}");
    for gone in ["script", "steal", "onclick", "tracker"] {
        assert!(!html.contains(gone), "{gone}: {html}");
    }
    assert_eq!(original["email"]["subject"], "Menu");
    let (status, _) = server.get(&path, &carol).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only who can read the message"
    );
    // A chat message's original is its text.
    let ana = server.register("ana").await;
    let direct = server.direct(&ana, &bob).await;
    let chat = server.send(&ana, &direct, "c1", "plain words").await;
    let (_, original) = server
        .get(
            &format!(
                "/api/v1/messages/{}/original",
                chat["id"].as_str().expect("id")
            ),
            &bob,
        )
        .await;
    assert_eq!(
        original,
        serde_json::json!({"text": "plain words", "html": null, "email": null})
    );
}

/// Proves `address` (a mailbox of `outside` on `b`) as `user`'s on `a` (a.test).
async fn verify_address(
    a: &TestServer,
    user: &User,
    b: &TestServer,
    outside: &User,
    address: &str,
) {
    let (status, body) = a
        .post(
            "/api/v1/me/emails",
            user,
            serde_json::json!({"address": address}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = mailed_code(b, outside, "a.test").await;
    let (status, body) = a
        .post(
            &format!("/api/v1/me/emails/{address}/verify"),
            user,
            serde_json::json!({"code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn replies_find_their_conversation_by_address_tag_or_references() {
    let (a, b) = mail_pair().await;
    let ana = a.register("ana").await;
    let bob = a.register("bob").await;
    let carol = a.register("carol").await;
    let outside = b.register("anamail").await;
    verify_address(&a, &ana, &b, &outside, "anamail@b.test").await;
    let group = a.group(&ana, "Cena", &[&bob]).await;
    let elsewhere = a.direct(&ana, &carol).await;
    let in_group = a.send(&ana, &group, "g1", "¿Quién trae el vino?").await;
    let in_group = in_group["id"].as_str().expect("id").to_owned();
    let with_carol = a.send(&ana, &elsewhere, "c1", "Hola Carol").await;
    let with_carol = with_carol["id"].as_str().expect("id").to_owned();
    let texts = async |user: &User, conversation: &str| -> Vec<String> {
        history(&a, user, conversation)
            .await
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // The group's own address: Ana writes to it from her mailbox on b.test.
    let (_, to_group) = open_address(&b, &outside, &format!("g-{group}@a.test")).await;
    let to_group = to_group["id"].as_str().expect("id").to_owned();
    send_text(&b, &outside, &to_group, "m1", "Yo traigo el vino").await;
    eventually("the group has Ana's mail", async || {
        texts(&bob, &group)
            .await
            .contains(&"Yo traigo el vino".to_owned())
            .then_some(())
    })
    .await;
    let last = history(&a, &bob, &group).await.pop().expect("a message");
    assert_eq!(last["sender"]["username"], "ana");
    assert_eq!(last["channel"], "email");

    // Someone not in the group cannot write to it: b.test's mail comes back refused.
    let pest = b.register("pest").await;
    let (_, pest_thread) = open_address(&b, &pest, &format!("g-{group}@a.test")).await;
    let pest_thread = pest_thread["id"].as_str().expect("id").to_owned();
    let sent = send_text(&b, &pest, &pest_thread, "p1", "spam for the group").await;
    let sent = sent["id"].as_str().expect("id").to_owned();
    let failed = eventually("b.test's mail is refused", async || {
        let message = message_by_id(&b, &pest, &sent).await;
        (message["delivery"]["state"] == "failed").then_some(message)
    })
    .await;
    assert!(
        failed["delivery"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("members")),
        "{failed}"
    );

    // A reply to Bob's address whose References name the group's message goes to the
    // group (whatever its In-Reply-To says); one naming a conversation Bob is not in
    // falls back to Ana and Bob's own conversation. SPF vouches for b.test on loopback.
    let reply = |id: &str, refs: &str, body: &str| {
        format!(
            "From: anamail@b.test\r\nTo: bob@a.test\r\nSubject: Re: Cena\r\nMessage-ID: <{id}@b.test>\r\n\
             In-Reply-To: <rewritten-by-a-client@b.test>\r\nReferences: {refs} <rewritten-by-a-client@b.test>\r\n\r\n{body}\r\n"
        )
    };
    let mut smtp = Smtp::hello(smtp_of(&a)).await;
    let answer = smtp
        .mail(
            "anamail@b.test",
            &["bob@a.test"],
            reply("r1", &format!("<{in_group}@a.test>"), "Y yo el pan").as_bytes(),
        )
        .await;
    assert!(answer.starts_with("250"), "{answer}");
    assert!(
        texts(&bob, &group)
            .await
            .contains(&"Y yo el pan".to_owned())
    );
    let answer = smtp
        .mail(
            "anamail@b.test",
            &["bob@a.test"],
            reply("r2", &format!("<{with_carol}@a.test>"), "Solo para Bob").as_bytes(),
        )
        .await;
    assert!(answer.starts_with("250"), "{answer}");
    let (_, direct) = direct_with(&a, &bob, "ana")
        .await
        .expect("their own conversation");
    assert_eq!(direct.last().expect("a message")["text"], "Solo para Bob");
    assert!(
        !texts(&carol, &elsewhere)
            .await
            .contains(&"Solo para Bob".to_owned())
    );
    // A signed mail of Ana's handed to an address it was not written to (a replay: its
    // To names someone else) is not Ana's: it stays a contact's.
    let answer = smtp
        .mail(
            "anamail@b.test",
            &["bob@a.test"],
            "From: anamail@b.test\r\nTo: zoe@elsewhere.test\r\nSubject: for Zoe\r\nMessage-ID: <replayed@b.test>\r\n\r\nMeant for Zoe\r\n"
                .as_bytes(),
        )
        .await;
    assert!(answer.starts_with("250"), "{answer}");
    let (_, direct) = direct_with(&a, &bob, "ana")
        .await
        .expect("their own conversation");
    assert!(
        direct.iter().all(|m| m["text"] != "Meant for Zoe"),
        "{direct:?}"
    );
    let mut held = conversations(&a, &bob, "requests").await;
    held.extend(conversations(&a, &bob, "spam").await);
    let contact = held
        .into_iter()
        .find(|c| {
            c["members"]
                .as_array()
                .expect("members")
                .iter()
                .any(|m| m["address"] == "anamail@b.test")
        })
        .expect("a contact's conversation");
    let replayed = history(&a, &bob, contact["id"].as_str().expect("id")).await;
    assert_eq!(replayed[0]["text"], "Meant for Zoe");
    assert_eq!(replayed[0]["sender"]["kind"], "contact");
    // Writing to a group's address, references name only that group: a non-member's mail
    // naming another conversation is refused all the same.
    let answer = smtp
        .mail(
            "pest@b.test",
            &[&format!("g-{group}@a.test")],
            format!(
                "From: pest@b.test\r\nTo: g-{group}@a.test\r\nSubject: x\r\nMessage-ID: <sneak@b.test>\r\nReferences: <{with_carol}@a.test>\r\n\r\nsneaking in\r\n"
            )
            .as_bytes(),
        )
        .await;
    assert!(answer.starts_with("550"), "{answer}");
    // A tag names the conversation too: ana+<group>@a.test.
    let answer = smtp
        .mail(
            "anamail@b.test",
            &[&format!("ana+{group}@a.test")],
            format!(
                "From: anamail@b.test\r\nTo: ana+{group}@a.test\r\nSubject: tag\r\nMessage-ID: <r3@b.test>\r\n\r\nPor la etiqueta\r\n"
            )
            .as_bytes(),
        )
        .await;
    assert!(answer.starts_with("250"), "{answer}");
    assert!(
        texts(&bob, &group)
            .await
            .contains(&"Por la etiqueta".to_owned())
    );
}

#[tokio::test]
async fn someone_away_gets_one_digest_and_answers_it_by_replying() {
    let (a, b) = mail_pair_with("digest_after_seconds = 1\n").await;
    let ana = a.register("ana").await;
    let bob = a.register("bob").await;
    let outside = b.register("anamail").await;
    verify_address(&a, &ana, &b, &outside, "anamail@b.test").await;
    let (_, mine) = a.get("/api/v1/me/emails", &ana).await;
    assert_eq!(mine["emails"][0]["digest"], true, "{mine}");
    a.make_friends(&ana, &bob).await;
    let direct = a.direct(&bob, &ana).await;
    a.send(&bob, &direct, "b1", "Hola Ana").await;
    a.send(&bob, &direct, "b2", "¿Vienes mañana?").await;

    // Ana has no device connected: once the first message has waited, one mail for the
    // conversation, with both.
    let digests = async || -> Vec<Value> {
        let mut found = Vec::new();
        for folder in ["inbox", "requests", "spam"] {
            for conversation in conversations(&b, &outside, folder).await {
                let id = conversation["id"].as_str().expect("id");
                for message in history(&b, &outside, id).await {
                    let mail_id = message["email"]["message_id"].as_str().unwrap_or_default();
                    if mail_id.starts_with("digest.") {
                        found.push(message);
                    }
                }
            }
        }
        found
    };
    let digest = eventually("the digest arrives", async || digests().await.pop()).await;
    let text = digest["text"].as_str().expect("text");
    assert!(
        text.contains("Hola Ana") && text.contains("¿Vienes mañana?"),
        "{text}"
    );
    assert_eq!(digest["email"]["subject"], "2 new messages in bob");
    assert_eq!(digest["email"]["from"], "noreply@a.test");
    // Throttled: another message within the hour makes no second digest.
    a.send(&bob, &direct, "b3", "¿Hola?").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(digests().await.len(), 1, "one digest per round");

    // Ana answers from her mailbox, as a mail client would: to the Reply-To address,
    // quoting the digest.
    let digest_id = digest["email"]["message_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let answer = |id: &str, to: &str, extra: &str, body: &str| {
        format!(
            "From: anamail@b.test\r\nTo: {to}\r\nSubject: Re: 2 new messages in bob\r\nMessage-ID: <{id}@b.test>\r\n\
             In-Reply-To: <{digest_id}>\r\nReferences: <{digest_id}>\r\n{extra}\r\n{body}\r\n\r\nOn Monday, bob (hilo) wrote:\r\n> Hola Ana\r\n"
        )
    };
    let tagged = format!("ana+{direct}@a.test");
    let mut smtp = Smtp::hello(smtp_of(&a)).await;
    let reply = smtp
        .mail(
            "anamail@b.test",
            &[&tagged],
            answer("re1", &tagged, "", "Sí, voy").as_bytes(),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let texts = async || -> Vec<(String, String)> {
        history(&a, &bob, &direct)
            .await
            .iter()
            .map(|m| {
                (
                    m["sender"]["username"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    m["text"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    assert!(
        texts()
            .await
            .contains(&("ana".to_owned(), "Sí, voy".to_owned())),
        "{:?}",
        texts().await
    );
    // A client that drops the tag still threads by In-Reply-To.
    let reply = smtp
        .mail(
            "anamail@b.test",
            &["ana@a.test"],
            answer("re2", "ana@a.test", "", "Y llevo postre").as_bytes(),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(
        texts()
            .await
            .contains(&("ana".to_owned(), "Y llevo postre".to_owned()))
    );
    // Her out-of-office answering the digest is taken and dropped.
    let before = texts().await.len();
    let reply = smtp
        .mail(
            "anamail@b.test",
            &[&tagged],
            answer(
                "ooo",
                &tagged,
                "Auto-Submitted: auto-replied\r\n",
                "I am away",
            )
            .as_bytes(),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(
        texts().await.len(),
        before,
        "no auto-reply becomes her message"
    );

    // Edited in hilo, the mail's words are gone from its original too.
    let mine = history(&a, &ana, &direct)
        .await
        .into_iter()
        .find(|m| m["text"] == "Sí, voy")
        .expect("Ana's reply");
    let id = mine["id"].as_str().expect("id");
    let (status, body) = a
        .patch(
            &format!("/api/v1/messages/{id}"),
            &ana,
            serde_json::json!({"text": "Sí, voy a las 9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, original) = a
        .get(&format!("/api/v1/messages/{id}/original"), &bob)
        .await;
    assert_eq!(original["text"], "Sí, voy a las 9", "{original}");
    assert_eq!(original["html"], Value::Null);
    // Digests can be turned off per address.
    let (status, body) = a
        .patch(
            "/api/v1/me/emails/anamail@b.test",
            &ana,
            serde_json::json!({"digest": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["digest"], false);
}

/// The direct conversation `user` has with the email contact at `address`, and its
/// history, from any folder.
async fn thread_with_address(
    server: &TestServer,
    user: &User,
    address: &str,
) -> Option<(String, Vec<Value>)> {
    direct_thread(server, user, |m| m["address"] == address).await
}

/// The addresses of a conversation's email contacts, sorted.
fn contact_addresses(conversation: &Value) -> Vec<String> {
    let mut addresses: Vec<String> = conversation["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["kind"] == "contact")
        .map(|m| m["address"].as_str().expect("address").to_owned())
        .collect();
    addresses.sort();
    addresses
}

#[tokio::test]
async fn email_contacts_join_a_group_by_address_and_get_its_mail_as_a_list_s() {
    let relay = super::support::MailSink::start().await;
    let relay_url = relay.url();
    let server = TestServer::start_with(move |args| args.smtp_relay = Some(relay_url)).await;
    let ana = server.register("ana").await;
    let carl = server.register("carl").await;
    let create = async |addresses: Value| {
        server
            .post(
                "/api/v1/conversations",
                &ana,
                serde_json::json!({"kind": "group", "name": "Cena", "members": [], "addresses": addresses}),
            )
            .await
    };

    // Bad addresses are refused and nothing is made.
    for (addresses, code) in [
        (
            serde_json::json!(["bob@example.org", "no-at-sign"]),
            "invalid_address",
        ),
        (serde_json::json!(["+34600111222"]), "unsupported_address"),
    ] {
        let (status, body) = create(addresses).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    // At most 100 contacts in a group (each message is mailed to every one).
    let many: Vec<String> = (0..101).map(|n| format!("guest{n}@example.org")).collect();
    let (status, body) = create(serde_json::json!(many)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "too_many_contacts", "{body}");
    assert!(conversations(&server, &ana, "inbox").await.is_empty());
    // An address of this server is its account; any other, an email contact.
    let (status, group) = create(serde_json::json!(["carl@localhost", "Bob@Example.ORG"])).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let id = group["id"].as_str().expect("id").to_owned();
    assert_eq!(contact_addresses(&group), ["bob@example.org"]);
    assert!(
        group["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["username"] == "carl")
    );
    let (status, _) = server
        .get(&format!("/api/v1/conversations/{id}"), &carl)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Adding by address: once, however often asked.
    for _ in 0..2 {
        let (status, body) = server
            .post(
                &format!("/api/v1/conversations/{id}/members"),
                &carl,
                serde_json::json!({"addresses": ["dan@example.net"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            contact_addresses(&body),
            ["bob@example.org", "dan@example.net"]
        );
    }
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &carl,
            serde_json::json!({"usernames": [], "addresses": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Only an admin removes a contact.
    let (status, body) = server
        .delete(
            &format!("/api/v1/conversations/{id}/members/dan@example.net"),
            &carl,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_group_admin");
    let (status, _) = server
        .delete(
            &format!("/api/v1/conversations/{id}/members/nobody@example.net"),
            &ana,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What a member writes goes out once, to every contact on the envelope, addressed to
    // the group as a list's mail is: no contact sees another's address, replies and
    // "reply all" come back to the group, and it says how to leave.
    let sent = server.send(&ana, &id, "g1", "¿Cenamos el viernes?").await;
    let sent = sent["id"].as_str().expect("id").to_owned();
    mailed(&server, &ana, &sent).await;
    let (mut rcpts, bytes) = relay
        .mails
        .lock()
        .expect("sink")
        .last()
        .cloned()
        .expect("a mail");
    rcpts.sort();
    assert_eq!(rcpts, ["bob@example.org", "dan@example.net"]);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let group_address = format!("g-{id}@localhost");
    assert!(head.contains("From: ana <ana@localhost>"), "{head}");
    assert!(
        head.contains(&format!("To: Cena <{group_address}>")),
        "{head}"
    );
    assert!(
        head.contains(&format!("Reply-To: Cena <{group_address}>")),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "List-Unsubscribe: <mailto:g-{id}+leave@localhost>"
        )),
        "{head}"
    );
    assert!(head.contains("Subject: Cena"), "{head}");
    // A list's mail: no auto-responder answers it, no other list passes it on.
    assert!(
        head.contains(&format!("List-Id: <g-{id}.localhost>")),
        "{head}"
    );
    assert!(head.contains("Precedence: list"), "{head}");
    assert!(
        !head.contains("bob@example.org") && !head.contains("dan@example.net"),
        "{head}"
    );
    // The message keeps what its mail said, the group's address as its To.
    let message = message_by_id(&server, &ana, &sent).await;
    assert_eq!(
        message["email"]["to"][0]["address"],
        group_address.as_str(),
        "{message}"
    );

    // Removed, a contact gets nothing more; with no contact left, nothing is mailed.
    for address in ["dan@example.net", "bob@example.org"] {
        let (status, body) = server
            .delete(
                &format!("/api/v1/conversations/{id}/members/{address}"),
                &ana,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (_, group) = server
        .get(&format!("/api/v1/conversations/{id}"), &ana)
        .await;
    assert!(contact_addresses(&group).is_empty(), "{group}");
    let quiet = server.send(&ana, &id, "g2", "Solo nosotros").await;
    assert!(quiet["delivery"].is_null(), "{quiet}");
    // Added again, a contact is back (its old membership, no duplicate).
    let (status, body) = server
        .post(
            &format!("/api/v1/conversations/{id}/members"),
            &ana,
            serde_json::json!({"addresses": ["dan@example.net"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(contact_addresses(&body), ["dan@example.net"]);
}

#[tokio::test]
async fn a_group_s_email_contacts_answer_into_it_and_hear_each_other() {
    let (a, b) = mail_pair().await;
    let ana = a.register("ana").await;
    let carl = a.register("carl").await;
    let bob = b.register("bob").await;
    let dan = b.register("dan").await;
    let (status, group) = a
        .post(
            "/api/v1/conversations",
            &ana,
            serde_json::json!({"kind": "group", "name": "Cena", "members": ["carl"], "addresses": ["bob@b.test", "dan@b.test"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["id"].as_str().expect("id").to_owned();
    let group_address = format!("g-{group}@a.test");
    let texts = async |user: &User| -> Vec<Value> { history(&a, user, &group).await };
    let has_text = |messages: &[Value], text: &str| messages.iter().any(|m| m["text"] == text);

    let first = a.send(&ana, &group, "g1", "¿Cenamos el viernes?").await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    mailed(&a, &ana, &first_id).await;
    // Each contact on b.test has it from Ana, addressed to the group only.
    let (bob_thread, got) = eventually("Bob has Ana's mail", async || {
        thread_with_address(&b, &bob, "ana@a.test").await
    })
    .await;
    assert_eq!(got[0]["text"], "¿Cenamos el viernes?");
    assert_eq!(got[0]["email"]["to"][0]["address"], group_address.as_str());
    assert_eq!(got[0]["email"]["to"].as_array().expect("to").len(), 1);
    eventually("Dan has Ana's mail", async || {
        thread_with_address(&b, &dan, "ana@a.test").await
    })
    .await;

    // Bob answers from b.test in his thread with Ana: the answer's references name the
    // group's mail, so it is Bob's message in the group, which Carl reads, and it is
    // mailed on to Dan (not back to Bob), from the group's address.
    let answer = send_text(&b, &bob, &bob_thread, "r1", "¡Sí! Yo llevo el vino").await;
    mailed(&b, &bob, answer["id"].as_str().expect("id")).await;
    let in_group = eventually("Bob's answer is in the group", async || {
        texts(&carl)
            .await
            .into_iter()
            .find(|m| m["text"] == "¡Sí! Yo llevo el vino")
    })
    .await;
    assert_eq!(in_group["sender"]["kind"], "contact");
    assert_eq!(in_group["sender"]["address"], "bob@b.test");
    assert_eq!(in_group["channel"], "email");
    let relayed = eventually("Dan hears Bob", async || {
        thread_with_address(&b, &dan, &group_address)
            .await
            .filter(|(_, messages)| has_text(messages, "¡Sí! Yo llevo el vino"))
    })
    .await;
    let relayed = &relayed.1[0];
    assert_eq!(relayed["sender"]["display_name"], "bob@b.test (Cena)");
    assert_eq!(relayed["email"]["auth"]["dkim"], "pass", "{relayed}");
    assert!(
        thread_with_address(&b, &bob, &group_address)
            .await
            .is_none()
    );

    // Dan writes to the group's address (as his mail client's Reply-To would): his
    // message in the group, heard by Bob.
    let (_, to_group) = open_address(&b, &dan, &group_address).await;
    let to_group = to_group["id"].as_str().expect("id").to_owned();
    send_text(&b, &dan, &to_group, "d1", "Yo el postre").await;
    eventually("Dan's mail is in the group", async || {
        has_text(&texts(&ana).await, "Yo el postre").then_some(())
    })
    .await;
    eventually("Bob hears Dan", async || {
        thread_with_address(&b, &bob, &group_address)
            .await
            .filter(|(_, messages)| has_text(messages, "Yo el postre"))
    })
    .await;

    // Raw mail to a.test's door: what may not speak in the group is refused or dropped,
    // and never shows in it. Eve's domain (c.test) publishes no DMARC policy.
    let (status, body) = a
        .post(
            &format!("/api/v1/conversations/{group}/members"),
            &ana,
            serde_json::json!({"addresses": ["eve@c.test"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let leave_address = format!("g-{group}+leave@a.test");
    let references = format!("References: <{first_id}@a.test>\r\n");
    // (what for; envelope sender; recipient; From; To; more headers; id; text; answer)
    #[rustfmt::skip]
    let cases = [
        // A forged From (b.test's DMARC disowns mail sent from elsewhere).
        ("forged", "someone@elsewhere.test", group_address.as_str(), "bob@b.test", group_address.as_str(), "", "forged@elsewhere.test", "forged", "550"),
        // A contact's mail written to someone else, handed to the group's address.
        ("replayed", "bob@b.test", &group_address, "bob@b.test", "zoe@elsewhere.test", "", "replay@b.test", "for Zoe only", "550"),
        // An out-of-office answer: taken, never shown.
        ("automatic", "bob@b.test", &group_address, "bob@b.test", &group_address, "Auto-Submitted: auto-replied\r\n", "away@b.test", "I am away", "250"),
        // Another list's mail (another server's group holding this group's address,
        // say): never passed on again, so no loop between two groups.
        ("listed", "bob@b.test", &group_address, "bob@b.test", &group_address, "List-Id: <g-x.b.test>\r\nPrecedence: list\r\n", "listed@b.test", "round and round", "250"),
        // A contact's mail written to someone else, handed to a member's address with
        // the group in its References: a mail to that member, not the group's.
        ("replayed to a member", "bob@b.test", "carl@a.test", "bob@b.test", "zoe@elsewhere.test", &references, "replay2@b.test", "only for Zoe", "250"),
        // A From nobody proves (no DMARC policy) does not speak in the group...
        ("unproven", "eve@c.test", &group_address, "eve@c.test", &group_address, "", "eve1@c.test", "unproven", "550"),
        // ... but can still leave it.
        ("leaving", "eve@c.test", &leave_address, "eve@c.test", &leave_address, "", "eve2@c.test", "", "250"),
    ];
    let mut smtp = Smtp::hello(smtp_of(&a)).await;
    for (what, envelope, rcpt, from, to, extra, id, text, expected) in cases {
        let raw = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: Re: Cena\r\n{extra}Message-ID: <{id}>\r\n\r\n{text}\r\n"
        );
        let answer = smtp.mail(envelope, &[rcpt], raw.as_bytes()).await;
        assert!(answer.starts_with(expected), "{what}: {answer}");
    }
    let shown = texts(&ana).await;
    for (what, .., text, _) in cases {
        assert!(text.is_empty() || !has_text(&shown, text), "{what} shows");
    }
    let (_, carls) = thread_with_address(&a, &carl, "bob@b.test")
        .await
        .expect("Carl's conversation with Bob");
    assert!(has_text(&carls, "only for Zoe"));

    // Dan leaves by mailing the group mail's List-Unsubscribe address: out of the group,
    // he gets nothing more; his mail to the group is then refused.
    let answer = smtp
        .mail(
            "dan@b.test",
            &[&format!("g-{group}+leave@a.test")],
            format!("From: dan@b.test\r\nTo: g-{group}+leave@a.test\r\nSubject: unsubscribe\r\nMessage-ID: <leave@b.test>\r\n\r\n\r\n").as_bytes(),
        )
        .await;
    assert!(answer.starts_with("250"), "{answer}");
    let (_, view) = a.get(&format!("/api/v1/conversations/{group}"), &ana).await;
    assert_eq!(contact_addresses(&view), ["bob@b.test"]);
    let last = a.send(&ana, &group, "g2", "Entonces somos tres").await;
    mailed(&a, &ana, last["id"].as_str().expect("id")).await;
    eventually("Bob has the last mail", async || {
        thread_with_address(&b, &bob, "ana@a.test")
            .await
            .filter(|(_, messages)| has_text(messages, "Entonces somos tres"))
    })
    .await;
    let (_, dans) = thread_with_address(&b, &dan, "ana@a.test")
        .await
        .expect("Dan's thread");
    assert!(!has_text(&dans, "Entonces somos tres"));
    let answer = smtp
        .mail(
            "dan@b.test",
            &[&group_address],
            format!("From: dan@b.test\r\nTo: {group_address}\r\nSubject: x\r\nMessage-ID: <after@b.test>\r\n\r\nstill here?\r\n").as_bytes(),
        )
        .await;
    assert!(answer.starts_with("550"), "{answer}");
}
