//! Server endpoints: health, OpenAPI, metrics.

use std::collections::BTreeSet;

use serde_json::Value;

use super::support::{StatusCode, TestServer};

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let (status, body) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let server = TestServer::start().await;
    let (status, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /healthz",
        "GET /api/v1/openapi.json",
        "GET /metrics",
        "POST /api/v1/accounts",
        "POST /api/v1/sessions",
        "GET /api/v1/sessions",
        "DELETE /api/v1/sessions/{id}",
        "POST /api/v1/admin/invites",
        "POST /api/v1/reports",
        "GET /api/v1/admin/reports",
        "POST /api/v1/admin/reports/{id}/resolve",
        "GET /api/v1/me",
        "PATCH /api/v1/me",
        "GET /api/v1/users/{username}",
        "GET /api/v1/users",
        "GET /api/v1/search/messages",
        "POST /api/v1/friends",
        "GET /api/v1/friends",
        "GET /api/v1/friends/requests",
        "DELETE /api/v1/friends/{username}",
        "GET /api/v1/messages/{id}/original",
        "GET /api/v1/me/emails",
        "POST /api/v1/me/emails",
        "POST /api/v1/me/emails/{address}/verify",
        "PATCH /api/v1/me/emails/{address}",
        "DELETE /api/v1/me/emails/{address}",
        "POST /api/v1/me/emails/verify",
        "GET /api/v1/me/phones",
        "POST /api/v1/me/phones",
        "POST /api/v1/me/phones/verify",
        "DELETE /api/v1/me/phones/{number}",
        "POST /api/v1/sms/{provider_id}/inbound",
        "POST /api/v1/sms/{provider_id}/status",
        "PUT /api/v1/blocks/{username}",
        "DELETE /api/v1/blocks/{username}",
        "GET /api/v1/blocks",
        "POST /api/v1/conversations",
        "GET /api/v1/conversations",
        "GET /api/v1/conversations/{id}",
        "PATCH /api/v1/conversations/{id}",
        "POST /api/v1/conversations/{id}/members",
        "DELETE /api/v1/conversations/{id}/members/{username}",
        "PATCH /api/v1/conversations/{id}/settings",
        "POST /api/v1/conversations/{id}/read",
        "GET /api/v1/conversations/{id}/receipts",
        "POST /api/v1/conversations/{id}/typing",
        "POST /api/v1/conversations/{id}/accept",
        "POST /api/v1/conversations/{id}/decline",
        "POST /api/v1/conversations/{id}/spam",
        "POST /api/v1/conversations/{id}/not_spam",
        "DELETE /api/v1/conversations/{id}",
        "POST /api/v1/conversations/{id}/messages",
        "GET /api/v1/conversations/{id}/messages",
        "GET /api/v1/messages/{id}",
        "PATCH /api/v1/messages/{id}",
        "DELETE /api/v1/messages/{id}",
        "GET /api/v1/messages/{id}/versions",
        "PUT /api/v1/messages/{id}/reactions/{emoji}",
        "DELETE /api/v1/messages/{id}/reactions/{emoji}",
        "POST /api/v1/messages/{id}/forward",
        "GET /api/v1/events",
        "POST /api/v1/attachments",
        "GET /api/v1/attachments/{id}",
        "GET /api/v1/attachments/{id}/thumbnail",
        "GET /api/v1/me/2fa",
        "POST /api/v1/me/2fa",
        "DELETE /api/v1/me/2fa",
        "POST /api/v1/me/2fa/confirm",
        "POST /api/v1/me/password",
        "GET /api/v1/me/audit",
        "GET /api/v1/me/export",
        "GET /api/v1/admin/audit",
        "GET /api/v1/admin/users",
        "POST /api/v1/admin/users/{username}/suspend",
        "POST /api/v1/admin/users/{username}/unsuspend",
        "POST /api/v1/admin/users/{username}/logout",
        "DELETE /api/v1/admin/users/{username}",
        "DELETE /api/v1/me",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(
        documented, expected,
        "the spec and the route table are the same list"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    // Every reference resolves: a dangling one makes clients and fuzzers skip that part.
    let mut references = Vec::new();
    collect_refs(&doc, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a reference outside the schemas: {reference}"));
        assert!(schemas.contains_key(name), "dangling reference {reference}");
    }
    for name in [
        "MessageDto",
        "ConversationDto",
        "ErrorBody",
        "Event",
        "MeDto",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    let send = &doc["paths"]["/api/v1/conversations/{id}/messages"]["post"];
    assert!(
        send["responses"]["201"].is_object() && send["requestBody"].is_object(),
        "{send}"
    );
}

#[tokio::test]
async fn metrics_count_requests_messages_and_commits() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let id = server.direct(&ana, &bob).await;
    server.send(&ana, &id, "t1", "hi").await;
    let mut ws = server.ws(&bob, None).await;
    super::support::next_json(&mut ws).await;
    let (status, text) = server.raw("GET", "/metrics", None, None, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let Value::String(text) = text else {
        panic!("metrics are text")
    };
    assert!(text.contains("hilo_http_requests_total{route=\"/api/v1/conversations/{id}/messages\",method=\"POST\",status=\"201\"} 1"), "{text}");
    assert!(
        text.contains("hilo_http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(text.contains("hilo_messages_stored_total 1"), "{text}");
    assert!(text.contains("hilo_event_streams_open 1"), "{text}");
    assert!(
        text.contains("hilo_store_commit_batch_size_count"),
        "{text}"
    );
    assert!(text.contains("hilo_store_write_queue_depth"), "{text}");
}

/// Every request body type of the OpenAPI document is decoded by the `request_bodies` fuzz
/// target (`hilo_proto::decode_every_request`): a new one fails here until it is added.
#[tokio::test]
async fn every_request_body_type_is_fuzzed() {
    let server = TestServer::start().await;
    let (_, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
    let mut bodies = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(reference) = schema["$ref"].as_str() {
                let name = reference.rsplit('/').next().expect("a name");
                bodies.insert(name.to_owned());
            } else {
                assert!(schema.is_null(), "an inline request schema: {operation}");
            }
        }
    }
    let fuzzed: BTreeSet<String> = hilo_proto::REQUEST_TYPES
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    assert_eq!(bodies, fuzzed);
}

/// The document is exact enough for schemathesis (`fuzz/openapi/run`) to hold the server to
/// it: parameters sit where the server reads them, and every operation lists the answers
/// its shared extractors give, each with the error shape.
#[tokio::test]
async fn openapi_parameters_and_shared_answers_are_what_the_server_does() {
    let server = TestServer::start().await;
    let (_, doc) = server.call("GET", "/api/v1/openapi.json", None, None).await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let at = format!("{} {path}", method.to_uppercase());
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for param in &params {
                let name = param["name"].as_str().expect("a name");
                // Headers the API reads are named as HTTP names them (`Range`).
                let place = if path.contains(&format!("{{{name}}}")) {
                    "path"
                } else if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    "header"
                } else {
                    "query"
                };
                assert_eq!(param["in"], place, "{at}: parameter {name}");
            }
            let answers = &operation["responses"];
            let mut shared = Vec::new();
            if operation["requestBody"].is_object() {
                shared.extend(["400", "413", "415"]);
            }
            if !params.is_empty() {
                shared.push("400");
            }
            if operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                shared.push("401");
            }
            if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
                shared.push("503");
            }
            for status in shared {
                assert_eq!(
                    answers[status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{at} answers {status} with the error shape"
                );
            }
            for (status, answer) in answers.as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        answer["content"]["application/json"].is_object(),
                        "{at}: {status} has a JSON body"
                    );
                }
            }
        }
    }
    let limit = &doc["paths"]["/api/v1/conversations"]["get"]["parameters"][2];
    assert_eq!(
        (
            &limit["name"],
            &limit["schema"]["minimum"],
            &limit["schema"]["maximum"]
        ),
        (&Value::from("limit"), &Value::from(1), &Value::from(200))
    );
}

/// Every `$ref` in a JSON document.
fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner.as_str()) {
                    ("$ref", Some(reference)) => out.push(reference.to_owned()),
                    _ => collect_refs(inner, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}
