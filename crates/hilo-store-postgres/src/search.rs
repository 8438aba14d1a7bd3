//! Message search on PostgreSQL: `messages.search` holds a tsvector of the terms
//! `hilo_core::search` made (folded words weighted A, their stems weighted B), and
//! `search_postings` one row per key of it (written from it by migration 16's trigger),
//! both in the same transaction as the message, its edits and its deletion. A search walks the postings
//! newest first and ranks the newest matches the viewer may read with `ts_rank`.

use hilo_core::search::{IndexTerms, QueryTerm, SearchQuery, index_terms};
use hilo_core::{AttachmentId, Message, MessageId};
use hilo_store::{MessageSearch, SearchPage, StoreResult};
use sqlx::PgConnection;

use crate::reads::{Pool, messages_by_id};
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

/// A tsquery for one term: a prefix of a word (weight A) or one of its stems as a whole
/// word or stem.
fn term_tsquery(term: &QueryTerm) -> String {
    let mut any = vec![format!("'{}':*A", term.word)];
    any.extend(term.stems.iter().map(|stem| format!("'{stem}'")));
    format!("({})", any.join(" | "))
}

/// A tsquery for a query: every term (what ranks the window).
fn tsquery(query: &SearchQuery) -> String {
    query
        .terms
        .iter()
        .map(term_tsquery)
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

/// A word prefix longer than the prefix keys ('p' and one to three letters) is answered
/// from the lists of the words it starts, when there are at most this many.
const PREFIX_WORDS_MAX: usize = 32;

/// Postings counted, at most, to tell a term's size.
const SIZE_PROBE: i64 = 10_000;

/// Where one query term's matches are: the posting lists to walk, and whether a posting
/// found there must be checked against the message's tsvector (when the lists hold more
/// than the term matches).
struct TermLists {
    keys: Vec<String>,
    recheck: Option<String>,
}

/// The lists of `term`: a prefix of up to three letters has its own list; a longer one is
/// the lists of the words it starts (found by skipping along the keys, one index descent
/// per word), or, when it starts more than [`PREFIX_WORDS_MAX`] words, its first three
/// letters' list checked message by message. A stem matches a word or a stem equal to it.
async fn term_lists(conn: &mut PgConnection, term: &QueryTerm) -> StoreResult<TermLists> {
    let mut lists = TermLists {
        keys: Vec::new(),
        recheck: None,
    };
    if term.word.chars().count() <= 3 {
        lists.keys.push(format!("p{}", term.word));
    } else {
        let words: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE d(term) AS ( \
               (SELECT term FROM search_postings WHERE term >= $1 ORDER BY term LIMIT 1) \
               UNION ALL \
               SELECT (SELECT p.term FROM search_postings p WHERE p.term > d.term ORDER BY p.term LIMIT 1) \
               FROM d WHERE starts_with(d.term, $1) \
             ) SELECT term FROM d WHERE starts_with(term, $1) LIMIT $2",
        )
        .bind(format!("w{}", term.word))
        .bind(PREFIX_WORDS_MAX as i64 + 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        if words.len() > PREFIX_WORDS_MAX {
            let first: String = term.word.chars().take(3).collect();
            lists.keys.push(format!("p{first}"));
            lists.recheck = Some(term_tsquery(term));
        } else {
            lists.keys.extend(words);
        }
    }
    for stem in &term.stems {
        for key in [format!("w{stem}"), format!("s{stem}")] {
            if !lists.keys.contains(&key) {
                lists.keys.push(key);
            }
        }
    }
    Ok(lists)
}

/// How many postings `keys` hold, counted up to [`SIZE_PROBE`].
async fn size(conn: &mut PgConnection, keys: &[String]) -> StoreResult<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM search_postings WHERE term = ANY($1) LIMIT $2) x",
    )
    .bind(keys)
    .bind(SIZE_PROBE)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)
}

