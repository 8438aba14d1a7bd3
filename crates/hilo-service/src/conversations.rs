//! Conversations: direct (one per pair), groups and their membership, the caller's own
//! settings, read markers and typing.

use hilo_core::{
    ConversationId, ConversationView, EventKind, Folder, Notify, Role, User, UserId, validate,
};
use hilo_proto::{ConversationSettingsRequest, Event};
use hilo_store::MemberSettingsPatch;

use crate::{Caller, Error, Hilo, Result};

/// Most members a group may have.
pub const GROUP_MAX_MEMBERS: usize = 1000;
/// Most usernames one request may add.
const ADD_MAX: usize = 200;
/// Most members of a group known only by email address: each message is mailed to all.
pub const GROUP_MAX_CONTACTS: usize = 100;
/// Most conversations one person may pin in a folder.
pub const PINNED_MAX: usize = 10;

/// Conversations with email addresses one account may open per hour.
pub const ADDRESSES_PER_HOUR: u32 = 60;

impl Hilo {
    async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<User>> {
        let mut users: Vec<User> = Vec::with_capacity(usernames.len());
        for name in usernames {
            let name = name.to_ascii_lowercase();
            match self.inner.store.user_by_username(&name).await? {
                Some(user) if !user.suspended => {
                    if !users.iter().any(|u| u.id == user.id) {
                        users.push(user);
                    }
                }
                _ => return Err(Error::NotFound("user")),
            }
        }
        Ok(users)
    }

    /// The ids of `users`, once each of them lets the caller put them in a conversation:
    /// no block either way and their `who_can_message` allows the caller (403
    /// `recipient_restricts_messages` otherwise, whoever it is). A non-friend lands in
    /// the group's message requests (the store's arrival rule).
    async fn reachable(&self, caller: &Caller, users: Vec<User>) -> Result<Vec<UserId>> {
        let mut ids = Vec::with_capacity(users.len());
        for user in users {
            if user.id != caller.user.id {
                let relation = self.inner.store.relation(&caller.user.id, &user.id).await?;
                if !relation.may_message(user.settings.who_can_message) {
                    return Err(crate::messages::restricted());
                }
            }
            ids.push(user.id);
        }
        Ok(ids)
    }

