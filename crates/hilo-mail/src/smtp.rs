//! The inbound SMTP listener (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
//! ENHANCEDSTATUSCODES, and STARTTLS (RFC 3207) when a certificate is configured).
//!
//! Commands are parsed by `smtp-proto`; the session's state machine, its limits and the
//! reading of lines are ours. Every line must end in CRLF: a bare LF or CR anywhere refuses
//! the command or the whole message, and only `CRLF.CRLF` ends DATA, so a message cannot
//! smuggle a second one past us (CVE-2023-51764). What is accepted is handed to a
//! [`Mailbox`] and answered 250 only once the mailbox says it is stored. After STARTTLS,
//! whatever the client sent behind the command in the clear is thrown away and the session
//! starts over (a fresh EHLO is needed), so nothing can be injected into the encrypted
//! session (CVE-2011-0411).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_proto::{Error as ParseError, MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, Request};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest command line, CRLF included (Postfix's `line_length_limit`).
pub const MAX_COMMAND_LINE: usize = 2048;
/// Longest line of a message, CRLF included (RFC 5321 §4.5.3.1.6).
pub const MAX_DATA_LINE: usize = 1000;
/// Longest address (RFC 5321 §4.5.3.1.3: a path of 256 octets, brackets included).
pub const MAX_ADDRESS: usize = 254;
/// Longest TLS handshake after STARTTLS.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The certificate STARTTLS offers.
#[derive(Clone)]
pub struct Tls(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// From a PEM certificate chain (leaf first) and its PEM private key.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Tls, String> {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certificates = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the certificate does not read: {e}"))?;
        if certificates.is_empty() {
            return Err("the certificate file holds no certificate".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| format!("the private key does not read: {e}"))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
        Ok(Tls(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
}

/// The listener's limits.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The name the server gives in its greeting and EHLO answer.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised as SIZE).
    pub max_message_bytes: usize,
    /// Most recipients of one message.
    pub max_recipients: usize,
    /// Most commands in one session.
    pub max_commands: usize,
    /// Refused commands after which the session is closed.
    pub max_errors: usize,
    /// Longest wait for the client's next line.
    pub idle_timeout: Duration,
    /// Longest session.
    pub session_timeout: Duration,
    /// Most sessions at once; more are told to come back later.
    pub max_connections: usize,
    /// Most sessions at once from one client address.
    pub max_per_client: usize,
    /// The certificate STARTTLS offers; without one STARTTLS is not offered.
    pub tls: Option<Tls>,
}

impl SmtpConfig {
    /// Defaults close to Postfix's, with a 25 MiB message limit.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            max_message_bytes: 25 << 20,
            max_recipients: 100,
            max_commands: 1_000,
            max_errors: 20,
            idle_timeout: Duration::from_secs(300),
            session_timeout: Duration::from_secs(1_800),
            max_connections: 256,
            max_per_client: 20,
            tls: None,
        }
    }
}

/// An SMTP reply: a code, an enhanced status code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code (RFC 3463), such as `5.1.1`.
    pub status: &'static str,
    /// Human-readable text, one line.
    pub text: String,
}

impl Reply {
    /// A reply.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            status,
            text: text.into(),
        }
    }

    /// Whether the reply is a permanent refusal.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    fn line(&self) -> String {
        // The text is ours or the mailbox's: keep it on one line whatever it holds.
        let text: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("{} {} {}\r\n", self.code, self.status, text)
    }
}

/// What the client said before DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The client's address.
    pub client: SocketAddr,
    /// The name the client gave in EHLO or HELO.
    pub helo: String,
    /// The reverse path; `None` for the null sender `<>` (bounces and other notifications).
    pub mail_from: Option<String>,
    /// The accepted recipients, in order.
    pub recipients: Vec<String>,
    /// `SMTPUTF8` was given with MAIL.
    pub utf8: bool,
}

