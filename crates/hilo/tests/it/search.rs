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
        Backend::Postgres => db.execute("UPDATE messages SET search = NULL").await,
    }
    db.execute("INSERT INTO search_backlog (message_id) SELECT id FROM messages")
        .await;

    let server = TestServer::start_on(&db, |_| {}).await;
    assert_eq!(found(&server, &bob, "antiguos").await, ["mensaje antiguo"]);
    assert_eq!(db.count("search_backlog").await, 0);
}