    /// A conversation's shared state, if the caller is a current member; otherwise the same
    /// `NotFound` as for a conversation that does not exist.
    pub(crate) async fn member_conversation(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<hilo_core::Conversation> {
        self.inner
            .store
            .conversation(id)
            .await?
            .filter(|c| c.has_user(&caller.user.id))
            .ok_or(Error::NotFound("conversation"))
    }

    /// The caller's view of a conversation; not found unless the caller is a member, nor
    /// while they have it deleted (until it is written to or they open it again).
    pub async fn conversation(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<ConversationView> {
        self.view(id, &caller.user.id)
            .await?
            .filter(|view| !view.hidden())
            .ok_or(Error::NotFound("conversation"))
    }

    /// Where the caller stands in a conversation they can see: not found unless they are a
    /// member and have not deleted it (as [`Self::conversation`], for one small read).
    pub(crate) async fn visible_place(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<hilo_store::MemberPlace> {
        self.inner
            .store
            .member_place(id, &caller.user.id)
            .await?
            .filter(|place| !place.hidden)
            .ok_or(Error::NotFound("conversation"))
    }

    /// `user`'s view of a conversation as it is now: a mute whose time has come is over.
    pub(crate) async fn view(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> Result<Option<ConversationView>> {
        let Some(view) = self.inner.store.conversation_view(id, user).await? else {
            return Ok(None);
        };
        let mut views = [self.unmuted_if_due(view)];
        self.collapse_last_messages(user, &mut views).await?;
        let [view] = views;
        Ok(Some(view))
    }

    /// Marks the previews (last messages) whose sender `reader` blocks as collapsed, as
    /// the messages themselves are in history: one read of the reader's blocks at most.
    async fn collapse_last_messages(
        &self,
        reader: &UserId,
        views: &mut [ConversationView],
    ) -> Result<()> {
        self.collapse_blocked(
            reader,
            views.iter_mut().filter_map(|v| v.last_message.as_mut()),
        )
        .await
    }

    /// Clears a mute whose end has passed, so "mute until T" ends by itself at T without a
    /// write: the stored time stays, and every rendering compares it with the clock.
    fn unmuted_if_due(&self, mut view: ConversationView) -> ConversationView {
        let now = self.inner.clock.now();
        if view.me.muted_until.is_some_and(|until| until <= now) {
            view.me.muted_until = None;
        }
        view
    }

    /// Opens (or returns) the one direct conversation between the caller and `username`.
    /// The bool is true when this call created it.
    pub async fn open_direct(
        &self,
        caller: &Caller,
        username: &str,
    ) -> Result<(ConversationView, bool)> {
        let other = self.users_by_name(&[username.to_owned()]).await?.remove(0);
        let now = self.inner.clock.now();
        let (id, created, deliveries) = self
            .inner
            .store
            .find_or_create_direct(
                ConversationId::new(self.inner.ids.new_id()),
                &caller.user.id,
                &other.id,
                now,
            )
            .await?;
        self.opened(caller, &id, created, &deliveries).await
    }

    /// Splits the addresses someone adds to a group into this server's accounts (by
    /// username) and email contacts (checked by [`Self::admit_contacts`]).
    fn group_addresses(
        &self,
        addresses: &[String],
    ) -> Result<(Vec<String>, Vec<hilo_store::NewMemberContact>)> {
        let mut usernames = Vec::new();
        let mut contacts: Vec<hilo_store::NewMemberContact> = Vec::new();
        for address in addresses {
            let address = validate::email_address(address)?;
            if let Some(username) = self.local_username(&address) {
                usernames.push(username);
            } else if !contacts.iter().any(|c| c.address == address) {
                contacts.push(hilo_store::NewMemberContact {
                    new_id: hilo_core::ContactId::new(self.inner.ids.new_id()),
                    display_name: address.clone(),
                    address,
                });
            }
        }
        // One order for every writer: two requests adding the same new addresses lock
        // their contact rows in the same order (no deadlock on PostgreSQL).
        contacts.sort_by(|a, b| a.address.cmp(&b.address));
        Ok((usernames, contacts))
    }

    /// Checks the email contacts about to join `group` (or a new group): at most
    /// [`GROUP_MAX_CONTACTS`] in it, and each one not already there counted against the
    /// caller's hourly allowance of new addresses. Run last, once everything else holds.
    async fn admit_contacts(
        &self,
        caller: &Caller,
        contacts: &[hilo_store::NewMemberContact],
        group: Option<&hilo_core::Conversation>,
    ) -> Result<()> {
        let new = contacts
            .iter()
            .filter(|c| !group.is_some_and(|g| g.has_address(&c.address)))
            .count();
        let present = group.map_or(0, |g| {
            g.members
                .iter()
                .filter(|m| matches!(m.party, hilo_core::Party::Contact { .. }))
                .count()
        });
        if present + new > GROUP_MAX_CONTACTS {
            return Err(Error::bad_request(
                "too_many_contacts",
                format!("a group has at most {GROUP_MAX_CONTACTS} members known by email address"),
            ));
        }
        for _ in 0..new {
            self.new_address(caller).await?;
        }
        Ok(())
    }

    /// Counts one address new to the caller against their hourly allowance (429 past it).
    async fn new_address(&self, caller: &Caller) -> Result<()> {
        self.within(
            format!("addresses:{}", caller.user.id),
            ADDRESSES_PER_HOUR,
            3_600_000,
            "conversations with new addresses",
        )
        .await
    }

    /// Opens the caller's direct conversation with whoever is at `address`: an account of
    /// this server for one of its own addresses, otherwise an email contact (made if
    /// new), who gets what is written there by email.
    pub async fn open_with_address(
        &self,
        caller: &Caller,
        address: &str,
    ) -> Result<(ConversationView, bool)> {
        // A number; `+promo@example.org` is an email address.
        if validate::is_phone_address(address) {
            return self.open_with_number(caller, address).await;
        }
        let address = validate::email_address(address)?;
        if let Some(username) = self.local_username(&address) {
            return self.open_direct(caller, &username).await;
        }
        self.open_contact(caller, address).await
    }

    /// Opens the caller's direct conversation with a contact at `address` (an email
    /// address or phone number, checked), made if new.
    pub(crate) async fn open_contact(
        &self,
        caller: &Caller,
        address: String,
    ) -> Result<(ConversationView, bool)> {
        // Each new address is someone this server will mail or text: a limit keeps an
        // account from turning it into a relay for bulk mail.
        self.new_address(caller).await?;
        let ids = &self.inner.ids;
        let (id, created, deliveries) = self
            .inner
            .store
            .open_contact_direct(hilo_store::NewContactDirect {
                new_conversation_id: ConversationId::new(ids.new_id()),
                new_contact_id: hilo_core::ContactId::new(ids.new_id()),
                user: caller.user.id.clone(),
                display_name: address.clone(),
                address,
                now: self.inner.clock.now(),
            })
            .await?;
        self.opened(caller, &id, created, &deliveries).await
    }

    /// The direct conversation of `a` and `b`, made if there is none (and then announced
    /// to both), for a message written elsewhere (a mail, a text, a notice).
    pub(crate) async fn direct_between(&self, a: &UserId, b: &UserId) -> Result<ConversationId> {
        let (conversation, created, opened) = self
            .inner
            .store
            .find_or_create_direct(
                ConversationId::new(self.inner.ids.new_id()),
                a,
                b,
                self.inner.clock.now(),
            )
            .await?;
        let kind = if created {
            EventKind::ConversationCreated
        } else {
            EventKind::ConversationUpdated
        };
        self.publish_conversation_events(&opened, kind, &conversation, None)
            .await;
        Ok(conversation)
    }

    /// Where `from` writes `to` from another channel (mail or a text from an address of
    /// theirs): their direct conversation, made if needed; `None` when a block between
    /// them drops what was written (counted on the block when `to` blocks `from`), before
    /// anything is opened for it.
    pub(crate) async fn direct_unless_blocked(
        &self,
        from: &UserId,
        to: &UserId,
    ) -> Result<Option<ConversationId>> {
        let store = &self.inner.store;
        let relation = store.relation(from, to).await?;
        if relation.blocked_by {
            store.count_dropped(to, from).await?;
            return Ok(None);
        }
        if relation.blocking {
            return Ok(None);
        }
        Ok(Some(self.direct_between(from, to).await?))
    }

    /// A direct conversation the caller opened: created, both (or all) hear of it; opened
    /// again after deleting it, the opener's devices see it come back. The caller's view.
    async fn opened(
        &self,
        caller: &Caller,
        id: &ConversationId,
        created: bool,
        deliveries: &[hilo_store::Delivery],
    ) -> Result<(ConversationView, bool)> {
        let kind = if created {
            EventKind::ConversationCreated
        } else {
            EventKind::ConversationUpdated
        };
        self.publish_conversation_events(deliveries, kind, id, None)
            .await;
        Ok((self.conversation(caller, id).await?, created))
    }

    /// Creates a group with the caller as admin: accounts by username, and people by
    /// email address (an address of this server is its account; any other, an email
    /// contact who gets what is written there by mail).
    pub async fn create_group(
        &self,
        caller: &Caller,
        name: &str,
        usernames: &[String],
        addresses: &[String],
    ) -> Result<ConversationView> {
        let name = validate::group_name(name)?;
        check_group_size(usernames.len() + addresses.len() + 1)?;
        if addresses.len() > ADD_MAX {
            return Err(Error::bad_request(
                "invalid_addresses",
                format!("addresses has at most {ADD_MAX} entries"),
            ));
        }
        let (local, contacts) = self.group_addresses(addresses)?;
        let usernames: Vec<String> = usernames.iter().cloned().chain(local).collect();
        let members: Vec<UserId> = self
            .reachable(caller, self.users_by_name(&usernames).await?)
            .await?
            .into_iter()
            .filter(|id| *id != caller.user.id)
            .collect();
        self.admit_contacts(caller, &contacts, None).await?;
        let (id, deliveries) = self
            .inner
            .store
            .create_group(hilo_store::NewGroup {
                id: ConversationId::new(self.inner.ids.new_id()),
                name,
                creator: caller.user.id.clone(),
                members,
                contacts,
                now: self.inner.clock.now(),
            })
            .await?;
        self.publish_conversation_events(&deliveries, EventKind::ConversationCreated, &id, None)
            .await;
        self.conversation(caller, &id).await
    }

    /// The caller's conversations in a folder, most recent first. `cursor` is an opaque
    /// position from a previous page.
    pub async fn conversations(
        &self,
        caller: &Caller,
        folder: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<ConversationView>, Option<String>)> {
        let folder = Folder::parse(folder).ok_or_else(|| {
            Error::bad_request(
                "invalid_folder",
                "folder is one of inbox, requests, archived, spam",
            )
        })?;
        let after = cursor.map(parse_page_cursor).transpose()?;
        // The first page starts with every pinned conversation (at most PINNED_MAX),
        // beyond `limit`; the pages then go through the others.
        let page = match after {
            None => {
                self.inner
                    .store
                    .first_page(&caller.user.id, folder, PINNED_MAX as i64, limit)
                    .await?
            }
            Some(after) => {
                self.inner
                    .store
                    .list_conversations(&caller.user.id, folder, false, Some(after), limit)
                    .await?
            }
        };
        let mut views: Vec<ConversationView> = page
            .views
            .into_iter()
            .map(|view| self.unmuted_if_due(view))
            .collect();
        self.collapse_last_messages(&caller.user.id, &mut views)
            .await?;
        let next = page
            .next
            .map(|(updated_at, id)| format!("{}.{}", updated_at.millis(), id));
        Ok((views, next))
    }

    async fn group_as_member(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<hilo_core::Conversation> {
        self.visible_place(caller, id).await?;
        let conversation = self.member_conversation(caller, id).await?;
        if conversation.kind != hilo_core::ConversationKind::Group {
            return Err(Error::bad_request(
                "not_a_group",
                "direct conversations have no name or member list to change",
            ));
        }
        Ok(conversation)
    }

    /// Renames a group (any member may, as in Messenger).
    pub async fn rename_group(
        &self,
        caller: &Caller,
        id: &ConversationId,
        name: &str,
    ) -> Result<ConversationView> {
        self.group_as_member(caller, id).await?;
        let name = validate::group_name(name)?;
        let deliveries = self
            .inner
            .store
            .rename_group(id, &caller.user.id, &name, self.inner.clock.now())
            .await
            .map_err(in_transaction)?;
        self.publish_conversation_events(&deliveries, EventKind::ConversationUpdated, id, None)
            .await;
        self.conversation(caller, id).await
    }

    /// Adds people to a group (any member may): accounts by username, and people by
    /// email address (see [`Self::create_group`]).
    pub async fn add_members(
        &self,
        caller: &Caller,
        id: &ConversationId,
        usernames: &[String],
        addresses: &[String],
    ) -> Result<ConversationView> {
        let conversation = self.group_as_member(caller, id).await?;
        let asked = usernames.len() + addresses.len();
        if asked == 0 || asked > ADD_MAX {
            return Err(Error::bad_request(
                "invalid_usernames",
                format!("usernames and addresses have 1 to {ADD_MAX} entries together"),
            ));
        }
        let (local, contacts) = self.group_addresses(addresses)?;
        let usernames: Vec<String> = usernames.iter().cloned().chain(local).collect();
        let users = self
            .reachable(caller, self.users_by_name(&usernames).await?)
            .await?;
        let new = users.iter().filter(|u| !conversation.has_user(u)).count()
            + contacts
                .iter()
                .filter(|c| !conversation.has_address(&c.address))
                .count();
        check_group_size(conversation.members.len() + new)?;
        self.admit_contacts(caller, &contacts, Some(&conversation))
            .await?;
        let change = self
            .inner
            .store
            .add_members(
                id,
                &caller.user.id,
                &users,
                &contacts,
                GROUP_MAX_MEMBERS,
                self.inner.clock.now(),
            )
            .await
            .map_err(in_transaction)?;
        // Newcomers get conversation.created, the others conversation.updated; both are
        // rendered per recipient, so split the deliveries by who they are for.
        let (created, updated): (Vec<_>, Vec<_>) = change
            .deliveries
            .into_iter()
            .partition(|d| change.changed.contains(&d.user_id));
        self.publish_conversation_events(&created, EventKind::ConversationCreated, id, None)
            .await;
        self.publish_conversation_events(&updated, EventKind::ConversationUpdated, id, None)
            .await;
        self.conversation(caller, id).await
    }

    /// Removes `username` from a group: yourself (leave) or, for admins, anyone. An email
    /// address (with `@`) removes that email contact (admins only).
    pub async fn remove_member(
        &self,
        caller: &Caller,
        id: &ConversationId,
        username: &str,
    ) -> Result<()> {
        let conversation = self.group_as_member(caller, id).await?;
        let admin = || {
            if conversation.role_of(&caller.user.id) == Some(Role::Admin) {
                Ok(())
            } else {
                Err(Error::forbidden(
                    "not_group_admin",
                    "only group admins can remove other members",
                ))
            }
        };
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let (change, removed) = if username.contains('@') {
            let address = username.trim().to_lowercase();
            if !conversation.has_address(&address) {
                return Err(Error::NotFound("member"));
            }
            admin()?;
            let change = store
                .remove_contact(id, Some(&caller.user.id), &address, now)
                .await;
            (change, None)
        } else {
            let target = store
                .user_by_username(&username.to_ascii_lowercase())
                .await?
                .filter(|u| conversation.has_user(&u.id))
                .ok_or(Error::NotFound("member"))?;
            if target.id != caller.user.id {
                admin()?;
            }
            let change = store
                .remove_member(id, &caller.user.id, &target.id, now)
                .await;
            (change, Some(target.id))
        };
        let change = change.map_err(in_transaction)?;
        self.publish_conversation_events(
            &change.deliveries,
            EventKind::ConversationUpdated,
            id,
            removed.as_ref(),
        )
        .await;
        Ok(())
    }

    /// Changes the caller's own folder, mute and notification level for a conversation.
    pub async fn update_conversation_settings(
        &self,
        caller: &Caller,
        id: &ConversationId,
        request: &ConversationSettingsRequest,
    ) -> Result<ConversationView> {
        // A conversation the caller deleted is not there to change.
        let place = self.visible_place(caller, id).await?;
        let mut patch = MemberSettingsPatch::default();
        if let Some(folder) = &request.folder {
            patch.folder = Some(match Folder::parse(folder) {
                Some(folder @ (Folder::Inbox | Folder::Archived)) => folder,
                _ => {
                    return Err(Error::bad_request(
                        "invalid_folder",
                        "folder is inbox or archived",
                    ));
                }
            });
        }
        if request.pinned == Some(true) && !place.pinned {
            let pinned = self
                .inner
                .store
                .list_conversations(&caller.user.id, place.folder, true, None, PINNED_MAX as i64)
                .await?;
            if pinned.views.len() >= PINNED_MAX {
                return Err(Error::conflict(
                    "too_many_pinned",
                    format!("at most {PINNED_MAX} conversations can be pinned"),
                ));
            }
        }
        patch.pinned = request.pinned;
        if let Some(notify) = &request.notify {
            patch.notify = Some(Notify::parse(notify).ok_or_else(|| {
                Error::bad_request("invalid_notify", "notify is all, mentions or none")
            })?);
        }
        if let Some(muted_until) = &request.muted_until {
            patch.muted_until = Some(match muted_until {
                None => None,
                Some(text) => Some(hilo_proto::parse_rfc3339(text).ok_or_else(|| {
                    Error::bad_request(
                        "invalid_muted_until",
                        "muted_until is an RFC 3339 time or null",
                    )
                })?),
            });
        }
        self.change_own_view(caller, id, patch).await
    }

    /// Applies a change to the caller's own view and tells their devices.
    pub(crate) async fn change_own_view(
        &self,
        caller: &Caller,
        id: &ConversationId,
        patch: MemberSettingsPatch,
    ) -> Result<ConversationView> {
        let delivery = self
            .inner
            .store
            .update_member_settings(id, &caller.user.id, patch, self.inner.clock.now())
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        self.publish_conversation_events(&[delivery], EventKind::ConversationUpdated, id, None)
            .await;
        self.conversation(caller, id).await
    }

    /// Accepts a message request (or takes a conversation out of spam): it moves to the
    /// caller's inbox. Accepting one already accepted changes nothing.
    pub async fn accept_conversation(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<ConversationView> {
        let view = self.conversation(caller, id).await?;
        if accepted(view.me.folder) {
            return Ok(view);
        }
        let patch = MemberSettingsPatch {
            folder: Some(Folder::Inbox),
            ..MemberSettingsPatch::default()
        };
        self.change_own_view(caller, id, patch).await
    }

    /// Deletes a conversation for the caller only: its history so far is hidden from them,
    /// and it leaves their lists until someone writes again. With `decline`, it must be a
    /// message request (or in spam): declining hides it without telling anyone.
    pub async fn clear_conversation(
        &self,
        caller: &Caller,
        id: &ConversationId,
        decline: bool,
    ) -> Result<()> {
        let view = self.conversation(caller, id).await?;
        if decline && accepted(view.me.folder) {
            return Err(Error::conflict(
                "not_a_request",
                "only a message request can be declined",
            ));
        }
        let delivery = self
            .inner
            .store
            .clear_conversation(id, &caller.user.id, self.inner.clock.now())
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        self.publish_conversation_events(&[delivery], EventKind::ConversationUpdated, id, None)
            .await;
        Ok(())
    }

    /// Moves the caller's read marker forward; returns the marker and the unread count.
    /// Other members hear of it only if the caller shares read receipts.
    pub async fn mark_read(
        &self,
        caller: &Caller,
        id: &ConversationId,
        seq: i64,
    ) -> Result<(i64, i64)> {
        if seq < 0 {
            return Err(Error::bad_request(
                "invalid_seq",
                "seq is a message sequence number (0 or more)",
            ));
        }
        // Not there for a caller who deleted it; while it sits in their requests (or
        // spam), nobody else learns that they read it.
        let place = self.visible_place(caller, id).await?;
        let share = caller.user.settings.read_receipts && accepted(place.folder);
        let (marker, deliveries) = match self
            .inner
            .store
            .mark_read(id, &caller.user.id, seq, share, self.inner.clock.now())
            .await
        {
            Err(hilo_store::StoreError::NotFound) => return Err(Error::NotFound("conversation")),
            other => other?,
        };
        if !deliveries.is_empty() {
            let event = Event::Read {
                conversation_id: id.to_string(),
                user_id: caller.user.id.to_string(),
                seq: marker,
            };
            self.publish(&deliveries, &event).await;
        }
        let unread = self.conversation(caller, id).await?.unread_count;
        Ok((marker, unread))
    }

    /// The other members' receipts: what was delivered to each, and their read marker
    /// where both they and the caller share read receipts (receipts off works both
    /// ways: `None` otherwise).
    pub async fn receipts(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<Vec<(UserId, i64, Option<i64>)>> {
        self.visible_place(caller, id).await?;
        let sees_reads = caller.user.settings.read_receipts;
        Ok(self
            .inner
            .store
            .receipts(id)
            .await?
            .into_iter()
            .filter(|receipt| receipt.user != caller.user.id)
            .map(|r| {
                let read = (sees_reads && r.shares_reads).then_some(r.last_read_seq);
                (r.user, r.delivered_seq, read)
            })
            .collect())
    }

    /// Tells the other members' connected devices that the caller is (not) typing.
    pub async fn typing(&self, caller: &Caller, id: &ConversationId, typing: bool) -> Result<()> {
        // Nobody sees someone typing in a conversation still in their requests (or spam).
        if !accepted(self.visible_place(caller, id).await?.folder) {
            return Ok(());
        }
        let conversation = self.member_conversation(caller, id).await?;
        let others: Vec<UserId> = conversation
            .user_ids()
            .into_iter()
            .filter(|u| *u != caller.user.id)
            .collect();
        let event = Event::Typing {
            conversation_id: id.to_string(),
            user_id: caller.user.id.to_string(),
            typing,
        };
        self.publish_ephemeral(&others, &event).await;
        if typing {
            // Ends by itself unless refreshed: a client that vanishes mid-sentence does not
            // leave the others watching "typing…" forever.
            let generation = self.inner.typing.start(id, &caller.user.id);
            let (hilo, id, typist) = (self.clone(), id.clone(), caller.user.id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(crate::TYPING_TTL).await;
                if hilo.inner.typing.stop(&id, &typist, Some(generation)) {
                    hilo.stopped_typing(&id, &typist, &others).await;
                }
            });
        } else {
            self.inner.typing.stop(id, &caller.user.id, None);
        }
        Ok(())
    }

    /// Tells `others` that `typist` stopped typing in `id`.
    pub(crate) async fn stopped_typing(
        &self,
        id: &ConversationId,
        typist: &UserId,
        others: &[UserId],
    ) {
        let event = Event::Typing {
            conversation_id: id.to_string(),
            user_id: typist.to_string(),
            typing: false,
        };
        self.publish_ephemeral(others, &event).await;
    }
}

/// Maps a refusal the store made inside the write transaction (the state changed between
/// the service's check and the write) onto the error the service's own check gives.
fn in_transaction(error: hilo_store::StoreError) -> Error {
    match error {
        hilo_store::StoreError::NotFound => Error::NotFound("conversation"),
        hilo_store::StoreError::Conflict("not_group_admin") => Error::forbidden(
            "not_group_admin",
            "only group admins can remove other members",
        ),
        hilo_store::StoreError::Conflict("too_many_members") => Error::bad_request(
            "too_many_members",
            format!("a group has at most {GROUP_MAX_MEMBERS} members"),
        ),
        other => Error::Store(other),
    }
}

fn check_group_size(n_members: usize) -> Result<()> {
    if n_members > GROUP_MAX_MEMBERS {
        return Err(Error::bad_request(
            "too_many_members",
            format!("a group has at most {GROUP_MAX_MEMBERS} members"),
        ));
    }
    Ok(())
}

fn parse_page_cursor(text: &str) -> Result<(hilo_core::Timestamp, ConversationId)> {
    let invalid = || {
        Error::bad_request(
            "invalid_cursor",
            "cursor must be a next_cursor returned by the server",
        )
    };
    let (millis, id) = text.split_once('.').ok_or_else(invalid)?;
    let millis = millis.parse::<i64>().map_err(|_| invalid())?;
    if id.is_empty() || id.len() > 64 {
        return Err(invalid());
    }
    Ok((hilo_core::Timestamp(millis), ConversationId::new(id)))
}

/// Whether a member's folder means they started or accepted the conversation.
pub(crate) fn accepted(folder: Folder) -> bool {
    matches!(folder, Folder::Inbox | Folder::Archived)
}
