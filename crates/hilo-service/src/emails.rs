//! Outside email addresses: an account's own, proven by a code mailed to them, and the
//! ones it blocks.
//!
//! An account adds an address (`POST /me/emails`); hilo mails it a six-digit code, valid
//! for an hour and for five tries. Entering it verifies the address, which one account at
//! most may hold verified. From then on, mail from that address whose domain vouches for
//! it (DMARC `pass`) is the account's own: it lands in their direct conversation with the
//! addressee as a message of theirs, on the `email` channel (`mail.rs`). Mail from an
//! address without DMARC's word stays a contact's, whatever anyone verified.
//!
//! A blocked address (`PUT /blocks/{address}`) has its mail taken and dropped: the SMTP
//! client hears 250, the account hears nothing, and only a counter on the block moves.

use hilo_core::{Timestamp, validate};
use hilo_mail::send::{OutgoingMail, compose};
use hilo_store::{BlockedAddress, UserEmail};
use rand::Rng as _;
use sha2::{Digest, Sha256};

use crate::{Caller, Error, Hilo, Result};

/// Outside addresses one account may have.
pub const EMAILS_PER_ACCOUNT: usize = 10;
/// Codes one account may have mailed per hour.
const CODES_PER_HOUR: u32 = 5;
/// Codes one account may have sent to one address per day.
const CODES_PER_ADDRESS_DAY: u32 = 10;
/// Codes one address may be sent per day, whoever asks.
const CODES_TO_ADDRESS_DAY: u32 = 30;
/// How long a code is good for.
const CODE_TTL_MS: i64 = 3_600_000;
/// Tries at one code.
const CODE_ATTEMPTS: i64 = 5;
/// Addresses one account may block.
pub const BLOCKED_ADDRESSES_MAX: usize = 1_000;

/// The hash kept of a code: bound to the account and address, so a hash is good for
/// nothing else.
fn code_hash(user: &hilo_core::UserId, address: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{user}\n{address}\n{code}").as_bytes());
    data_encoding::HEXLOWER.encode(&digest)
}

fn not_found() -> Error {
    Error::NotFound("email")
}

/// An email address or (starting with `+`) a phone number, normalised.
fn outside_or_number(address: &str) -> Result<String> {
    if validate::is_phone_address(address) {
        Ok(validate::phone_number(address)?)
    } else {
        Ok(validate::email_address(address)?)
    }
}

/// An outside address of one kind, with the words its errors use.
pub(crate) struct AddressKind {
    /// Phone numbers (else email addresses).
    pub phone: bool,
    /// What one is called.
    pub word: &'static str,
    /// The code for "already verified as yours".
    pub already: &'static str,
    /// The code for "too many".
    pub too_many: &'static str,
    /// The code for "someone else's".
    pub taken: &'static str,
}

/// Email addresses.
pub(crate) const EMAIL: AddressKind = AddressKind {
    phone: false,
    word: "email",
    already: "email_already_verified",
    too_many: "too_many_emails",
    taken: "email_taken",
};

/// Phone numbers.
pub(crate) const PHONE: AddressKind = AddressKind {
    phone: true,
    word: "phone",
    already: "phone_already_verified",
    too_many: "too_many_phones",
    taken: "phone_taken",
};

impl Hilo {
    /// The caller's outside addresses, oldest first.
    pub async fn emails(&self, caller: &Caller) -> Result<Vec<UserEmail>> {
        self.own_addresses(caller, &EMAIL).await
    }

    /// The caller's own addresses of one kind (`user_emails` holds phone numbers too),
    /// oldest first.
    pub(crate) async fn own_addresses(
        &self,
        caller: &Caller,
        kind: &AddressKind,
    ) -> Result<Vec<UserEmail>> {
        let mut all = self.inner.store.emails(&caller.user.id).await?;
        all.retain(|e| validate::is_phone_address(&e.address) == kind.phone);
        Ok(all)
    }

    /// Checks that the caller may add `address` (normalised) of `kind`: not theirs
    /// verified already, room for one more, nobody else's.
    pub(crate) async fn may_add_address(
        &self,
        caller: &Caller,
        address: &str,
        kind: &AddressKind,
    ) -> Result<()> {
        let mine = self.own_addresses(caller, kind).await?;
        if let Some(known) = mine.iter().find(|e| e.address == address) {
            if known.verified_at.is_some() {
                return Err(Error::conflict(
                    kind.already,
                    format!("this {} is already verified as yours", kind.word),
                ));
            }
        } else if mine.len() >= EMAILS_PER_ACCOUNT {
            return Err(Error::conflict(
                kind.too_many,
                format!("at most {EMAILS_PER_ACCOUNT} of them; remove one first"),
            ));
        }
        if self
            .inner
            .store
            .email_owner(address)
            .await?
            .is_some_and(|owner| owner != caller.user.id)
        {
            return Err(Error::conflict(
                kind.taken,
                format!("another account has verified this {}", kind.word),
            ));
        }
        Ok(())
    }

