//! Every request body the API accepts, decoded the way the server decodes it: the entry
//! point of the `request_bodies` fuzz target (`fuzz/`), kept here so that it is compiled and
//! tested with the types it covers. [`REQUEST_TYPES`] names them; an integration test holds
//! the list equal to the request schemas of the OpenAPI document, so a new request type
//! cannot miss the fuzzer.

use hilo_core::validate;
use serde::de::DeserializeOwned;

use crate::{
    AddEmailRequest, AddMembersRequest, AddPhoneRequest, ChangePasswordRequest,
    ConfirmTwoFactorRequest, ConversationSettingsRequest, CreateAccountRequest,
    CreateConversationRequest, DeleteAccountRequest, DisableTwoFactorRequest, EditMessageRequest,
    ForwardMessageRequest, FriendRequestBody, LoginRequest, ReadRequest, RenameConversationRequest,
    ReportRequest, ResolveReportRequest, SendMessageRequest, TypingRequest, UpdateEmailRequest,
    UpdateMeRequest, VerifyEmailRequest, VerifyPhoneRequest, check_body,
};

/// The request types [`decode_every_request`] covers, by schema name.
pub const REQUEST_TYPES: &[&str] = &[
    "AddEmailRequest",
    "AddMembersRequest",
    "AddPhoneRequest",
    "ChangePasswordRequest",
    "ConfirmTwoFactorRequest",
    "ConversationSettingsRequest",
    "CreateAccountRequest",
    "CreateConversationRequest",
    "DeleteAccountRequest",
    "DisableTwoFactorRequest",
    "EditMessageRequest",
    "ForwardMessageRequest",
    "FriendRequestBody",
    "LoginRequest",
    "ReadRequest",
    "ReportRequest",
    "ResolveReportRequest",
    "RenameConversationRequest",
    "SendMessageRequest",
    "TypingRequest",
    "UpdateEmailRequest",
    "UpdateMeRequest",
    "VerifyEmailRequest",
    "VerifyPhoneRequest",
];

fn decode<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// Checks `body` as the HTTP layer does, decodes it as every request type and runs the
/// field validation each would get. Returns how many types accepted it. Never panics on
/// any input (that is what the fuzz target checks).
pub fn decode_every_request(body: &[u8]) -> usize {
    if check_body(body).is_err() {
        return 0;
    }
    let mut accepted = 0;
    let names = |value: &Option<String>, check: fn(&str) -> Result<String, _>| {
        value.as_deref().map(check).map(|r| r.is_ok())
    };
    if let Some(r) = decode::<CreateAccountRequest>(body) {
        accepted += 1;
        let _ = validate::username(&r.username);
        let _ = validate::password(&r.password);
        let _ = names(&r.display_name, validate::display_name);
        let _ = names(&r.device_name, validate::device_name);
    }
    if let Some(r) = decode::<AddEmailRequest>(body) {
        accepted += 1;
        let _ = validate::email_address(&r.address);
    }
    if let Some(r) = decode::<VerifyEmailRequest>(body) {
        accepted += 1;
        let _ = names(&r.address, validate::email_address);
    }
    if let Some(r) = decode::<AddPhoneRequest>(body) {
        accepted += 1;
        let _ = validate::phone_number(&r.number);
    }
    if let Some(r) = decode::<VerifyPhoneRequest>(body) {
        accepted += 1;
        let _ = validate::phone_number(&r.number);
    }
    if decode::<UpdateEmailRequest>(body).is_some() {
        accepted += 1;
    }
    if let Some(r) = decode::<LoginRequest>(body) {
        accepted += 1;
        let _ = validate::username(&r.username);
        let _ = names(&r.device_name, validate::device_name);
    }
    if decode::<ConfirmTwoFactorRequest>(body).is_some() {
        accepted += 1;
    }
    if decode::<DeleteAccountRequest>(body).is_some() {
        accepted += 1;
    }
    if decode::<DisableTwoFactorRequest>(body).is_some() {
        accepted += 1;
    }
    if let Some(r) = decode::<ChangePasswordRequest>(body) {
        accepted += 1;
        let _ = validate::password(&r.new_password);
    }
    if let Some(r) = decode::<UpdateMeRequest>(body) {
        accepted += 1;
        let _ = names(&r.display_name, validate::display_name);
    }
    if let Some(r) = decode::<CreateConversationRequest>(body) {
        accepted += 1;
        let _ = names(&r.name, validate::group_name);
        let _ = names(&r.with, validate::username);
        for address in r.addresses.iter().flatten() {
            let _ = validate::email_address(address);
        }
    }
    if let Some(r) = decode::<RenameConversationRequest>(body) {
        accepted += 1;
        let _ = validate::group_name(&r.name);
    }
    if let Some(r) = decode::<AddMembersRequest>(body) {
        accepted += 1;
        for name in &r.usernames {
            let _ = validate::username(name);
        }
        for address in &r.addresses {
            let _ = validate::email_address(address);
        }
    }
    if let Some(r) = decode::<ConversationSettingsRequest>(body) {
        accepted += 1;
        if let Some(Some(time)) = &r.muted_until {
            let _ = crate::parse_rfc3339(time);
        }
    }
    if let Some(r) = decode::<SendMessageRequest>(body) {
        accepted += 1;
        let _ = validate::client_txn_id(&r.client_txn_id);
        let _ = validate::message_text(r.text.as_deref().unwrap_or(""));
        if let Some(place) = &r.location {
            let _ = validate::location(place.lat, place.lon, place.label.as_deref());
        }
    }
    if let Some(r) = decode::<EditMessageRequest>(body) {
        accepted += 1;
        let _ = validate::message_text(&r.text);
        let _ = hilo_core::message::mentioned_usernames(&r.text);
        let _ = hilo_core::message::links(&r.text);
    }
    if let Some(r) = decode::<ForwardMessageRequest>(body) {
        accepted += 1;
        let _ = validate::client_txn_id(&r.client_txn_id);
    }
    if let Some(r) = decode::<FriendRequestBody>(body) {
        accepted += 1;
        let _ = validate::username(&r.username);
    }
    if let Some(r) = decode::<ReportRequest>(body) {
        accepted += 1;
        let _ = validate::report_reason(&r.reason);
        let _ = names(&r.username, validate::username);
    }
    if let Some(r) = decode::<ResolveReportRequest>(body) {
        accepted += 1;
        let _ = hilo_core::ReportAction::parse(&r.action);
    }
    accepted += usize::from(decode::<ReadRequest>(body).is_some());
    accepted += usize::from(decode::<TypingRequest>(body).is_some());
    accepted
}

#[cfg(test)]
mod tests {
    use super::decode_every_request;

    #[test]
    fn valid_bodies_are_accepted_by_their_types() {
        assert!(decode_every_request(br#"{"username":"ana","password":"correct horse"}"#) >= 2);
        assert_eq!(
            decode_every_request(br#"{"seq":3}"#),
            4,
            "read, the two all-optional patches, and adding members (usernames or addresses)"
        );
        assert_eq!(decode_every_request(b"[]"), 0);
    }
}
