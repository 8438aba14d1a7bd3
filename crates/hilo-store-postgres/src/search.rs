//! Message search on PostgreSQL full-text: `messages.search` holds a tsvector of the terms
//! `hilo_core::search` made (folded words weighted A, their stems weighted B), written in
//! the same transaction as the message, its edits and its deletion, and searched through a
//! GIN index joined to the viewer's memberships.

use hilo_core::search::{IndexTerms, SearchQuery, index_terms};
use hilo_core::{AttachmentId, Message, MessageId};
use hilo_store::{MessageSearch, SearchPage, StoreResult};
use sqlx::{Acquire as _, PgConnection};

use crate::reads::{Pool, message_on};
use crate::{db_error, rows};

/// The tsvector, in PostgreSQL's text form, for a message's terms; `None` for no terms.
/// Terms are letters and digits only, so quoting needs no escapes; positions above
/// 16,383 are clamped by PostgreSQL itself.
pub(crate) fn tsvector(terms: &IndexTerms) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let words = terms.words.iter().enumerate().map(|(i, w)| (i, w, 'A'));
    let stems = terms.stems.iter().enumerate().map(|(i, s)| (i, s, 'B'));
    Some(
        words
            .chain(stems)
            .map(|(i, lexeme, weight)| format!("'{lexeme}':{}{weight}", i + 1))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// A tsquery for a query: every term, each as a prefix of a word (weight A) or one of
/// its stems as a whole word or stem.
fn tsquery(query: &SearchQuery) -> String {
    query
        .terms
        .iter()
        .map(|term| {
            let mut any = vec![format!("'{}':*A", term.word)];
            any.extend(term.stems.iter().map(|stem| format!("'{stem}'")));
            format!("({})", any.join(" | "))
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// `text`'s terms plus those of attachment `names`, as a tsvector.
fn vector_with_names(mut terms: IndexTerms, names: &[String]) -> Option<String> {
    let named = index_terms(names.iter().map(String::as_str));
    terms.words.extend(named.words);
    terms.stems.extend(named.stems);
    tsvector(&terms)
}

/// The tsvector for a new message: its text's terms and its attachments' names.
pub(crate) async fn new_message_vector(
    conn: &mut PgConnection,
    text: IndexTerms,
    attachments: &[AttachmentId],
) -> StoreResult<Option<String>> {
    if attachments.is_empty() {
        return Ok(tsvector(&text));
    }
    let ids: Vec<&str> = attachments.iter().map(AttachmentId::as_str).collect();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM attachments WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(vector_with_names(text, &names))
}

/// The tsvector for a stored message with new text (and the attachments it has).
pub(crate) async fn edited_message_vector(
    conn: &mut PgConnection,
    id: &MessageId,
    text: IndexTerms,
) -> StoreResult<Option<String>> {
    let names: Vec<String> = sqlx::query_scalar(rows::ATTACHMENT_NAMES_OF)
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(vector_with_names(text, &names))
}

/// See `MessageStore::search_messages`. The ids and the messages are read in one
/// snapshot, so a message deleted meanwhile is in neither.
pub(crate) async fn search(pool: &Pool, search: &MessageSearch) -> StoreResult<SearchPage> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    let mut tx = conn.begin().await.map_err(db_error)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM ( \
           SELECT m.id, m.created_at, ts_rank(m.search, $1::tsquery) AS rank FROM messages m \
           JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = $2 AND mb.left_at IS NULL \
           WHERE m.search @@ $1::tsquery AND NOT m.deleted AND m.seq > COALESCE(mb.cleared_seq, 0) \
           AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $2 AND h.message_id = m.id) \
           AND ($3::text IS NULL OR m.conversation_id = $3) \
           AND ($4::text IS NULL OR m.sender_user_id = $4) \
           AND ($5::bigint IS NULL OR m.created_at >= $5) \
           AND ($6::bigint IS NULL OR m.created_at < $6) \
           AND ($7::boolean IS NULL OR EXISTS (SELECT 1 FROM message_attachments ma WHERE ma.message_id = m.id) = $7) \
           ORDER BY m.created_at DESC, m.id DESC LIMIT $8 \
         ) w ORDER BY rank DESC, created_at DESC, id DESC \
         LIMIT $9 OFFSET $10",
    )
    .bind(tsquery(&search.query))
    .bind(search.viewer.as_str())
    .bind(search.conversation.as_ref().map(|c| c.as_str()))
    .bind(search.sender.as_ref().map(|s| s.as_str()))
    .bind(search.since.map(|t| t.millis()))
    .bind(search.until.map(|t| t.millis()))
    .bind(search.has_attachment)
    .bind(hilo_store::SEARCH_WINDOW)
    .bind(search.limit + 1)
    .bind(search.offset)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let has_more = ids.len() as i64 > search.limit;
    let mut messages: Vec<Message> = Vec::with_capacity(ids.len());
    for id in ids.into_iter().take(search.limit as usize) {
        if let Some(message) = message_on(&mut tx, &MessageId::new(id), None).await? {
            messages.push(message);
        }
    }
    tx.commit().await.map_err(db_error)?;
    Ok(SearchPage { messages, has_more })
}

/// Indexes up to `batch` messages written before the index existed, in one transaction;
/// how many it did.
pub(crate) async fn drain_backlog(pool: &Pool, batch: i64) -> StoreResult<usize> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "DELETE FROM search_backlog b USING messages m WHERE m.id = b.message_id AND b.message_id IN (SELECT message_id FROM search_backlog LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING m.id, m.text",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    for (id, text) in &rows {
        let id = MessageId::new(id.as_str());
        let vector = edited_message_vector(&mut tx, &id, index_terms(text.as_deref())).await?;
        sqlx::query("UPDATE messages SET search = $1::tsvector WHERE id = $2 AND NOT deleted")
            .bind(vector)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use hilo_core::search::{index_terms, parse_query};

    #[test]
    fn terms_become_weighted_lexemes_and_queries_prefixes_or_stems() {
        assert_eq!(
            super::tsvector(&index_terms(["Dos mensajes"])).as_deref(),
            Some("'dos':1A 'mensajes':2A 'mensaj':1B")
        );
        assert_eq!(super::tsvector(&index_terms(["¡!"])), None);
        let query = parse_query("mensajes & reserv:*").expect("valid");
        assert_eq!(
            super::tsquery(&query),
            "('mensajes':*A | 'mensaj') & ('reserv':*A)"
        );
    }
}
