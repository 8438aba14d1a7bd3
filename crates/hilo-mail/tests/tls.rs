//! STARTTLS on the SMTP listener (RFC 3207), over real TCP: a real client (lettre) that
//! insists on TLS delivers through it; what a client pipelines behind STARTTLS in the
//! clear is thrown away (CVE-2011-0411); a listener without a certificate never offers
//! it. The certificate is a test one (tests/tls: self-signed for mail.hilo.test,
//! localhost and 127.0.0.1, valid a hundred years).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hilo_mail::smtp::{Envelope, Mailbox, Reply, SmtpConfig, Tls, serve};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const CERT: &[u8] = include_bytes!("tls/cert.pem");
const KEY: &[u8] = include_bytes!("tls/key.pem");

/// What a listener took.
type Taken = Arc<Mutex<Vec<(Envelope, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Kept(Taken);

impl Mailbox for Kept {
    async fn check_sender(&self, _: &Envelope) -> Result<(), Reply> {
        Ok(())
    }

    async fn check_recipient(&self, _: &Envelope, _: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn deliver(&self, envelope: Envelope, message: Vec<u8>) -> Result<(), Reply> {
        self.0.lock().expect("kept").push((envelope, message));
        Ok(())
    }
}

/// A listener (with the test certificate when `tls`) and what it keeps.
async fn listener(tls: bool) -> (SocketAddr, Kept, CancellationToken) {
    let socket = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = socket.local_addr().expect("address");
    let mut config = SmtpConfig::new("mail.hilo.test");
    if tls {
        config.tls = Some(Tls::from_pem(CERT, KEY).expect("the test certificate reads"));
    }
    let kept = Kept::default();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(
        socket,
        config,
        Arc::new(kept.clone()),
        shutdown.clone(),
    ));
    (address, kept, shutdown)
}

/// Reads one whole reply (its lines joined).
async fn reply<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> String {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("reads");
        let line = line.trim_end().to_owned();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last || lines.last().is_some_and(String::is_empty) {
            return lines.join("\n");
        }
    }
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    line: &str,
) -> String {
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("writes");
    reply(stream).await
}

fn client_config() -> Arc<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(CERT) {
        roots.add(certificate.expect("reads")).expect("a root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[tokio::test]
async fn a_client_that_insists_on_tls_delivers_through_starttls() {
    use lettre::transport::smtp::client::{Certificate, Tls as ClientTls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let (address, kept, _shutdown) = listener(true).await;
    let parameters = TlsParameters::builder("mail.hilo.test".to_owned())
        .add_root_certificate(Certificate::from_pem(CERT).expect("certificate"))
        .build_rustls()
        .expect("parameters");
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(address.port())
        .tls(ClientTls::Required(parameters))
        .build();
    let envelope = lettre::address::Envelope::new(
        Some("ana@example.org".parse().expect("address")),
        vec!["bob@mail.hilo.test".parse().expect("address")],
    )
    .expect("envelope");
    transport
        .send_raw(
            &envelope,
            b"From: ana@example.org\r\nTo: bob@mail.hilo.test\r\nSubject: over TLS\r\n\r\nHola\r\n",
        )
        .await
        .expect("delivered over TLS");
    let kept = kept.0.lock().expect("kept");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].0.recipients, ["bob@mail.hilo.test"]);
    assert!(String::from_utf8_lossy(&kept[0].1).contains("Subject: over TLS"));
}

#[tokio::test]
async fn what_is_pipelined_behind_starttls_in_the_clear_is_dropped() {
    let (address, kept, _shutdown) = listener(true).await;
    let mut plain = BufReader::new(TcpStream::connect(address).await.expect("connects"));
    assert!(reply(&mut plain).await.starts_with("220 "));
    let ehlo = command(&mut plain, "EHLO client.test").await;
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    // A man in the middle's command rides behind STARTTLS, in the clear.
    plain
        .get_mut()
        .write_all(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
        .await
        .expect("writes");
    let ready = reply(&mut plain).await;
    assert!(ready.starts_with("220 2.0.0"), "{ready}");
    let connector = tokio_rustls::TlsConnector::from(client_config());
    let name =
        tokio_rustls::rustls::pki_types::ServerName::try_from("mail.hilo.test").expect("name");
    let tls = connector
        .connect(name, plain.into_inner())
        .await
        .expect("the handshake succeeds");
    let mut secure = BufReader::new(tls);
    // Inside TLS the session starts over: EHLO again, no STARTTLS on offer, and the
    // injected MAIL never happened.
    let ehlo = command(&mut secure, "EHLO client.test").await;
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    let rcpt = command(&mut secure, "RCPT TO:<bob@mail.hilo.test>").await;
    assert!(
        rcpt.starts_with("503"),
        "the injected MAIL was dropped: {rcpt}"
    );
    let again = command(&mut secure, "STARTTLS").await;
    assert!(again.starts_with("503"), "{again}");
    assert!(
        command(&mut secure, "MAIL FROM:<ana@example.org>")
            .await
            .starts_with("250")
    );
    assert!(
        command(&mut secure, "RCPT TO:<bob@mail.hilo.test>")
            .await
            .starts_with("250")
    );
    assert!(command(&mut secure, "DATA").await.starts_with("354"));
    let done = command(&mut secure, "Subject: hi\r\n\r\nsecret\r\n.").await;
    assert!(done.starts_with("250"), "{done}");
    assert_eq!(kept.0.lock().expect("kept").len(), 1);
}

#[tokio::test]
async fn without_a_certificate_starttls_is_not_offered() {
    let (address, _kept, _shutdown) = listener(false).await;
    let mut plain = BufReader::new(TcpStream::connect(address).await.expect("connects"));
    assert!(reply(&mut plain).await.starts_with("220 "));
    let ehlo = command(&mut plain, "EHLO client.test").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(command(&mut plain, "STARTTLS").await.starts_with("454"));
}

#[test]
fn a_key_that_is_not_the_certificate_s_is_refused() {
    let other = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGhRANCAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n";
    assert!(Tls::from_pem(CERT, other).is_err());
    assert!(Tls::from_pem(b"not a certificate", KEY).is_err());
}