/// What a message must be for the viewer to find it, on `m` (its row) with the
/// viewer's membership `mb`: `$1` the viewer, `$3`-`$7` the filters.
const READABLE: &str = "m.seq > COALESCE(mb.cleared_seq, 0) AND NOT m.deleted \
    AND ($3::text IS NULL OR m.conversation_id = $3) \
    AND ($4::text IS NULL OR m.sender_user_id = $4) \
    AND ($5::bigint IS NULL OR m.created_at >= $5) \
    AND ($6::bigint IS NULL OR m.created_at < $6) \
    AND ($7::boolean IS NULL OR EXISTS (SELECT 1 FROM message_attachments ma WHERE ma.message_id = m.id) = $7) \
    AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1 AND h.message_id = m.id)";

/// See `MessageStore::search_messages`. The ids and the messages are read in one
/// snapshot, so a message deleted meanwhile is in neither.
///
/// The window (the newest [`hilo_store::SEARCH_WINDOW`] matches the viewer may read) comes
/// from a walk of the smallest term's posting lists, newest first, by index-only scans
/// that keep the viewer's conversations and check each survivor's message and the other
/// terms' lists one lookup each;
/// only the window is ranked. A search inside one conversation smaller than the term's
/// lists walks that conversation's messages instead. Costs are in docs/benchmarks.md.
pub(crate) async fn search(pool: &Pool, search: &MessageSearch) -> StoreResult<SearchPage> {
    // Plans are made for each query's values (so the viewer's conversations are a hashed
    // list) until the window is read. JIT stays off: the walk's estimated cost can pass
    // jit_above_cost, and compiling took 20 ms of a query that runs in 10.
    let mut tx = crate::begin(
        pool,
        Some(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off",
        ),
    )
    .await
    .map_err(db_error)?;
    // The viewer's conversations by number, with their sizes (one, with a conversation
    // filter: its size decides how to walk it).
    let conversations: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT c.num, c.last_seq FROM members mb JOIN conversations c ON c.id = mb.conversation_id \
         WHERE mb.user_id = $1 AND mb.left_at IS NULL AND ($2::text IS NULL OR c.id = $2)",
    )
    .bind(search.viewer.as_str())
    .bind(search.conversation.as_ref().map(|c| c.as_str()))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let mut terms = Vec::with_capacity(search.query.terms.len());
    if !conversations.is_empty() {
        for term in &search.query.terms {
            terms.push(term_lists(&mut tx, term).await?);
        }
    }
    // Nothing to read, or a term with no list (a prefix no word starts, without stems):
    // nothing matches.
    if conversations.is_empty() || terms.iter().any(|term| term.keys.is_empty()) {
        tx.commit().await.map_err(db_error)?;
        return Ok(SearchPage {
            messages: Vec::new(),
            has_more: false,
        });
    }
    let numbers: Vec<i32> = conversations.iter().map(|(number, _)| *number).collect();
    // The walk starts from the smallest term (a list checked message by message counts
    // as large); one term needs no counting, unless a conversation's size is to be
    // compared with it.
    let mut driver = 0;
    let mut driver_size = i64::MAX;
    if terms.len() > 1 || search.conversation.is_some() {
        for (i, term) in terms.iter().enumerate() {
            let size = match term.recheck {
                Some(_) => SIZE_PROBE,
                None => size(&mut tx, &term.keys).await?,
            };
            if size < driver_size {
                (driver, driver_size) = (i, size);
            }
        }
    }
    let in_conversation =
        search.conversation.is_some() && conversations.iter().all(|(_, size)| *size < driver_size);
    let window = if in_conversation {
        format!(
            "SELECT m.search_n AS n FROM messages m \
             JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = $1 AND mb.left_at IS NULL \
             WHERE m.conversation_id = $3 AND m.search @@ $11::tsquery AND {READABLE} \
             ORDER BY m.seq DESC LIMIT $8"
        )
    } else {
        // The driver's lists are merged newest first (one index-only scan each, read only
        // as far as the merge needs), repeats dropped, and only then is each posting
        // checked: its message and membership, and the other terms' lists. Every check is
        // a subquery with a LIMIT, so the planner cannot turn one into a join that reads
        // a whole list, and OFFSET 0 keeps the checks above the merge.
        let mut checks = String::new();
        let mut next = 14;
        for (i, term) in terms.iter().enumerate() {
            if i == driver {
                continue;
            }
            checks.push_str(&format!(
                " AND (SELECT 1 FROM search_postings q WHERE q.term = ANY(${next}) AND q.n = d.n LIMIT 1) IS NOT NULL"
            ));
            next += 1;
            if term.recheck.is_some() {
                checks.push_str(&format!(" AND m.search @@ ${next}::tsquery"));
                next += 1;
            }
        }
        let lists = (1..=terms[driver].keys.len())
            .map(|i| {
                format!(
                    "(SELECT p.n FROM search_postings p WHERE p.term = ($12::text[])[{i}] \
                     AND p.conversation = ANY($2) ORDER BY p.n DESC)"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        format!(
            "SELECT d.n FROM (SELECT DISTINCT b.n FROM ({lists}) b ORDER BY b.n DESC OFFSET 0) d \
             WHERE (SELECT 1 FROM messages m \
                    JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id = $1 AND mb.left_at IS NULL \
                    WHERE m.search_n = d.n AND ($13::tsquery IS NULL OR m.search @@ $13::tsquery) AND {READABLE}{checks} LIMIT 1) IS NOT NULL \
             ORDER BY d.n DESC LIMIT $8"
        )
    };
    let sql = format!(
        "WITH w AS ({window}) SELECT m.id FROM w JOIN messages m ON m.search_n = w.n \
         ORDER BY ts_rank(m.search, $11::tsquery) DESC, m.created_at DESC, m.id DESC LIMIT $9 OFFSET $10"
    );
    // Only placeholders are spliced in: every value is bound.
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(search.viewer.as_str())
        .bind(&numbers)
        .bind(search.conversation.as_ref().map(|c| c.as_str()))
        .bind(search.sender.as_ref().map(|s| s.as_str()))
        .bind(search.since.map(|t| t.millis()))
        .bind(search.until.map(|t| t.millis()))
        .bind(search.has_attachment)
        .bind(hilo_store::SEARCH_WINDOW)
        .bind(search.limit + 1)
        .bind(search.offset)
        .bind(tsquery(&search.query))
        .bind(&terms[driver].keys)
        .bind(terms[driver].recheck.as_deref());
    if !in_conversation {
        for (i, term) in terms.iter().enumerate() {
            if i == driver {
                continue;
            }
            query = query.bind(&term.keys);
            if let Some(recheck) = &term.recheck {
                query = query.bind(recheck);
            }
        }
    }
    let ids: Vec<String> = query.fetch_all(&mut *tx).await.map_err(db_error)?;
    // The messages are read by the statements every read uses, planned once.
    sqlx::raw_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let has_more = ids.len() as i64 > search.limit;
    let page: Vec<&str> = ids
        .iter()
        .take(search.limit as usize)
        .map(String::as_str)
        .collect();
    let mut found = messages_by_id(&mut tx, &page).await?;
    tx.commit().await.map_err(db_error)?;
    // In the ranked order.
    let mut messages: Vec<Message> = Vec::with_capacity(found.len());
    for id in page {
        if let Some(at) = found.iter().position(|m| m.id.as_str() == id) {
            messages.push(found.swap_remove(at));
        }
    }
    Ok(SearchPage { messages, has_more })
}

/// Indexes up to `batch` messages written before the index existed, in one transaction;
/// how many it did.
pub(crate) async fn drain_backlog(pool: &Pool, batch: i64) -> StoreResult<usize> {
    let mut tx = crate::begin(pool, None).await.map_err(db_error)?;
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
        // An edit since the text was read wrote its own vector: keep it.
        sqlx::query("UPDATE messages SET search = $1::tsvector WHERE id = $2 AND NOT deleted AND text IS NOT DISTINCT FROM $3")
            .bind(vector)
            .bind(id.as_str())
            .bind(text)
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
