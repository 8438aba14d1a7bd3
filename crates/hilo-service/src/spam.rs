//! The spam filter at work (`hilo_core::spam` is the model): judging first-contact
//! messages, and "mark as spam" / "not spam", which move a conversation and teach the
//! filter.

use hilo_core::spam::{Behaviour, features, judge, shipped};
use hilo_core::{ConversationId, ConversationView, Folder, Message, Timestamp, UserId};
use hilo_store::MemberSettingsPatch;

use crate::{Caller, Error, Hilo, Result};

/// Messages of the others a lesson takes from a conversation (the newest).
pub const LESSON_MESSAGES: i64 = 20;

const HOUR_MS: i64 = 3_600_000;

impl Hilo {
    /// Whether a received mail's text is spam, by the model alone (a mail sender has no
    /// behaviour on this server to judge).
    pub(crate) async fn mail_judged_spam(&self, text: &str) -> Result<bool> {
        let single = Behaviour {
            new_conversations_last_hour: 1,
            same_text_recipients_last_day: 1,
        };
        Ok(judge(&self.spam_model(text).await?, text, single).spam)
    }

    /// The model for `text`: the shipped counts of its features plus what this server's
    /// users taught.
    async fn spam_model(&self, text: &str) -> Result<hilo_core::spam::Counts> {
        let features = features(text);
        let learned = self.inner.store.learned(&features).await?;
        Ok(shipped().subset(&features).plus(&learned))
    }

    /// Whether a first-contact message from `sender` is spam: the shipped model plus what
    /// this server's users taught, and the sender's behaviour.
    pub(crate) async fn judged_spam(&self, sender: &UserId, text: &str) -> Result<bool> {
        let store = &self.inner.store;
        let model = self.spam_model(text).await?;
        let now = self.inner.clock.now();
        let before = store
            .behaviour(
                sender,
                text,
                Timestamp(now.millis() - HOUR_MS),
                Timestamp(now.millis() - 24 * HOUR_MS),
            )
            .await?;
        // This message counts too.
        let behaviour = Behaviour {
            new_conversations_last_hour: before.new_conversations_last_hour + 1,
            same_text_recipients_last_day: before.same_text_recipients_last_day + 1,
        };
        let verdict = judge(&model, text, behaviour);
        if verdict.spam {
            tracing::info!(
                sender = %sender,
                probability = verdict.probability,
                signals = ?verdict.signals,
                "first-contact message judged spam"
            );
        }
        Ok(verdict.spam)
    }

    /// "Mark as spam": the conversation moves to the caller's spam folder, and the
    /// others' newest messages teach the filter what spam looks like.
    pub async fn mark_spam(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<ConversationView> {
        let view = self.conversation(caller, id).await?;
        if view.me.folder == Folder::Spam {
            return Ok(view);
        }
        self.teach_from(caller, id, true).await?;
        self.move_to(caller, id, Folder::Spam).await
    }

    /// "Not spam": a conversation in the caller's spam folder moves to their message
    /// requests, and the others' newest messages teach the filter what is not spam.
    pub async fn mark_not_spam(
        &self,
        caller: &Caller,
        id: &ConversationId,
    ) -> Result<ConversationView> {
        let view = self.conversation(caller, id).await?;
        if view.me.folder != Folder::Spam {
            return Err(Error::conflict(
                "not_in_spam",
                "only a conversation in spam can be marked not spam",
            ));
        }
        self.teach_from(caller, id, false).await?;
        self.move_to(caller, id, Folder::Requests).await
    }

    /// Teaches the filter one message a moderator confirmed as abuse (a report resolved by
    /// deleting it or suspending its sender).
    pub(crate) async fn teach_confirmed_spam(&self, message: &Message) -> Result<()> {
        if let Some(text) = message.text.as_deref() {
            self.inner.store.teach(vec![features(text)], true).await?;
        }
        Ok(())
    }

    async fn teach_from(&self, caller: &Caller, id: &ConversationId, spam: bool) -> Result<()> {
        let page = self
            .inner
            .store
            .messages(id, &caller.user.id, None, None, LESSON_MESSAGES)
            .await?;
        let lessons: Vec<Vec<String>> = page
            .messages
            .iter()
            .filter(|m| m.sender_user() != Some(&caller.user.id) && !m.deleted)
            .filter_map(|m| m.text.as_deref())
            .map(features)
            .filter(|f| !f.is_empty())
            .collect();
        if !lessons.is_empty() {
            self.inner.store.teach(lessons, spam).await?;
        }
        Ok(())
    }

    async fn move_to(
        &self,
        caller: &Caller,
        id: &ConversationId,
        folder: Folder,
    ) -> Result<ConversationView> {
        let patch = MemberSettingsPatch {
            folder: Some(folder),
            ..MemberSettingsPatch::default()
        };
        self.change_own_view(caller, id, patch).await
    }
}