/// Where accepted mail goes.
pub trait Mailbox: Send + Sync + 'static {
    /// Whether mail from this sender is taken at all (blocks, rate limits).
    fn check_sender(&self, envelope: &Envelope) -> impl Future<Output = Result<(), Reply>> + Send;
    /// Whether `address` is a recipient here; the refusal is the RCPT reply.
    fn check_recipient(
        &self,
        envelope: &Envelope,
        address: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;
    /// Stores a message for the envelope's recipients. `Ok` only once it is durable: the
    /// client is told 250 then, and not before.
    fn deliver(
        &self,
        envelope: Envelope,
        message: Vec<u8>,
    ) -> impl Future<Output = Result<(), Reply>> + Send;
}

/// Accepts SMTP sessions until `shutdown` is cancelled.
pub async fn serve<M: Mailbox>(
    listener: TcpListener,
    config: SmtpConfig,
    mailbox: Arc<M>,
    shutdown: CancellationToken,
) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let clients: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or similar: back off instead of spinning.
                tracing::warn!(%error, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let config = config.clone();
        let mailbox = mailbox.clone();
        let shutdown = shutdown.clone();
        let slot = slots.clone().try_acquire_owned();
        let client = ClientSlot::take(&clients, peer.ip(), config.max_per_client);
        tokio::spawn(async move {
            let (Ok(_slot), Some(_client)) = (slot, client) else {
                let mut stream = stream;
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    stream.write_all(b"421 4.3.2 Too many connections, try again later\r\n"),
                )
                .await;
                return;
            };
            let deadline = Instant::now() + config.session_timeout;
            let Ended::StartTls(stream) =
                session(stream, peer, &config, &*mailbox, &shutdown, false, deadline).await
            else {
                return;
            };
            let Some(Tls(acceptor)) = &config.tls else {
                return;
            };
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(stream)) => {
                    session(stream, peer, &config, &*mailbox, &shutdown, true, deadline).await;
                }
                Ok(Err(error)) => tracing::debug!(%error, "smtp TLS handshake failed"),
                Err(_) => tracing::debug!("smtp TLS handshake timed out"),
            }
        });
    }
}

