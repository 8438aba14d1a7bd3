//! Sender authentication of received mail: SPF for the envelope sender, DKIM signatures
//! and DMARC for the `From` domain, by `mail-auth`, through the DNS the operator chooses:
//! the system's resolver, a given server, or none, answering only from records written
//! in the configuration (which is how tests control every record they rely on).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use mail_auth::common::cache::NoCache;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::{Dmarc, Policy};
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::spf::Spf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcResult, DnsError, DnssecStatus, MX,
    MessageAuthenticator, Parameters, RecordSet, ResolverCache, SpfResult, Txt,
};

/// Where DNS answers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsMode {
    /// The system's resolver (`/etc/resolv.conf`).
    System,
    /// This name server (UDP and TCP).
    Server(SocketAddr),
    /// No resolver: only the configured records exist; any other name does not.
    None,
}

/// The type of a configured DNS record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// `TXT`: SPF, DKIM keys (`selector._domainkey.domain`), DMARC (`_dmarc.domain`).
    Txt,
    /// `A`.
    A,
    /// `AAAA`.
    Aaaa,
    /// `MX`: the value is `preference host`.
    Mx,
}

/// A DNS record given in configuration; it answers before (or instead of) the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// The name, such as `_dmarc.example.org`.
    pub name: String,
    /// Its type.
    pub kind: RecordType,
    /// Its value, as a zone file would give it (a TXT record's text unquoted).
    pub value: String,
}

/// The results of the checks, in RFC 8601 words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// SPF for the envelope sender (or the HELO name for the null sender).
    pub spf: &'static str,
    /// DKIM: `pass` if any signature verifies, otherwise the worst other result
    /// (mail-auth calls a body changed after signing `neutral`, a signature that does not
    /// verify `fail`).
    pub dkim: &'static str,
    /// DMARC for the `From` domain.
    pub dmarc: &'static str,
    /// The `From` domain's published policy: `none`, `quarantine`, `reject`, or empty
    /// when it publishes none.
    pub policy: &'static str,
}

impl AuthResults {
    /// DMARC failed: the `From` address cannot be believed.
    pub fn dmarc_failed(&self) -> bool {
        self.dmarc == "fail"
    }
}

/// A configured record that does not read.
#[derive(Debug, thiserror::Error)]
#[error("DNS record {name}: {reason}")]
pub struct RecordError {
    name: String,
    reason: String,
}

/// Answers from configuration, consulted before the resolver: a cache that is never
/// written, and that answers every name (with "no such record") when there is no resolver.
struct Fixed<K, V> {
    entries: HashMap<K, V>,
    miss: Option<V>,
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for Fixed<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(name)
            .cloned()
            .or_else(|| self.miss.clone())
    }

    fn remove<Q>(&self, _: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: K, _: V, _: std::time::Instant) {}
}

fn set<T>(items: Vec<T>) -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(items.into_boxed_slice()),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

