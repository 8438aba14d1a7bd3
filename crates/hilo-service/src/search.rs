//! Message search over what the caller may read (see `hilo_core::search` for what
//! matches, `MessageStore::search_messages` for what the caller may read).

use hilo_core::search::{SNIPPET_CHARS, SearchQuery, escape_html, highlight, parse_query};
use hilo_core::{ConversationId, Message, Timestamp, validate};
use hilo_store::MessageSearch;

use crate::{Caller, Error, Hilo, Result};

/// Results per page unless the caller asks for another number.
pub const SEARCH_PAGE_DEFAULT: i64 = 20;
/// Most results per page.
pub const SEARCH_PAGE_MAX: i64 = 50;
/// How deep pages go: results past this many are not served (refine the query).
pub const SEARCH_DEPTH_MAX: i64 = hilo_store::SEARCH_WINDOW;

/// A search as asked for; every field but `q` optional.
#[derive(Debug, Default, Clone)]
pub struct SearchRequest {
    /// The words to find.
    pub q: String,
    /// Only in this conversation (the caller must be a member).
    pub conversation_id: Option<String>,
    /// Only sent by this username.
    pub sender: Option<String>,
    /// Only sent at or after this time.
    pub after: Option<Timestamp>,
    /// Only sent before this time.
    pub before: Option<Timestamp>,
    /// Only messages with (true) or without (false) attachments.
    pub has_attachment: Option<bool>,
    /// Page size.
    pub limit: Option<i64>,
    /// A `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// One result: the message and its text with the matches marked.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The message, as the caller would read it.
    pub message: Message,
    /// HTML-escaped text around the first match, each match in `<mark>…</mark>`.
    pub highlight: String,
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// Most relevant first, then most recent.
    pub hits: Vec<SearchHit>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

impl Hilo {
    /// Searches the messages the caller may read.
    pub async fn search_messages(
        &self,
        caller: &Caller,
        request: &SearchRequest,
    ) -> Result<SearchResults> {
        let query = parse_query(&request.q)?;
        let limit = match request.limit {
            None => SEARCH_PAGE_DEFAULT,
            Some(n) if (1..=SEARCH_PAGE_MAX).contains(&n) => n,
            Some(_) => {
                return Err(Error::bad_request(
                    "invalid_limit",
                    format!("limit is between 1 and {SEARCH_PAGE_MAX}"),
                ));
            }
        };
        let offset = match request.cursor.as_deref() {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..SEARCH_DEPTH_MAX).contains(n))
                .ok_or_else(|| {
                    Error::bad_request(
                        "invalid_cursor",
                        "cursor must be a next_cursor returned by the server",
                    )
                })?,
        };
        if let (Some(after), Some(before)) = (request.after, request.before)
            && after >= before
        {
            return Err(Error::bad_request(
                "invalid_field",
                "after must be earlier than before",
            ));
        }
        let conversation = match request.conversation_id.as_deref() {
            None => None,
            Some(id) => {
                let id = ConversationId::new(id);
                // Not a member (now), or deleted for themselves: the same answer as for a
                // conversation that does not exist.
                self.visible_place(caller, &id).await?;
                Some(id)
            }
        };
        let sender = match request.sender.as_deref() {
            None => None,
            Some(name) => {
                let name = validate::username(name)?;
                match self.inner.store.user_by_username(&name).await? {
                    Some(user) => Some(user.id),
                    // Nobody by that name sent anything.
                    None => {
                        return Ok(SearchResults {
                            hits: Vec::new(),
                            next_cursor: None,
                        });
                    }
                }
            }
        };
        let page = self
            .inner
            .store
            .search_messages(MessageSearch {
                viewer: caller.user.id.clone(),
                query: query.clone(),
                conversation,
                sender,
                since: request.after,
                until: request.before,
                has_attachment: request.has_attachment,
                offset,
                limit: limit.min(SEARCH_DEPTH_MAX - offset),
            })
            .await?;
        let mut messages = page.messages;
        self.collapse_blocked(&caller.user.id, &mut messages)
            .await?;
        let next = offset + messages.len() as i64;
        let next_cursor = (page.has_more && next < SEARCH_DEPTH_MAX).then(|| next.to_string());
        Ok(SearchResults {
            hits: messages
                .into_iter()
                .map(|message| SearchHit {
                    highlight: highlighted(&message, &query),
                    message,
                })
                .collect(),
            next_cursor,
        })
    }
}

/// The highlight of a hit: from its text, else from its attachments' names (where the
/// match was), else the start of its text.
fn highlighted(message: &Message, query: &SearchQuery) -> String {
    let text = message.text.as_deref().unwrap_or_default();
    if let Some(marked) = highlight(text, query) {
        return marked;
    }
    let names = message
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(" · ");
    highlight(&names, query).unwrap_or_else(|| {
        // Not reached while the stores and `hilo_core::search::matches` agree.
        let start: String = text.chars().take(SNIPPET_CHARS).collect();
        escape_html(&start)
    })
}