/// One of a client address's sessions; the count goes down when it ends.
struct ClientSlot {
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl ClientSlot {
    fn take(clients: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut counts = clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: clients.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A line as read: its bytes without the line ending, and what was wrong with it.
#[derive(Debug, Default)]
struct Line {
    bytes: Vec<u8>,
    /// Longer than the limit; `bytes` is then empty.
    too_long: bool,
    /// It ended in CRLF.
    crlf: bool,
    /// It ended in a bare LF, or held a CR that did not end it.
    bare_newline: bool,
}

enum Read {
    Line(Line),
    Eof,
    TimedOut,
}

/// Reads one line of at most `limit` bytes (line ending included). The rest of a longer
/// line is read and dropped (never kept), so the next read starts at the next line.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
    deadline: Instant,
) -> std::io::Result<Read> {
    let mut line = Line::default();
    // Bytes before the LF, CR included, and the last of them.
    let mut length = 0_usize;
    let mut last = None;
    loop {
        let buffer = match tokio::time::timeout_at(deadline, reader.fill_buf()).await {
            Err(_) => return Ok(Read::TimedOut),
            Ok(buffer) => buffer?,
        };
        if buffer.is_empty() {
            return Ok(Read::Eof);
        }
        let (chunk, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        length += chunk.len();
        if let Some(&byte) = chunk.last() {
            last = Some(byte);
        }
        if length > limit.saturating_sub(1) {
            line.too_long = true;
            line.bytes = Vec::new();
        } else {
            line.bytes.extend_from_slice(chunk);
        }
        let consumed = done.unwrap_or(buffer.len());
        reader.consume(consumed);
        if done.is_some() {
            line.crlf = last == Some(b'\r');
            if line.crlf && !line.too_long {
                line.bytes.pop();
            }
            line.bare_newline = !line.crlf || line.bytes.contains(&b'\r');
            return Ok(Read::Line(line));
        }
    }
}

struct Transaction {
    mail_from: Option<String>,
    utf8: bool,
    eight_bit: bool,
    recipients: Vec<String>,
}

/// Runs one plain session over `stream` as `serve` does for a connection (no STARTTLS,
/// no limits across sessions): the entry point of the `smtp_session` fuzz target, which
/// drives it over an in-memory pipe.
pub async fn run_session<S, M>(stream: S, peer: SocketAddr, config: &SmtpConfig, mailbox: &M)
where
    S: AsyncRead + AsyncWrite + Unpin,
    M: Mailbox,
{
    let deadline = Instant::now() + config.session_timeout;
    let shutdown = CancellationToken::new();
    let _ = session(stream, peer, config, mailbox, &shutdown, false, deadline).await;
}

/// How a session ended.
enum Ended<S> {
    /// Closed (by either side).
    Done,
    /// The client asked for TLS and was told to go ahead: its connection, with nothing
    /// it sent after the command.
    StartTls(S),
}

/// One SMTP session over `stream`: plain (`secure` false, greeted first) or inside TLS
/// after STARTTLS (`secure`, no greeting: the client starts with EHLO).
async fn session<S, M>(
    stream: S,
    peer: SocketAddr,
    config: &SmtpConfig,
    mailbox: &M,
    shutdown: &CancellationToken,
    secure: bool,
    session_deadline: Instant,
) -> Ended<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
    M: Mailbox,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(8 * 1024, reader);
    let host = &config.hostname;
    let mut out = Output {
        writer: &mut writer,
    };
    if !secure
        && out
            .raw(&format!("220 {host} ESMTP hilo\r\n"))
            .await
            .is_err()
    {
        return Ended::Done;
    }
    let offer_tls = config.tls.is_some() && !secure;
    let mut helo: Option<String> = None;
    let mut transaction: Option<Transaction> = None;
    let (mut commands, mut errors) = (0_usize, 0_usize);
    loop {
        let deadline = session_deadline.min(Instant::now() + config.idle_timeout);
        let read = tokio::select! {
            () = shutdown.cancelled() => {
                let _ = out.reply(&Reply::new(421, "4.3.2", format!("{host} shutting down"))).await;
                return Ended::Done;
            }
            read = read_line(&mut reader, MAX_COMMAND_LINE, deadline) => read,
        };
        let line = match read {
            Ok(Read::Line(line)) => line,
            Ok(Read::TimedOut) => {
                let _ = out.reply(&timed_out(host)).await;
                return Ended::Done;
            }
            Ok(Read::Eof) | Err(_) => return Ended::Done,
        };
        commands += 1;
        let reply = if commands > config.max_commands {
            let _ = out
                .reply(&Reply::new(
                    421,
                    "4.7.0",
                    "too many commands in one session",
                ))
                .await;
            return Ended::Done;
        } else if line.too_long {
            Reply::new(
                500,
                "5.5.2",
                format!("line too long (limit {MAX_COMMAND_LINE} octets)"),
            )
        } else if line.bare_newline {
            Reply::new(500, "5.5.2", "bare CR or LF; lines end with CRLF")
        } else {
            let mut bytes = line.bytes;
            bytes.extend_from_slice(b"\r\n");
            match Request::parse(&mut bytes.iter()) {
                Err(error) => parse_error(&error),
                Ok(Request::Quit) => {
                    let _ = out.reply(&Reply::new(221, "2.0.0", "bye")).await;
                    return Ended::Done;
                }
                Ok(Request::Ehlo { host: name }) => {
                    helo = Some(name.into_owned());
                    transaction = None;
                    let ehlo = format!(
                        "250-{host} greets you\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n{}250 ENHANCEDSTATUSCODES\r\n",
                        config.max_message_bytes,
                        if offer_tls { "250-STARTTLS\r\n" } else { "" },
                    );
                    if out.raw(&ehlo).await.is_err() {
                        return Ended::Done;
                    }
                    continue;
                }
                Ok(Request::Helo { host: name }) => {
                    helo = Some(name.into_owned());
                    transaction = None;
                    Reply::new(250, "2.0.0", host.clone())
                }
                Ok(Request::Mail { from }) => match &helo {
                    None => Reply::new(503, "5.5.1", "say EHLO first"),
                    Some(_) if transaction.is_some() => {
                        Reply::new(503, "5.5.1", "a transaction is already open")
                    }
                    Some(helo) => {
                        let utf8 = from.flags & MAIL_SMTPUTF8 != 0;
                        let address = from.address.trim().to_owned();
                        if address.len() > MAX_ADDRESS {
                            Reply::new(553, "5.1.7", "sender address too long")
                        } else if !address.is_ascii() && !utf8 {
                            Reply::new(553, "5.6.7", "a non-ASCII address needs SMTPUTF8")
                        } else if from.size > config.max_message_bytes {
                            Reply::new(
                                552,
                                "5.3.4",
                                format!(
                                    "message too big (limit {} bytes)",
                                    config.max_message_bytes
                                ),
                            )
                        } else {
                            let candidate = Transaction {
                                mail_from: (!address.is_empty()).then_some(address),
                                utf8,
                                eight_bit: utf8 || from.flags & MAIL_BODY_8BITMIME != 0,
                                recipients: Vec::new(),
                            };
                            let envelope = envelope(peer, helo, &candidate);
                            match mailbox.check_sender(&envelope).await {
                                Ok(()) => {
                                    transaction = Some(candidate);
                                    Reply::new(250, "2.1.0", "sender ok")
                                }
                                Err(reply) => reply,
                            }
                        }
                    }
                },
                Ok(Request::Rcpt { to }) => match (&helo, &mut transaction) {
                    (Some(helo), Some(open)) => {
                        let address = to.address.trim().to_owned();
                        if open.recipients.len() >= config.max_recipients {
                            Reply::new(452, "4.5.3", "too many recipients")
                        } else if address.len() > MAX_ADDRESS || address.is_empty() {
                            Reply::new(553, "5.1.3", "bad recipient address")
                        } else if !address.is_ascii() && !open.utf8 {
                            Reply::new(553, "5.6.7", "a non-ASCII address needs SMTPUTF8")
                        } else if open
                            .recipients
                            .iter()
                            .any(|r| r.eq_ignore_ascii_case(&address))
                        {
                            Reply::new(250, "2.1.5", "recipient ok")
                        } else {
                            match mailbox
                                .check_recipient(&envelope(peer, helo, open), &address)
                                .await
                            {
                                Ok(()) => {
                                    open.recipients.push(address);
                                    Reply::new(250, "2.1.5", "recipient ok")
                                }
                                Err(reply) => reply,
                            }
                        }
                    }
                    _ => Reply::new(503, "5.5.1", "need MAIL before RCPT"),
                },
                Ok(Request::Data) => match (&helo, transaction.take()) {
                    (Some(helo), Some(open)) if !open.recipients.is_empty() => {
                        if out
                            .reply(&Reply::new(354, "", "end data with <CR><LF>.<CR><LF>"))
                            .await
                            .is_err()
                        {
                            return Ended::Done;
                        }
                        let data =
                            match read_data(&mut reader, config, &open, session_deadline).await {
                                Ok(data) => data,
                                Err(DataEnd::Closed) => return Ended::Done,
                                Err(DataEnd::TimedOut) => {
                                    let _ = out.reply(&timed_out(host)).await;
                                    return Ended::Done;
                                }
                            };
                        match data {
                            Err(reply) => reply,
                            Ok(message) => {
                                let envelope = envelope(peer, helo, &open);
                                match mailbox.deliver(envelope, message).await {
                                    Ok(()) => Reply::new(250, "2.0.0", "message accepted"),
                                    Err(reply) => reply,
                                }
                            }
                        }
                    }
                    (Some(_), Some(open)) => {
                        transaction = Some(open);
                        Reply::new(554, "5.5.1", "no valid recipients")
                    }
                    _ => Reply::new(503, "5.5.1", "need MAIL and RCPT before DATA"),
                },
                Ok(Request::Rset) => {
                    transaction = None;
                    Reply::new(250, "2.0.0", "ok")
                }
                Ok(Request::Noop { .. }) => Reply::new(250, "2.0.0", "ok"),
                Ok(Request::Vrfy { .. }) => {
                    Reply::new(252, "2.5.0", "cannot verify; send the message and see")
                }
                Ok(Request::Help { .. }) => {
                    Reply::new(214, "2.0.0", "see RFC 5321; this is hilo's mail intake")
                }
                Ok(Request::StartTls) if offer_tls => {
                    if out
                        .reply(&Reply::new(220, "2.0.0", "ready to start TLS"))
                        .await
                        .is_err()
                    {
                        return Ended::Done;
                    }
                    // What the client pipelined behind the command, in the clear, is
                    // dropped with the buffer: only what comes inside TLS counts.
                    return Ended::StartTls(reader.into_inner().unsplit(writer));
                }
                Ok(Request::StartTls) if secure => Reply::new(503, "5.5.1", "TLS is already on"),
                Ok(Request::StartTls) => Reply::new(454, "4.7.0", "TLS not available"),
                Ok(
                    Request::Lhlo { .. }
                    | Request::Bdat { .. }
                    | Request::Auth { .. }
                    | Request::Expn { .. }
                    | Request::Etrn { .. }
                    | Request::Atrn { .. }
                    | Request::Burl { .. },
                ) => Reply::new(502, "5.5.1", "command not implemented"),
            }
        };
        // A 452 (too many recipients) is not the client's mistake: the rest of the
        // transaction goes on, and the client sends the others later.
        if reply.is_permanent() {
            errors += 1;
        }
        if out.reply(&reply).await.is_err() {
            return Ended::Done;
        }
        if errors >= config.max_errors {
            let _ = out
                .reply(&Reply::new(421, "4.7.0", "too many errors"))
                .await;
            return Ended::Done;
        }
    }
}

/// The session ran out of time (idle or in all).
fn timed_out(host: &str) -> Reply {
    Reply::new(421, "4.4.2", format!("{host} timeout exceeded"))
}

fn envelope(peer: SocketAddr, helo: &str, transaction: &Transaction) -> Envelope {
    Envelope {
        client: peer,
        helo: helo.to_owned(),
        mail_from: transaction.mail_from.clone(),
        recipients: transaction.recipients.clone(),
        utf8: transaction.utf8,
    }
}

fn parse_error(error: &ParseError) -> Reply {
    match error {
        ParseError::UnknownCommand => Reply::new(500, "5.5.1", "unknown command"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address"),
        ParseError::InvalidRecipientAddress => Reply::new(501, "5.1.3", "bad recipient address"),
        ParseError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("syntax: {syntax}")),
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            let param: String = param.chars().take(32).collect();
            Reply::new(555, "5.5.4", format!("unsupported parameter {param}"))
        }
        ParseError::NeedsMoreData { .. }
        | ParseError::ResponseTooLong
        | ParseError::InvalidResponse { .. } => Reply::new(500, "5.5.2", "syntax error"),
    }
}

enum DataEnd {
    Closed,
    TimedOut,
}

/// Reads a message up to `CRLF.CRLF`, dot-unstuffed. A message that breaks a rule is read
/// to its end all the same (so the session stays in step) and refused as a whole.
async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    config: &SmtpConfig,
    transaction: &Transaction,
    session_deadline: Instant,
) -> Result<Result<Vec<u8>, Reply>, DataEnd> {
    let mut message = Vec::new();
    let (mut too_big, mut too_long, mut bare, mut eight_bit, mut nul) =
        (false, false, false, false, false);
    // The DATA command's own line ended in CRLF.
    let mut after_crlf = true;
    loop {
        let deadline = session_deadline.min(Instant::now() + config.idle_timeout);
        let line = match read_line(reader, MAX_DATA_LINE, deadline).await {
            Ok(Read::Line(line)) => line,
            Ok(Read::TimedOut) => return Err(DataEnd::TimedOut),
            Ok(Read::Eof) | Err(_) => return Err(DataEnd::Closed),
        };
        // Only CRLF "." CRLF ends the message: a dot after a bare LF is data, so nothing
        // can be smuggled past the end.
        if line.bytes == b"." && line.crlf && after_crlf && !line.too_long {
            break;
        }
        after_crlf = line.crlf;
        too_long |= line.too_long;
        bare |= line.bare_newline;
        eight_bit |= !line.bytes.is_ascii();
        nul |= line.bytes.contains(&0);
        let text = line.bytes.strip_prefix(b".").unwrap_or(&line.bytes);
        if message.len() + text.len() + 2 > config.max_message_bytes {
            too_big = true;
            message = Vec::new();
        }
        if !too_big {
            message.extend_from_slice(text);
            message.extend_from_slice(b"\r\n");
        }
    }
    Ok(if too_big {
        Err(Reply::new(
            552,
            "5.3.4",
            format!("message too big (limit {} bytes)", config.max_message_bytes),
        ))
    } else if bare {
        Err(Reply::new(
            550,
            "5.6.0",
            "bare CR or LF in the message; lines end with CRLF",
        ))
    } else if too_long {
        Err(Reply::new(
            550,
            "5.6.0",
            format!("a line is longer than {MAX_DATA_LINE} octets"),
        ))
    } else if nul {
        Err(Reply::new(550, "5.6.0", "NUL in the message"))
    } else if eight_bit && !transaction.eight_bit {
        Err(Reply::new(
            550,
            "5.6.3",
            "8-bit data needs BODY=8BITMIME or SMTPUTF8",
        ))
    } else {
        Ok(message)
    })
}

