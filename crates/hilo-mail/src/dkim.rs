//! DKIM keys and signatures (RFC 6376; Ed25519-SHA256 keys, RFC 8463), by `mail-auth`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::DkimSigner;

/// The headers a signature covers.
const SIGNED: [&str; 12] = [
    "From",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
];

/// A key that does not read, or a signature that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("DKIM: {0}")]
pub struct DkimError(String);

/// A signing key with the domain and selector it signs for.
pub struct DkimKey {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    domain: String,
    selector: String,
}

impl DkimKey {
    /// A new Ed25519 key, as PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, DkimError> {
        Ed25519Key::generate_pkcs8().map_err(|e| DkimError(e.to_string()))
    }

    /// The key in `pkcs8` (DER), signing for `domain` under `selector`.
    pub fn new(pkcs8: &[u8], domain: &str, selector: &str) -> Result<DkimKey, DkimError> {
        let key = Ed25519Key::from_pkcs8_der(pkcs8).map_err(|e| DkimError(e.to_string()))?;
        Ok(DkimKey {
            public: key.public_key(),
            pkcs8: pkcs8.to_vec(),
            domain: domain.to_owned(),
            selector: selector.to_owned(),
        })
    }

    /// Where the public key is published: `selector._domainkey.domain`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The TXT record that publishes the public key.
    pub fn record_value(&self) -> String {
        format!("v=DKIM1; k=ed25519; p={}", STANDARD.encode(&self.public))
    }

    /// The `DKIM-Signature` header (with its CRLF) to put before `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String, DkimError> {
        // The key is read again for each signature (it is not `Clone`; reading it is cheap).
        let key = Ed25519Key::from_pkcs8_der(&self.pkcs8).map_err(|e| DkimError(e.to_string()))?;
        DkimSigner::from_key(key)
            .domain(self.domain.clone())
            .selector(self.selector.clone())
            .headers(SIGNED)
            .sign(message)
            .map(|signature| signature.to_header())
            .map_err(|e| DkimError(e.to_string()))
    }
}