fn fqdn(name: &str) -> String {
    let mut name = name.trim().to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// The configured records, read into what mail-auth's caches hold.
#[derive(Default)]
struct ReadRecords {
    txt: HashMap<Box<str>, Txt>,
    mx: HashMap<Box<str>, Vec<MX>>,
    ipv4: HashMap<Box<str>, Vec<Ipv4Addr>>,
    ipv6: HashMap<Box<str>, Vec<Ipv6Addr>>,
}

/// Checks that every record reads (for configuration, before anything starts).
pub fn check_records(records: &[DnsRecord]) -> Result<(), RecordError> {
    read_records(records).map(|_| ())
}

fn read_records(records: &[DnsRecord]) -> Result<ReadRecords, RecordError> {
    let mut read = ReadRecords::default();
    for record in records {
        let name = fqdn(&record.name);
        let bad = |reason: &str| RecordError {
            name: record.name.clone(),
            reason: reason.to_owned(),
        };
        let value = record.value.trim();
        match record.kind {
            RecordType::Txt => {
                let bytes = value.as_bytes();
                let parsed: Txt = if name.contains("._domainkey.") {
                    DomainKey::parse(bytes).map(Txt::from)
                } else if name.starts_with("_dmarc.") {
                    Dmarc::parse(bytes).map(Txt::from)
                } else {
                    Spf::parse(bytes).map(Txt::from)
                }
                .map_err(|_| bad("not a DKIM key, DMARC policy or SPF record"))?;
                read.txt.insert(name.into_boxed_str(), parsed);
            }
            RecordType::A => read
                .ipv4
                .entry(name.into_boxed_str())
                .or_default()
                .push(value.parse().map_err(|_| bad("not an IPv4 address"))?),
            RecordType::Aaaa => read
                .ipv6
                .entry(name.into_boxed_str())
                .or_default()
                .push(value.parse().map_err(|_| bad("not an IPv6 address"))?),
            RecordType::Mx => {
                let (preference, host) = value
                    .split_once(' ')
                    .ok_or_else(|| bad("an MX value is `preference host`"))?;
                read.mx.entry(name.into_boxed_str()).or_default().push(MX {
                    exchanges: Box::new([fqdn(host).into_boxed_str()]),
                    preference: preference
                        .trim()
                        .parse()
                        .map_err(|_| bad("an MX preference is a number"))?,
                });
            }
        }
    }
    Ok(read)
}

/// Checks received mail.
pub struct Authenticator {
    resolver: MessageAuthenticator,
    txt: Fixed<Box<str>, Txt>,
    mx: Fixed<Box<str>, RecordSet<MX>>,
    ipv4: Fixed<Box<str>, RecordSet<Ipv4Addr>>,
    ipv6: Fixed<Box<str>, RecordSet<Ipv6Addr>>,
    ptr: Fixed<IpAddr, RecordSet<Box<str>>>,
    /// This server's name, for SPF's `%{r}` macro.
    hostname: String,
}

impl Authenticator {
    /// An authenticator over `mode`, with `records` answering first.
    pub fn new(
        mode: &DnsMode,
        records: &[DnsRecord],
        hostname: impl Into<String>,
    ) -> Result<Authenticator, RecordError> {
        let only = *mode == DnsMode::None;
        let resolver = match mode {
            DnsMode::System => MessageAuthenticator::new_system_conf(),
            DnsMode::Server(address) => {
                let mut server = NameServerConfig::udp_and_tcp(address.ip());
                for connection in &mut server.connections {
                    connection.port = address.port();
                }
                MessageAuthenticator::new(
                    ResolverConfig::from_name_servers(vec![server]),
                    ResolverOpts::default(),
                )
            }
            // Never asked (every name is answered from configuration); a resolver of
            // nothing but loopback keeps it that way should that change.
            DnsMode::None => MessageAuthenticator::new(
                ResolverConfig::from_name_servers(vec![NameServerConfig::udp_and_tcp(IpAddr::V4(
                    Ipv4Addr::LOCALHOST,
                ))]),
                ResolverOpts::default(),
            ),
        }
        .map_err(|error| RecordError {
            name: "(resolver)".into(),
            reason: error.to_string(),
        })?;
        let read = read_records(records)?;
        let nxdomain = || {
            Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
                ResponseCode::NXDomain,
            )))
        };
        Ok(Authenticator {
            resolver,
            txt: Fixed {
                entries: read.txt,
                miss: only.then(nxdomain),
            },
            mx: Fixed {
                entries: read.mx.into_iter().map(|(k, v)| (k, set(v))).collect(),
                miss: only.then(|| set(Vec::new())),
            },
            ipv4: Fixed {
                entries: read.ipv4.into_iter().map(|(k, v)| (k, set(v))).collect(),
                miss: only.then(|| set(Vec::new())),
            },
            ipv6: Fixed {
                entries: read.ipv6.into_iter().map(|(k, v)| (k, set(v))).collect(),
                miss: only.then(|| set(Vec::new())),
            },
            ptr: Fixed {
                entries: HashMap::new(),
                miss: only.then(|| set(Vec::new())),
            },
            hostname: hostname.into(),
        })
    }

    /// Checks a received message from `client`, which said `helo` and gave `mail_from`
    /// (`None`: the null sender).
    pub async fn check(
        &self,
        raw: &[u8],
        client: IpAddr,
        helo: &str,
        mail_from: Option<&str>,
    ) -> AuthResults {
        // A message the parser panics on is one with nothing to check (see `parse`).
        let parsed = std::panic::catch_unwind(|| AuthenticatedMessage::parse(raw));
        let Some(message) = parsed.ok().flatten() else {
            return AuthResults {
                spf: "none",
                dkim: "none",
                dmarc: "none",
                policy: "",
            };
        };
        let dkim = self
            .resolver
            .verify_dkim(self.with_caches(Parameters::new(&message)))
            .await;
        let helo = helo.trim_start_matches('[').trim_end_matches(']');
        let sender = mail_from.map_or_else(|| format!("postmaster@{helo}"), str::to_owned);
        let spf = self
            .resolver
            .verify_spf(
                self.with_caches(Parameters::new(SpfParameters::verify_mail_from(
                    client.to_canonical(),
                    helo,
                    &self.hostname,
                    &sender,
                ))),
            )
            .await;
        let mail_from_domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d);
        let dmarc = self
            .resolver
            .verify_dmarc(self.with_caches(Parameters::new(DmarcParameters::new(
                &message,
                &dkim,
                mail_from_domain,
                &spf,
            ))))
            .await;
        let dkim_word = if dkim.iter().any(|s| *s.result() == DkimResult::Pass) {
            "pass"
        } else {
            dkim.iter()
                .map(|s| dkim_word(s.result()))
                .min_by_key(|word| {
                    ["fail", "permerror", "temperror", "neutral", "none"]
                        .iter()
                        .position(|w| w == word)
                })
                .unwrap_or("none")
        };
        AuthResults {
            spf: spf_word(spf.result()),
            dkim: dkim_word,
            dmarc: dmarc_word(&dmarc.result()),
            policy: if dmarc.result() == DmarcResult::None {
                ""
            } else {
                match dmarc.policy() {
                    Policy::None | Policy::Unspecified => "none",
                    Policy::Quarantine => "quarantine",
                    Policy::Reject => "reject",
                }
            },
        }
    }

    fn with_caches<'x, P>(&'x self, params: Uncached<'x, P>) -> Answered<'x, P> {
        params
            .with_txt_cache(&self.txt)
            .with_mx_cache(&self.mx)
            .with_ipv4_cache(&self.ipv4)
            .with_ipv6_cache(&self.ipv6)
            .with_ptr_cache(&self.ptr)
    }
}

/// Parameters as mail-auth makes them: no caches.
type Uncached<'x, P> = Parameters<
    'x,
    P,
    NoCache<Box<str>, Txt>,
    NoCache<Box<str>, RecordSet<MX>>,
    NoCache<Box<str>, RecordSet<Ipv4Addr>>,
    NoCache<Box<str>, RecordSet<Ipv6Addr>>,
    NoCache<IpAddr, RecordSet<Box<str>>>,
>;

/// Parameters with the configured records answering first.
type Answered<'x, P> = Parameters<
    'x,
    P,
    Fixed<Box<str>, Txt>,
    Fixed<Box<str>, RecordSet<MX>>,
    Fixed<Box<str>, RecordSet<Ipv4Addr>>,
    Fixed<Box<str>, RecordSet<Ipv6Addr>>,
    Fixed<IpAddr, RecordSet<Box<str>>>,
>;

fn spf_word(result: SpfResult) -> &'static str {
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn dkim_word(result: &DkimResult) -> &'static str {
    match result {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

fn dmarc_word(result: &DmarcResult) -> &'static str {
    match result {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}