struct Output<'a, W> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin> Output<'_, W> {
    async fn raw(&mut self, text: &str) -> std::io::Result<()> {
        // A client that stops reading cannot hold the session forever.
        match tokio::time::timeout(Duration::from_secs(60), async {
            self.writer.write_all(text.as_bytes()).await?;
            self.writer.flush().await
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    async fn reply(&mut self, reply: &Reply) -> std::io::Result<()> {
        if reply.status.is_empty() {
            self.raw(&format!("{} {}\r\n", reply.code, reply.text))
                .await
        } else {
            self.raw(&reply.line()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], limit: usize) -> Vec<(String, bool, bool)> {
        let mut reader = BufReader::with_capacity(16, input);
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(Read::Line(line)) = read_line(&mut reader, limit, deadline).await {
            out.push((
                String::from_utf8_lossy(&line.bytes).into_owned(),
                line.too_long,
                line.bare_newline,
            ));
        }
        out
    }

    #[tokio::test]
    async fn lines_end_in_crlf_and_longer_ones_are_cut_and_flagged() {
        let got = lines(
            b"abc\r\nde\nf\rg\r\n0123456789\r\n01234567\r\n0123456789\n\r\r\r\r\r\r\r\r\r\r\r\r\n",
            10,
        )
        .await;
        assert_eq!(
            got,
            vec![
                ("abc".into(), false, false),
                ("de".into(), false, true),
                ("f\rg".into(), false, true),
                (String::new(), true, false),
                ("01234567".into(), false, false),
                (String::new(), true, true),
                (String::new(), true, false),
            ]
        );
    }
}
