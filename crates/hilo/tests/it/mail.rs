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

async fn conversations(server: &TestServer, user: &User, folder: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/api/v1/conversations?folder={folder}"), user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["conversations"].as_array().expect("a list").clone()
}

async fn history(server: &TestServer, user: &User, id: &str) -> Vec<Value> {
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
        // Only CRLF.CRLF ends DATA: the bare-LF dot and the "command" after it are data.
        (
            "MAIL FROM:<ana@example.org> BODY=8BITMIME",
            b"From: a@example.org\r\n\r\nline\n.\nMAIL FROM:<x@y>\n\r\n.\r\n".to_vec(),
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
    for n in 0..101 {
        script.push_str(&format!("RCPT TO:<bob+{n}@localhost>\r\n"));
    }
    smtp.send(script.as_bytes()).await;
    for n in 0..101 {
        let reply = smtp.reply().await;
        let expected = if n < 100 { "250 " } else { "452 " };
        assert!(reply.starts_with(expected), "recipient {n}: {reply}");
    }
    assert!(smtp.command("RSET").await.starts_with("250 "));
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