    /// A new six-digit code for the caller to prove `address`, within the limits on codes
    /// (per account, per account and address, per address).
    pub(crate) async fn new_code(&self, caller: &Caller, address: &str) -> Result<String> {
        self.within(
            format!("email-codes:{}", caller.user.id),
            CODES_PER_HOUR,
            3_600_000,
            "verification codes",
        )
        .await?;
        // Per account and address, so nobody can use up another's tries at their own
        // address; and a ceiling per address, so nobody is flooded with codes.
        let hashed = crate::accounts::secret_hash(address);
        self.within(
            format!("email-codes-to:{}:{hashed}", caller.user.id),
            CODES_PER_ADDRESS_DAY,
            24 * 3_600_000,
            "verification codes to this address",
        )
        .await?;
        self.within(
            format!("email-codes-to:{hashed}"),
            CODES_TO_ADDRESS_DAY,
            24 * 3_600_000,
            "verification codes to this address",
        )
        .await?;
        Ok(format!("{:06}", rand::rng().random_range(0..1_000_000u32)))
    }

    /// Keeps the hash of the `code` that went to `address` (waiting now for it).
    pub(crate) async fn keep_code(
        &self,
        caller: &Caller,
        address: &str,
        code: &str,
        kind: &AddressKind,
    ) -> Result<UserEmail> {
        let now = self.inner.clock.now();
        if !self
            .inner
            .store
            .put_email_code(
                &caller.user.id,
                address,
                &code_hash(&caller.user.id, address, code),
                Timestamp(now.millis() + CODE_TTL_MS),
                now,
            )
            .await?
        {
            // Verified meanwhile (another request of the caller's).
            return Err(Error::conflict(
                kind.already,
                format!("this {} is already verified as yours", kind.word),
            ));
        }
        Ok(UserEmail {
            address: address.to_owned(),
            verified_at: None,
            created_at: now,
            digest: !kind.phone,
        })
    }

    /// An outside address, checked: not one of this server's (those are accounts).
    fn outside_address(&self, address: &str) -> Result<String> {
        let address = validate::email_address(address)?;
        if self.local_username(&address).is_some() {
            return Err(Error::bad_request(
                "invalid_address",
                "that is an address of this server: it is an account's, not an outside one",
            ));
        }
        Ok(address)
    }

