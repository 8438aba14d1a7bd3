//! Message search on FTS5: the index is written by the same transaction as the message
//! (send, edit, delete), and read joined to the viewer's memberships.

use hilo_core::search::{IndexTerms, SearchQuery, index_terms};
use hilo_core::{Message, MessageId};
use hilo_store::{MessageSearch, SearchPage, StoreResult};
use rusqlite::{Connection, params};

use crate::db::{column, execute, scalar};
use crate::{reads, rows};

/// Writes a message's entry: the terms of its text (made by the caller, off the writer
/// where it can) and of its attachments' names. A message with neither has none.
pub(crate) fn index(conn: &Connection, id: &MessageId, text: &IndexTerms) -> StoreResult<()> {
    let names: Vec<String> = column(conn, rows::ATTACHMENT_NAMES_OF, [id.as_str()])?;
    let mut terms = text.clone();
    if !names.is_empty() {
        let named = index_terms(names.iter().map(String::as_str));
        terms.words.extend(named.words);
        terms.stems.extend(named.stems);
    }
    if terms.is_empty() {
        return unindex(conn, id);
    }
    // An edit keeps the entry (and its docid, its place in time).
    let docid: i64 = scalar(
        conn,
        "INSERT INTO message_search_entries (message_id, conversation_id, seq, sender_user_id, created_at) SELECT id, conversation_id, seq, sender_user_id, created_at FROM messages WHERE id = ?1 ON CONFLICT (message_id) DO UPDATE SET message_id = excluded.message_id RETURNING docid",
        [id.as_str()],
    )?
    .ok_or(hilo_store::StoreError::NotFound)?;
    execute(
        conn,
        "INSERT OR REPLACE INTO message_search (rowid, words, stems) VALUES (?1, ?2, ?3)",
        params![docid, terms.words.join(" "), terms.stems.join(" ")],
    )?;
    Ok(())
}

/// Removes a message's entry, if it has one.
pub(crate) fn unindex(conn: &Connection, id: &MessageId) -> StoreResult<()> {
    execute(
        conn,
        "DELETE FROM message_search WHERE rowid = (SELECT docid FROM message_search_entries WHERE message_id = ?1)",
        [id.as_str()],
    )?;
    execute(
        conn,
        "DELETE FROM message_search_entries WHERE message_id = ?1",
        [id.as_str()],
    )?;
    Ok(())
}

/// The FTS5 expression for a query: every term, each as a prefix of a word or one of its
/// stems as a whole word or stem. Terms are letters and digits only (see
/// `hilo_core::search::words`), quoted all the same.
fn match_expression(query: &SearchQuery) -> String {
    query
        .terms
        .iter()
        .map(|term| {
            let mut any = vec![format!("words : \"{}\" *", term.word)];
            any.extend(term.stems.iter().map(|stem| format!("\"{stem}\"")));
            format!("({})", any.join(" OR "))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The search: `?1` the match expression, `?2` the viewer, `?3`-`?7` the filters, `?8` the
/// window, `?9` and `?10` the page. A message deleted for everyone has no entry (its
/// deletion removes it in the same transaction), so the walk needs no `messages` row.
pub(crate) const SEARCH: &str = "SELECT message_id FROM ( \
           SELECT e.message_id, e.created_at, bm25(message_search, 4.0, 1.0) AS rank \
           FROM message_search s \
           CROSS JOIN message_search_entries e ON e.docid = s.rowid \
           CROSS JOIN members mb ON mb.conversation_id = e.conversation_id AND mb.user_id = ?2 AND mb.left_at IS NULL \
           WHERE message_search MATCH ?1 AND e.seq > COALESCE(mb.cleared_seq, 0) \
           AND (?3 IS NULL OR e.conversation_id = ?3) \
           AND (?4 IS NULL OR e.sender_user_id = ?4) \
           AND (?5 IS NULL OR e.created_at >= ?5) \
           AND (?6 IS NULL OR e.created_at < ?6) \
           AND (?7 IS NULL OR EXISTS (SELECT 1 FROM message_attachments ma WHERE ma.message_id = e.message_id) = ?7) \
           AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = ?2 AND h.message_id = e.message_id) \
           ORDER BY s.rowid DESC LIMIT ?8 \
         ) ORDER BY rank, created_at DESC, message_id DESC \
         LIMIT ?9 OFFSET ?10";

/// See `MessageStore::search_messages`.
pub(crate) fn search(conn: &Connection, search: &MessageSearch) -> StoreResult<SearchPage> {
    // The index drives the query: it walks the matches newest first (FTS5 reads its
    // doclists backwards for `ORDER BY rowid DESC`, and docids grow with time), keeps the
    // ones the viewer may read (one narrow entry and one membership each), and stops at
    // the window; only those are ranked. Letting the planner start from the viewer's
    // memberships instead tested every message of theirs against the index, one lookup
    // each: 13 s for a rare word and minutes for a common one over a million messages
    // (docs/benchmarks.md). CROSS JOIN fixes the order. Matching the viewer's
    // conversations inside FTS5 (a column of conversation tokens, OR-ed) was measured
    // too: opening 200 term lists costs 10-20 ms before the first row, more than the walk.
    let ids: Vec<String> = column(
        conn,
        SEARCH,
        params![
            match_expression(&search.query),
            search.viewer.as_str(),
            search.conversation.as_ref().map(|c| c.as_str()),
            search.sender.as_ref().map(|s| s.as_str()),
            search.since.map(|t| t.millis()),
            search.until.map(|t| t.millis()),
            search.has_attachment,
            hilo_store::SEARCH_WINDOW,
            search.limit + 1,
            search.offset,
        ],
    )?;
    let has_more = ids.len() as i64 > search.limit;
    let mut messages: Vec<Message> = Vec::with_capacity(ids.len());
    for id in ids.into_iter().take(search.limit as usize) {
        // Read in the same snapshot as the ids: every one is there.
        if let Some(message) = reads::message(conn, &MessageId::new(id), None)? {
            messages.push(message);
        }
    }
    Ok(SearchPage { messages, has_more })
}

/// Indexes up to `batch` messages written before the index existed; how many it did.
pub(crate) fn drain_backlog(conn: &Connection, batch: i64) -> StoreResult<usize> {
    let ids: Vec<String> = column(
        conn,
        "SELECT message_id FROM search_backlog LIMIT ?1",
        [batch],
    )?;
    for id in &ids {
        let id = MessageId::new(id.as_str());
        let text: Option<String> = scalar(
            conn,
            "SELECT text FROM messages WHERE id = ?1 AND NOT deleted",
            [id.as_str()],
        )?
        .flatten();
        index(conn, &id, &index_terms(text.as_deref()))?;
        execute(
            conn,
            "DELETE FROM search_backlog WHERE message_id = ?1",
            [id.as_str()],
        )?;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use hilo_core::search::parse_query;

    #[test]
    fn a_query_becomes_quoted_prefixes_and_stems() {
        let query = parse_query("Mensajes \"OR\" reserv*").expect("valid");
        assert_eq!(
            super::match_expression(&query),
            "(words : \"mensajes\" * OR \"mensaj\") AND (words : \"or\" *) AND (words : \"reserv\" *)"
        );
    }
}
