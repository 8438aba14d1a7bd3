//! Message search (issue 7): what matches, what each caller may find, and the index
//! following every send, edit and delete, on both backends.

use serde_json::{Value, json};

use super::support::{Backend, StatusCode, TestDb, TestServer, User};

/// `GET /api/v1/search/messages` with `params`, URL-encoded.
async fn search(server: &TestServer, user: &User, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut url = reqwest::Url::parse("http://hilo/api/v1/search/messages").expect("a URL");
    url.query_pairs_mut().extend_pairs(params);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    server.get(&path, user).await
}

/// The texts of the hits for `q`, in order.
async fn found(server: &TestServer, user: &User, q: &str) -> Vec<String> {
    found_with(server, user, &[("q", q)]).await
}

async fn found_with(server: &TestServer, user: &User, params: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = search(server, user, params).await;
    assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    texts(&body)
}

/// The texts of the hits for `q` in `conversation`, sent by `sender` if given.
async fn found_in(
    server: &TestServer,
    user: &User,
    q: &str,
    conversation: &str,
    sender: Option<&str>,
) -> Vec<String> {
    let mut params = vec![("q", q), ("conversation_id", conversation)];
    params.extend(sender.map(|s| ("sender", s)));
    found_with(server, user, &params).await
}

fn texts(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|hit| {
            hit["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// On PostgreSQL, the posting lists hold exactly the keys of every message's tsvector:
/// nothing left behind by an edit or a delete, nothing missing after a send or a backlog.
async fn assert_postings_match(db: &TestDb) {
    if !matches!(db.backend(), Backend::Postgres) {
        return;
    }
    let stray = db
        .text(
            "SELECT COUNT(*)::text FROM ( \
               (SELECT term, n, conversation FROM search_postings \
                EXCEPT SELECT k, m.search_n, c.num FROM messages m \
                JOIN conversations c ON c.id = m.conversation_id, unnest(hilo_search_keys(m.search)) k) \
               UNION ALL \
               (SELECT k, m.search_n, c.num FROM messages m \
                JOIN conversations c ON c.id = m.conversation_id, unnest(hilo_search_keys(m.search)) k \
                EXCEPT SELECT term, n, conversation FROM search_postings)) x",
        )
        .await;
    assert_eq!(stray, "0", "postings that differ from the messages' terms");
}

/// ana and bob, friends, with a direct conversation.
async fn pair(server: &TestServer) -> (User, User, String) {
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    server.make_friends(&ana, &bob).await;
    let id = server.direct(&ana, &bob).await;
    (ana, bob, id)
}

#[tokio::test]
async fn search_ignores_case_and_accents_and_finds_word_forms_and_prefixes() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    for (i, text) in [
        "¿Viste la publicación de Marta?",
        "Un CAFÉ y nos vemos",
        "Te mandé dos mensajes",
        "Ya reservamos la mesa",
        "nada que ver",
    ]
    .iter()
    .enumerate()
    {
        server.send(&ana, &id, &format!("t{i}"), text).await;
    }

    assert_eq!(
        found(&server, &bob, "publicacion").await,
        ["¿Viste la publicación de Marta?"]
    );
    assert_eq!(
        found(&server, &bob, "PUBLICACIÓN").await,
        ["¿Viste la publicación de Marta?"]
    );
    assert_eq!(found(&server, &bob, "cafe").await, ["Un CAFÉ y nos vemos"]);
    assert_eq!(found(&server, &ana, "Café").await, ["Un CAFÉ y nos vemos"]);
    assert_eq!(
        found(&server, &bob, "mensaje").await,
        ["Te mandé dos mensajes"]
    );
    assert_eq!(
        found(&server, &bob, "reserv").await,
        ["Ya reservamos la mesa"]
    );
    // Short prefixes (PostgreSQL keeps a list for each of up to three letters).
    assert_eq!(found(&server, &bob, "caf").await, ["Un CAFÉ y nos vemos"]);
    assert_eq!(
        found(&server, &bob, "pu").await,
        ["¿Viste la publicación de Marta?"]
    );
    let mut m = found(&server, &bob, "M").await;
    m.sort();
    assert_eq!(
        m,
        [
            "Te mandé dos mensajes",
            "Ya reservamos la mesa",
            "¿Viste la publicación de Marta?"
        ]
    );
    // Every word must match, in any order.
    assert_eq!(
        found(&server, &bob, "mesa reservamos").await,
        ["Ya reservamos la mesa"]
    );
    assert!(found(&server, &bob, "mesa café").await.is_empty());
    // Query syntax is not syntax: quotes, stars and operators are plain punctuation.
    assert_eq!(
        found(&server, &bob, "\"cafe\" OR* -x NEAR(").await,
        Vec::<String>::new()
    );
    assert_eq!(
        found(&server, &bob, "\"cafe\"*").await,
        ["Un CAFÉ y nos vemos"]
    );

    let (_, body) = search(&server, &bob, &[("q", "publicacion")]).await;
    let hit = &body["results"][0];
    assert_eq!(
        hit["highlight"],
        "¿Viste la <mark>publicación</mark> de Marta?"
    );
    assert_eq!(hit["message"]["conversation_id"], id.as_str());
    assert_eq!(hit["message"]["sender"]["username"], "ana");
    assert!(body["next_cursor"].is_null(), "{body}");
}

#[tokio::test]
async fn nobody_finds_what_they_may_not_read() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    let eve = server.register("eve").await;
    let dan = server.register("dan").await;
    server
        .send(&ana, &id, "t1", "el código secreto es 1234")
        .await;
    let group = server.group(&ana, "Equipo", &[&bob, &dan]).await;
    server.send(&ana, &group, "t2", "secreto del equipo").await;

    // An outsider: no hits, and naming the conversation is the same as it not existing.
    assert!(found(&server, &eve, "secreto").await.is_empty());
    let (status, body) = search(
        &server,
        &eve,
        &[("q", "secreto"), ("conversation_id", id.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "conversation_not_found");

    // A member who left finds nothing of the group, before or after leaving.
    assert_eq!(
        found(&server, &dan, "secreto").await,
        ["secreto del equipo"]
    );
    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{group}/members/dan"), &dan)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    server.send(&ana, &group, "t3", "otro secreto").await;
    assert!(found(&server, &dan, "secreto").await.is_empty());

    // The members still find both.
    let mut seen = found(&server, &bob, "secreto").await;
    seen.sort();
    assert_eq!(
        seen,
        [
            "el código secreto es 1234",
            "otro secreto",
            "secreto del equipo"
        ]
    );
}

#[tokio::test]
async fn the_index_follows_edits_and_every_kind_of_delete_at_once() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    let first = server.send(&ana, &id, "t1", "quedamos en la plaza").await;
    let first_id = first["id"].as_str().expect("an id").to_owned();

    // An edit: the old words stop matching, the new ones match, in the same request.
    let (status, _) = server
        .patch(
            &format!("/api/v1/messages/{first_id}"),
            &ana,
            json!({"text": "quedamos en el parque"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(found(&server, &bob, "plaza").await.is_empty());
    assert_eq!(
        found(&server, &bob, "parque").await,
        ["quedamos en el parque"]
    );

    // Delete for me: gone for bob only.
    let (status, _) = server
        .delete(&format!("/api/v1/messages/{first_id}?scope=me"), &bob)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(found(&server, &bob, "parque").await.is_empty());
    assert_eq!(
        found(&server, &ana, "parque").await,
        ["quedamos en el parque"]
    );

    // Delete for everyone: gone for all.
    let second = server.send(&ana, &id, "t2", "la contraseña del wifi").await;
    let second_id = second["id"].as_str().expect("an id").to_owned();
    assert_eq!(found(&server, &bob, "contraseña").await.len(), 1);
    let (status, _) = server
        .delete(
            &format!("/api/v1/messages/{second_id}?scope=everyone"),
            &ana,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(found(&server, &bob, "contrasena").await.is_empty());
    assert!(found(&server, &ana, "contrasena").await.is_empty());

    // Deleting the conversation for oneself hides everything so far; later messages show.
    server.send(&bob, &id, "t3", "una cena el viernes").await;
    let (status, _) = server
        .delete(&format!("/api/v1/conversations/{id}"), &bob)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(found(&server, &bob, "cena").await.is_empty());
    assert_eq!(found(&server, &ana, "cena").await, ["una cena el viernes"]);
    // Searching in it by name: gone for him, as for a conversation that does not exist.
    let (status, body) = search(
        &server,
        &bob,
        &[("q", "cena"), ("conversation_id", id.as_str())],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("conversation_not_found")),
        "{body}"
    );
    server.send(&ana, &id, "t4", "otra cena el sábado").await;
    assert_eq!(found(&server, &bob, "cena").await, ["otra cena el sábado"]);
    assert_postings_match(&server.db).await;
}

#[tokio::test]
async fn filters_narrow_the_results() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    let group = server.group(&ana, "Viaje", &[&bob]).await;
    server.send(&ana, &id, "t1", "billete de tren").await;
    server.send(&bob, &group, "t2", "billete de avión").await;
    let (status, file) = server
        .upload(
            Some(&ana.token),
            "billetes.txt",
            "text/plain",
            b"ida y vuelta".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let (status, with_file) = server
        .post(
            &format!("/api/v1/conversations/{group}/messages"),
            &ana,
            json!({"client_txn_id": "t3", "text": "adjunto el billete", "attachment_ids": [file["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_file}");

    let in_group = found_with(
        &server,
        &ana,
        &[("q", "billete"), ("conversation_id", group.as_str())],
    )
    .await;
    assert_eq!(in_group.len(), 2, "{in_group:?}");
    assert!(in_group.iter().all(|t| t != "billete de tren"));
    assert_eq!(
        found_with(&server, &ana, &[("q", "billete"), ("sender", "bob")]).await,
        ["billete de avión"]
    );
    assert!(
        found_with(&server, &ana, &[("q", "billete"), ("sender", "nobody")])
            .await
            .is_empty()
    );
    assert_eq!(
        found_with(
            &server,
            &ana,
            &[("q", "billete"), ("has_attachment", "true")]
        )
        .await,
        ["adjunto el billete"]
    );
    assert_eq!(
        found_with(
            &server,
            &ana,
            &[("q", "billete"), ("has_attachment", "false")]
        )
        .await
        .len(),
        2
    );
    // The attachment's name is searchable too; the highlight shows where it matched.
    let (_, body) = search(&server, &bob, &[("q", "billetes")]).await;
    let by_name: Vec<&Value> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|hit| hit["message"]["text"] == "adjunto el billete")
        .collect();
    assert_eq!(by_name.len(), 1, "{body}");
    let (_, body) = search(&server, &bob, &[("q", "txt")]).await;
    assert_eq!(body["results"][0]["highlight"], "billetes.<mark>txt</mark>");

    // Dates: everything is after the epoch and before the far future; nothing is after.
    assert_eq!(
        found_with(
            &server,
            &ana,
            &[
                ("q", "billete"),
                ("after", "2000-01-01T00:00:00Z"),
                ("before", "2999-01-01T00:00:00Z")
            ]
        )
        .await
        .len(),
        3
    );
    assert!(
        found_with(
            &server,
            &ana,
            &[("q", "billete"), ("after", "2999-01-01T00:00:00Z")]
        )
        .await
        .is_empty()
    );
    assert!(
        found_with(
            &server,
            &ana,
            &[("q", "billete"), ("before", "2000-01-01T00:00:00+02:00")]
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn results_rank_by_relevance_then_recency_and_page_without_repeats() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    for i in 0..7 {
        server
            .send(&ana, &id, &format!("t{i}"), &format!("pizza número {i}"))
            .await;
    }
    // A message that is nothing but the word outranks the longer ones.
    server.send(&bob, &id, "t-best", "pizza pizza").await;

    let (status, first) = search(&server, &bob, &[("q", "pizza"), ("limit", "3")]).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        texts(&first),
        ["pizza pizza", "pizza número 6", "pizza número 5"]
    );
    let mut all = texts(&first);
    let mut cursor = first["next_cursor"].as_str().expect("more").to_owned();
    loop {
        let (status, page) = search(
            &server,
            &bob,
            &[("q", "pizza"), ("limit", "3"), ("cursor", cursor.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        all.extend(texts(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..7).rev().map(|i| format!("pizza número {i}")).collect();
    expected.insert(0, "pizza pizza".to_owned());
    assert_eq!(all, expected);
}

#[tokio::test]
async fn bad_searches_are_refused_clearly() {
    let server = TestServer::start().await;
    let (ana, _bob, _id) = pair(&server).await;
    let long = "a".repeat(257);
    let thirteen = "a b c d e f g h i j k l m";
    for (params, code) in [
        (vec![], "invalid_query"),
        (vec![("q", "")], "invalid_query"),
        (vec![("q", "¿?¡! ...")], "invalid_query"),
        (vec![("q", long.as_str())], "invalid_query"),
        (vec![("q", thirteen)], "invalid_query"),
        (vec![("q", "x"), ("limit", "0")], "invalid_limit"),
        (vec![("q", "x"), ("limit", "51")], "invalid_limit"),
        (vec![("q", "x"), ("cursor", "abc")], "invalid_cursor"),
        (vec![("q", "x"), ("cursor", "-5")], "invalid_cursor"),
        (vec![("q", "x"), ("cursor", "1000")], "invalid_cursor"),
        (vec![("q", "x"), ("after", "yesterday")], "invalid_field"),
        (
            vec![
                ("q", "x"),
                ("after", "2026-02-01T00:00:00Z"),
                ("before", "2026-01-01T00:00:00Z"),
            ],
            "invalid_field",
        ),
        (
            vec![("q", "x"), ("sender", "no spaces allowed")],
            "invalid_username",
        ),
        (vec![("q", "x"), ("has_attachment", "maybe")], ""),
    ] {
        let (status, body) = search(&server, &ana, &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {body}");
        if !code.is_empty() {
            assert_eq!(body["error"]["code"], code, "{params:?}: {body}");
        }
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let (status, _) = server
        .call("GET", "/api/v1/search/messages?q=hola", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn messages_from_before_the_index_are_indexed_when_the_server_starts() {
    let db = TestDb::new().await;
    let mut server = TestServer::start_on(&db, |_| {}).await;
    let (ana, bob, id) = pair(&server).await;
    server.send(&ana, &id, "t1", "mensaje antiguo").await;
    server.stop().await;
    // As a database from schema 9 would be: no index entries, everything in the backlog.
    match db.backend() {
        Backend::Sqlite => {
            db.execute("DELETE FROM message_search").await;
            db.execute("DELETE FROM message_search_entries").await;
        }
        Backend::Postgres => {
            db.execute("UPDATE messages SET search = NULL").await;
            db.execute("DELETE FROM search_postings").await;
        }
    }
    db.execute("INSERT INTO search_backlog (message_id) SELECT id FROM messages")
        .await;

    let server = TestServer::start_on(&db, |_| {}).await;
    assert_eq!(found(&server, &bob, "antiguos").await, ["mensaje antiguo"]);
    assert_eq!(db.count("search_backlog").await, 0);
    assert_postings_match(&db).await;
}

#[tokio::test]
async fn a_prefix_of_many_words_finds_exactly_the_words_it_starts() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    // 40 words that start with "reserva" (more than PostgreSQL follows word by word, so
    // there it walks "res" and checks each message), and words that share only "res".
    let letters = "abcdefghij";
    let mut sent = Vec::new();
    for (i, first) in letters.chars().take(4).enumerate() {
        for (j, second) in letters.chars().enumerate() {
            let text = format!("reserva{first}{second} número {i}{j}");
            server.send(&ana, &id, &format!("r{i}{j}"), &text).await;
            sent.push(text);
        }
    }
    server.send(&ana, &id, "x1", "el resto del día").await;
    server.send(&ana, &id, "x2", "resumen de la mesa").await;
    server
        .send(&ana, &id, "x3", "reservaba la mesa del viernes")
        .await;

    let mut hits = found_with(&server, &bob, &[("q", "reserva"), ("limit", "50")]).await;
    hits.sort();
    let mut expected = sent.clone();
    expected.push("reservaba la mesa del viernes".to_owned());
    expected.sort();
    assert_eq!(hits, expected);
    // Two terms, one of them that long prefix: both must match.
    assert_eq!(
        found(&server, &bob, "mesa reserva").await,
        ["reservaba la mesa del viernes"]
    );
    assert_eq!(found(&server, &bob, "resum").await, ["resumen de la mesa"]);
    let mut mesa = found(&server, &bob, "mesa").await;
    mesa.sort();
    assert_eq!(
        mesa,
        ["reservaba la mesa del viernes", "resumen de la mesa"]
    );
    assert!(found(&server, &bob, "reservaz").await.is_empty());
    assert_postings_match(&server.db).await;
}

#[tokio::test]
async fn a_search_in_one_conversation_finds_the_same_from_either_end() {
    let server = TestServer::start().await;
    let (ana, bob, id) = pair(&server).await;
    let group = server.group(&ana, "Piedras", &[&bob]).await;
    // The direct conversation is long and "zafiro" rare in it; the group is short and
    // "charla" common elsewhere. PostgreSQL walks the word's list for the first and the
    // conversation's messages for the second: the answers must not tell which.
    for i in 0..30 {
        server
            .send(&ana, &id, &format!("c{i}"), &format!("charla número {i}"))
            .await;
    }
    server.send(&bob, &id, "z1", "un zafiro azul").await;
    server.send(&ana, &id, "z2", "otro zafiro").await;
    for i in 0..4 {
        server
            .send(
                &ana,
                &group,
                &format!("g{i}"),
                &format!("zafiro del grupo {i}"),
            )
            .await;
    }
    server.send(&bob, &group, "g9", "charla en el grupo").await;

    let mut zafiros = found_in(&server, &bob, "zafiro", &id, None).await;
    zafiros.sort();
    assert_eq!(zafiros, ["otro zafiro", "un zafiro azul"]);
    assert_eq!(
        found_in(&server, &bob, "zafiro", &id, Some("bob")).await,
        ["un zafiro azul"]
    );
    assert_eq!(
        found_in(&server, &bob, "charla", &group, None).await,
        ["charla en el grupo"]
    );
    assert!(
        found_in(&server, &bob, "charla", &group, Some("ana"))
            .await
            .is_empty()
    );

    // A deletion "for me" hides what came before it on either path.
    for conversation in [&id, &group] {
        let (status, _) = server
            .delete(&format!("/api/v1/conversations/{conversation}"), &bob)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    server.send(&ana, &id, "z3", "zafiro nuevo").await;
    server.send(&ana, &group, "g10", "charla nueva").await;
    assert_eq!(
        found_in(&server, &bob, "zafiro", &id, None).await,
        ["zafiro nuevo"]
    );
    assert_eq!(
        found_in(&server, &bob, "charla", &group, None).await,
        ["charla nueva"]
    );
    // ana deleted nothing.
    assert_eq!(
        found_in(&server, &ana, "charla", &group, None).await.len(),
        2
    );
}

/// PostgreSQL's schema 16 numbers the messages already there in time order and writes
/// their postings; new messages come after them.
#[tokio::test]
async fn a_postgres_store_from_before_the_postings_gets_them_when_it_opens() {
    let db = TestDb::new().await;
    if !matches!(db.backend(), Backend::Postgres) {
        return;
    }
    let mut server = TestServer::start_on(&db, |_| {}).await;
    let (ana, bob, id) = pair(&server).await;
    server.send(&ana, &id, "t1", "la primera cita").await;
    server.send(&bob, &id, "t2", "la segunda cita").await;
    server.stop().await;
    // Back to schema 15.
    for statement in [
        "DROP TRIGGER messages_search_postings ON messages",
        "DROP FUNCTION hilo_search_post()",
        "DROP TABLE search_postings",
        "DROP FUNCTION hilo_search_keys(tsvector)",
        "ALTER TABLE messages DROP COLUMN search_n",
        "ALTER TABLE conversations DROP COLUMN num",
        "CREATE INDEX messages_search ON messages USING gin (search)",
        "DELETE FROM _sqlx_migrations WHERE version = 16",
    ] {
        db.execute(statement).await;
    }

    let server = TestServer::start_on(&db, |_| {}).await;
    assert_postings_match(&db).await;
    // Found, newest first at equal relevance, and still after a new message.
    assert_eq!(
        found(&server, &bob, "cita").await,
        ["la segunda cita", "la primera cita"]
    );
    server.send(&ana, &id, "t3", "la tercera cita").await;
    assert_eq!(
        found(&server, &bob, "cita").await,
        ["la tercera cita", "la segunda cita", "la primera cita"]
    );
    assert_postings_match(&db).await;
}