    /// Adds an outside address to the caller's and mails it a code (again, with a new
    /// code, while it waits). Without a relay to mail through, nothing is added.
    pub async fn add_email(&self, caller: &Caller, address: &str) -> Result<UserEmail> {
        let address = self.outside_address(address)?;
        self.may_add_address(caller, &address, &EMAIL).await?;
        let Some(relay) = self.inner.outbound.get().and_then(|o| o.relay.as_ref()) else {
            return Err(Error::Unavailable {
                code: "mail_unavailable",
                message: "this server sends no mail (no SMTP relay is configured)".into(),
            });
        };
        let code = self.new_code(caller, &address).await?;
        let domain = &self.inner.config.mail_domain;
        let mail = OutgoingMail {
            from_name: domain.clone(),
            from_address: format!("noreply@{domain}"),
            reply_to: None,
            to: vec![(address.clone(), None)],
            subject: format!("Your code for {domain}: {code}"),
            message_id: format!("verify-{}@{domain}", self.inner.ids.new_id()),
            in_reply_to: None,
            references: Vec::new(),
            text: format!(
                "Your code to prove that {address} is yours, for @{username} on {domain}:\n\n    {code}\n\nIt is good for an hour. If you did not ask for it, ignore this mail: nothing changes without the code.\n",
                username = caller.user.username,
            ),
            files: Vec::new(),
            auto_submitted: "auto-generated",
            list: None,
        };
        // Mailed first, kept once it left: a code that never went out replaces nothing (an
        // address already waiting keeps the code it was sent before).
        let dkim = self.inner.outbound.get().and_then(|o| o.dkim.as_ref());
        let sent = match compose(&mail, dkim) {
            Ok(bytes) => {
                relay
                    .send(
                        &format!("bounces+verify@{domain}"),
                        std::slice::from_ref(&address),
                        &bytes,
                    )
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            // Refused for good (the relay will not take that recipient): the address is
            // at fault; anything else may pass if tried again later.
            return Err(if error.permanent {
                Error::bad_request(
                    "undeliverable_address",
                    format!("that address does not take mail: {error}"),
                )
            } else {
                Error::Unavailable {
                    code: "mail_failed",
                    message: format!("the code could not be mailed: {error}"),
                }
            });
        }
        self.keep_code(caller, &address, &code, &EMAIL).await
    }

    /// Verifies the caller's waiting `address` with the `code` mailed to it.
    pub async fn verify_email(
        &self,
        caller: &Caller,
        address: &str,
        code: &str,
    ) -> Result<UserEmail> {
        let address = validate::email_address(address).map_err(|_| not_found())?;
        self.confirm_code(caller, &address, code, &EMAIL).await
    }

    /// Verifies the caller's waiting `address` (normalised) of `kind` with `code`.
    pub(crate) async fn confirm_code(
        &self,
        caller: &Caller,
        address: &str,
        code: &str,
        kind: &AddressKind,
    ) -> Result<UserEmail> {
        let not_found = || Error::NotFound(kind.word);
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::bad_request("invalid_code", "the code is six digits"));
        }
        let store = &self.inner.store;
        let Some((hash, expires)) = store
            .claim_email_attempt(&caller.user.id, address, CODE_ATTEMPTS)
            .await?
        else {
            let mine = self.own_addresses(caller, kind).await?;
            return match mine.into_iter().find(|e| e.address == address) {
                // Entering the code twice is not an error.
                Some(email) if email.verified_at.is_some() => Ok(email),
                Some(_) => Err(Error::bad_request(
                    "code_exhausted",
                    "too many wrong codes: ask for a new one",
                )),
                None => Err(not_found()),
            };
        };
        let now = self.inner.clock.now();
        let given = code_hash(&caller.user.id, address, code);
        // Hashes are compared, never codes: how long that takes says nothing of the code.
        if given != hash {
            return Err(Error::bad_request("invalid_code", "that is not the code"));
        }
        if expires <= now {
            return Err(Error::bad_request(
                "code_expired",
                "the code has expired: ask for a new one",
            ));
        }
        if !store.confirm_email(&caller.user.id, address, now).await? {
            return Err(Error::conflict(
                kind.taken,
                format!("another account has verified this {}", kind.word),
            ));
        }
        self.own_addresses(caller, kind)
            .await?
            .into_iter()
            .find(|e| e.address == address)
            .ok_or_else(not_found)
    }

    /// Whether one of the caller's addresses gets digests of what waits unread.
    pub async fn set_email_digest(
        &self,
        caller: &Caller,
        address: &str,
        on: bool,
    ) -> Result<UserEmail> {
        let address = validate::email_address(address).map_err(|_| not_found())?;
        let store = &self.inner.store;
        if !store.set_digest(&caller.user.id, &address, on).await? {
            return Err(not_found());
        }
        store
            .emails(&caller.user.id)
            .await?
            .into_iter()
            .find(|e| e.address == address)
            .ok_or_else(not_found)
    }

    /// Removes one of the caller's outside addresses.
    pub async fn remove_email(&self, caller: &Caller, address: &str) -> Result<()> {
        let address = validate::email_address(address).map_err(|_| not_found())?;
        if self
            .inner
            .store
            .remove_email(&caller.user.id, &address, false)
            .await?
        {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    /// The caller blocks an outside address (an address of this server blocks its
    /// account).
    pub async fn block_address(&self, caller: &Caller, address: &str) -> Result<()> {
        let address = outside_or_number(address)?;
        if let Some(username) = self.local_username(&address) {
            return self.block(caller, &username).await;
        }
        let store = &self.inner.store;
        if store.blocked_addresses(&caller.user.id).await?.len() >= BLOCKED_ADDRESSES_MAX {
            return Err(Error::conflict(
                "too_many_blocks",
                format!("at most {BLOCKED_ADDRESSES_MAX} blocked addresses"),
            ));
        }
        store
            .block_address(&caller.user.id, &address, self.inner.clock.now())
            .await?;
        Ok(())
    }

    /// The caller no longer blocks an outside address (or the account of one of this
    /// server's).
    pub async fn unblock_address(&self, caller: &Caller, address: &str) -> Result<()> {
        let address = outside_or_number(address)?;
        if let Some(username) = self.local_username(&address) {
            return self.unblock(caller, &username).await;
        }
        self.inner
            .store
            .unblock_address(&caller.user.id, &address)
            .await?;
        Ok(())
    }

    /// The outside addresses the caller blocks, newest first.
    pub async fn blocked_addresses(&self, caller: &Caller) -> Result<Vec<BlockedAddress>> {
        Ok(self.inner.store.blocked_addresses(&caller.user.id).await?)
    }
}
