//! Attachments (issue 6): uploads streamed to the object store with their type sniffed,
//! pictures stripped of metadata and thumbnailed, downloads with ranges and safe headers
//! for the uploader and members only, limits, orphans swept, and an S3-compatible bucket.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{StatusCode, TestServer, User};

/// A JPEG of 800×600 pixels whose EXIF says "rotate 90° clockwise" and carries a GPS
/// position (latitude 40°25'), as a phone writes it.
fn photo_with_location() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&picture)
        .expect("encodes");
    // TIFF (little-endian): IFD0 with Orientation = 6 and a GPS IFD pointer; the GPS IFD
    // with GPSLatitudeRef = N and GPSLatitude = 40/1, 25/1, 0/1.
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut e = Vec::new();
        e.extend_from_slice(&tag.to_le_bytes());
        e.extend_from_slice(&kind.to_le_bytes());
        e.extend_from_slice(&count.to_le_bytes());
        e.extend_from_slice(&value.to_le_bytes());
        e
    };
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, 6));
    tiff.extend(entry(0x8825, 4, 1, 38));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")));
    tiff.extend(entry(0x0002, 5, 3, 68));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (numerator, denominator) in [(40u32, 1u32), (25, 1), (0, 1)] {
        tiff.extend_from_slice(&numerator.to_le_bytes());
        tiff.extend_from_slice(&denominator.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

async fn upload(
    server: &TestServer,
    user: &User,
    name: &str,
    declared: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    server
        .upload(Some(&user.token), name, declared, bytes)
        .await
}

/// GET with an optional Range header: status, headers and bytes.
async fn fetch(
    server: &TestServer,
    user: &User,
    path: &str,
    range: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(&user.token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.expect("answers");
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response.bytes().await.expect("a body").to_vec(),
    )
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The files under the data dir's attachment folder.
fn stored_files(server: &TestServer) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&server.db.data_dir().join("attachments"))
}

async fn send_with(
    server: &TestServer,
    user: &User,
    conversation: &str,
    txn: &str,
    ids: &[&str],
) -> (StatusCode, Value) {
    server
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            user,
            json!({"client_txn_id": txn, "attachment_ids": ids}),
        )
        .await
}

#[tokio::test]
async fn photos_lose_their_location_keep_their_orientation_and_get_a_thumbnail() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let photo = photo_with_location();
    assert!(contains(&photo, b"Exif\0\0"));
    // The declared type is ignored: the bytes say JPEG.
    let (status, body) = upload(&server, &ana, "../../playa.jpg", "text/plain", photo).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content_type"], "image/jpeg");
    assert_eq!(body["name"], "playa.jpg", "no path survives");
    assert_eq!(
        (body["width"].as_i64(), body["height"].as_i64()),
        (Some(600), Some(800)),
        "the EXIF rotation is applied to the pixels"
    );
    let id = body["id"].as_str().expect("id").to_owned();
    let (status, headers, bytes) =
        fetch(&server, &ana, &format!("/api/v1/attachments/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    assert_eq!(bytes.len() as i64, body["size"].as_i64().unwrap_or(-1));
    assert!(!contains(&bytes, b"Exif"), "no EXIF block is left");
    assert!(!contains(
        &bytes,
        &40u32
            .to_le_bytes()
            .iter()
            .chain(&1u32.to_le_bytes())
            .copied()
            .collect::<Vec<u8>>()
    ));
    let stored = image::load_from_memory(&bytes).expect("still a picture");
    assert_eq!((stored.width(), stored.height()), (600, 800));

    let (status, headers, thumb) = fetch(
        &server,
        &ana,
        body["thumbnail_url"].as_str().expect("a thumbnail"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "image/jpeg");
    let thumb = image::load_from_memory(&thumb).expect("a picture");
    assert_eq!(
        (thumb.width(), thumb.height()),
        (240, 320),
        "at most 320 px"
    );

    // Picture types hilo cannot clean are refused; a broken picture is refused.
    let tiff = b"II*\x00\x08\x00\x00\x00rest of a tiff".to_vec();
    let (status, body) = upload(&server, &ana, "scan.tif", "image/tiff", tiff).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_image")
        )
    );
    let broken = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[7u8; 64]].concat();
    let (status, body) = upload(&server, &ana, "rota.jpg", "image/jpeg", broken).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_image"))
    );
    assert_eq!(
        server.count("attachments").await,
        1,
        "nothing kept of the refused"
    );
    assert_eq!(stored_files(&server), 2, "the photo and its thumbnail only");
}

#[tokio::test]
async fn only_the_uploader_and_members_where_it_was_sent_can_download() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let cai = server.register("cai").await;
    let eve = server.register("eve").await;
    let direct = server.direct(&ana, &bob).await;
    let (_, file) = upload(
        &server,
        &ana,
        "notas.txt",
        "application/pdf",
        b"hola bob".to_vec(),
    )
    .await;
    assert_eq!(file["content_type"], "text/plain; charset=utf-8");
    let id = file["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/attachments/{id}");
    assert_eq!(fetch(&server, &ana, &path, None).await.0, StatusCode::OK);
    assert_eq!(
        fetch(&server, &bob, &path, None).await.0,
        StatusCode::NOT_FOUND,
        "not sent yet"
    );

    // Someone else's upload, a forged id, too many: refused, nothing sent.
    let (_, bobs) = upload(&server, &bob, "b.txt", "text/plain", b"de bob".to_vec()).await;
    let before = server.count("messages").await;
    for ids in [
        vec![bobs["id"].as_str().unwrap_or("")],
        vec!["forged"],
        vec![""],
    ] {
        let (status, body) = send_with(&server, &ana, &direct, "bad", &ids).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_attachment")),
            "{ids:?}"
        );
    }
    let eleven: Vec<&str> = std::iter::repeat_n(id.as_str(), 11).collect();
    let (status, _) = send_with(&server, &ana, &direct, "many", &eleven).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.count("messages").await, before);

    let (status, message) = send_with(&server, &ana, &direct, "t1", &[&id]).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["text"], Value::Null);
    assert_eq!(message["attachments"][0]["id"], id.as_str());
    assert_eq!(message["attachments"][0]["url"], path.as_str());
    let (status, _, bytes) = fetch(&server, &bob, &path, None).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"hola bob"[..])
    );
    assert_eq!(
        fetch(&server, &eve, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, page) = server
        .get(&format!("/api/v1/conversations/{direct}/messages"), &bob)
        .await;
    assert_eq!(page["messages"][0]["attachments"][0]["name"], "notas.txt");

    // A forward shares it without a new upload.
    let with_cai = server.direct(&bob, &cai).await;
    let (status, forwarded) = server
        .post(
            &format!(
                "/api/v1/messages/{}/forward",
                message["id"].as_str().unwrap_or("")
            ),
            &bob,
            json!({"conversation_id": with_cai, "client_txn_id": "f1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{forwarded}");
    assert_eq!(forwarded["attachments"][0]["id"], id.as_str());
    assert_eq!(fetch(&server, &cai, &path, None).await.0, StatusCode::OK);
    assert_eq!(server.count("attachments").await, 2, "no copy was made");

    // Delete for everyone: the original's members lose it (the forward keeps its copy).
    let (_, second) = upload(&server, &ana, "solo.txt", "text/plain", b"secreto".to_vec()).await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    let (_, carrier) = send_with(&server, &ana, &direct, "t2", &[&second_id]).await;
    let files_before = stored_files(&server);
    for message in [&message, &carrier] {
        let (status, _) = server
            .delete(
                &format!(
                    "/api/v1/messages/{}?scope=everyone",
                    message["id"].as_str().unwrap_or("")
                ),
                &ana,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let second_path = format!("/api/v1/attachments/{second_id}");
    for user in [&ana, &bob] {
        assert_eq!(
            fetch(&server, user, &second_path, None).await.0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        fetch(&server, &ana, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    for user in [&bob, &cai] {
        assert_eq!(
            fetch(&server, user, &path, None).await.0,
            StatusCode::OK,
            "the members of the forward's conversation keep its copy"
        );
    }
    let (_, tombstone) = server
        .get(
            &format!("/api/v1/messages/{}", carrier["id"].as_str().unwrap_or("")),
            &bob,
        )
        .await;
    assert_eq!(tombstone["attachments"], json!([]));
    wait_until("the deleted file's bytes are removed", || {
        stored_files(&server) == files_before - 1
    })
    .await;
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what}: not within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn downloads_stream_ranges_with_safe_headers() {
    let server = TestServer::start().await;
    let ana = server.register("ana").await;
    let video: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
    let (_, file) = upload(&server, &ana, "clip.bin", "video/mp4", video.clone()).await;
    assert_eq!(file["content_type"], "application/octet-stream");
    let path = format!("/api/v1/attachments/{}", file["id"].as_str().unwrap_or(""));
    let (status, headers, bytes) = fetch(&server, &ana, &path, None).await;
    assert_eq!((status, bytes.len()), (StatusCode::OK, video.len()));
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "content-security-policy"), "sandbox");
    assert!(
        header(&headers, "content-disposition").starts_with("attachment; filename=\"clip.bin\"")
    );

    let (status, headers, bytes) = fetch(&server, &ana, &path, Some("bytes=1000-1999")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&headers, "content-range"), "bytes 1000-1999/100000");
    assert_eq!(bytes, video[1000..2000]);
    let (status, _, bytes) = fetch(&server, &ana, &path, Some("bytes=-10")).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &video[99_990..])
    );
    let (status, _, bytes) = fetch(&server, &ana, &path, Some("bytes=99999-")).await;
    assert_eq!((status, bytes.len()), (StatusCode::PARTIAL_CONTENT, 1));
    let (status, headers, _) = fetch(&server, &ana, &path, Some("bytes=100000-")).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&headers, "content-range"), "bytes */100000");

    // Active content is only ever a download, under a sandbox.
    for (name, bytes, sniffed) in [
        (
            "page.html",
            &b"<!doctype html><script>alert(document.cookie)</script>"[..],
            "text/html",
        ),
        (
            "logo.svg",
            &b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"[..],
            "image/svg+xml",
        ),
    ] {
        let (status, file) = upload(&server, &ana, name, "image/png", bytes.to_vec()).await;
        assert_eq!(
            (status, file["content_type"].as_str()),
            (StatusCode::CREATED, Some(sniffed))
        );
        let (_, headers, _) = fetch(
            &server,
            &ana,
            &format!("/api/v1/attachments/{}", file["id"].as_str().unwrap_or("")),
            None,
        )
        .await;
        assert!(
            header(&headers, "content-disposition").starts_with("attachment;"),
            "{name}"
        );
        assert_eq!(header(&headers, "content-security-policy"), "sandbox");
        assert_eq!(header(&headers, "content-type"), sniffed);
    }
    // A picture shows inline.
    let (_, photo) = upload(
        &server,
        &ana,
        "foto.jpg",
        "image/jpeg",
        photo_with_location(),
    )
    .await;
    let (_, headers, _) = fetch(&server, &ana, photo["url"].as_str().unwrap_or(""), None).await;
    assert!(header(&headers, "content-disposition").starts_with("inline;"));
}

#[tokio::test]
async fn the_size_limit_is_configuration_and_nothing_past_it_is_kept() {
    let server = TestServer::start_with(|args| {
        args.attachment_max_bytes = Some("1000".into());
    })
    .await;
    let ana = server.register("ana").await;
    let (status, body) = upload(
        &server,
        &ana,
        "big.bin",
        "application/octet-stream",
        vec![1; 1001],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("attachment_too_large"))
    );
    let (status, _) = upload(
        &server,
        &ana,
        "huge.bin",
        "application/octet-stream",
        vec![1; 300_000],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.count("attachments").await, 0);
    assert_eq!(stored_files(&server), 0, "no part of it is kept");
    let (status, body) = upload(
        &server,
        &ana,
        "fits.bin",
        "application/octet-stream",
        vec![1; 1000],
    )
    .await;
    assert_eq!(
        (status, body["size"].as_i64()),
        (StatusCode::CREATED, Some(1000))
    );

    let (status, body) = upload(&server, &ana, "empty.txt", "text/plain", Vec::new()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("empty_file"))
    );
    let (status, body) = server
        .raw(
            "POST",
            "/api/v1/attachments",
            Some(&ana.token),
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let form = reqwest::multipart::Form::new().text("note", "no file here");
    let (status, body) = server
        .post_form("/api/v1/attachments", Some(&ana.token), form)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unexpected_part"))
    );
    assert_eq!(server.count("attachments").await, 1);
}

#[tokio::test]
async fn uploads_never_sent_are_removed_after_a_day() {
    let server = TestServer::start_with(|args| {
        args.attachment_sweep_secs = Some("1".into());
    })
    .await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let direct = server.direct(&ana, &bob).await;
    let mut files = Vec::new();
    for (name, text) in [
        ("olvidado.txt", "nunca enviado"),
        ("enviado.txt", "enviado"),
        ("reciente.txt", "de hoy"),
    ] {
        let (status, file) = upload(&server, &ana, name, "text/plain", text.into()).await;
        assert_eq!(status, StatusCode::CREATED, "{file}");
        files.push(file);
    }
    let [orphan, sent, fresh] = <[Value; 3]>::try_from(files).expect("three");
    send_with(
        &server,
        &ana,
        &direct,
        "t1",
        &[sent["id"].as_str().unwrap_or("")],
    )
    .await;
    // A day and a bit ago, for the first two.
    server
        .db
        .execute("UPDATE attachments SET created_at = created_at - 90000000 WHERE name <> 'reciente.txt'")
        .await;
    wait_until("the orphan is swept", || stored_files(&server) == 2).await;
    let get = |file: &Value| format!("/api/v1/attachments/{}", file["id"].as_str().unwrap_or(""));
    assert_eq!(
        fetch(&server, &ana, &get(&orphan), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&server, &bob, &get(&sent), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        fetch(&server, &ana, &get(&fresh), None).await.0,
        StatusCode::OK
    );
    assert_eq!(server.count("attachments").await, 2);
    let (status, body) = send_with(
        &server,
        &ana,
        &direct,
        "t2",
        &[orphan["id"].as_str().unwrap_or("")],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_attachment"))
    );
}

/// The S3-compatible server for tests: `HILO_TEST_S3_URL` (a moto server that .ci/run
/// starts). Outside CI an unset variable skips the test with a notice; under `CI=true` it
/// fails.
fn s3_url() -> Option<String> {
    match std::env::var("HILO_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("HILO_TEST_S3_URL must be set under CI=true (.ci/run sets it)")
        }
        _ => {
            eprintln!("NOTICE: HILO_TEST_S3_URL is unset; skipping the S3 test");
            None
        }
    }
}

#[tokio::test]
async fn attachments_can_live_in_an_s3_bucket() {
    let Some(url) = s3_url() else { return };
    let bucket = format!("hilo-test-{}-{}", std::process::id(), rand::random::<u32>());
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{url}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    let server = TestServer::start_with(|args| {
        args.s3_bucket = Some(bucket.clone());
        args.s3_endpoint = Some(url.clone());
        args.s3_access_key_id = Some("test".into());
        args.s3_secret_access_key = Some("test".into());
    })
    .await;
    let ana = server.register("ana").await;
    let bob = server.register("bob").await;
    let direct = server.direct(&ana, &bob).await;
    // Over one 5 MiB part, so the multipart upload path runs.
    let big: Vec<u8> = (0..6_000_000u32).map(|n| (n % 253) as u8).collect();
    let (status, file) = upload(&server, &ana, "video.bin", "video/mp4", big.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let id = file["id"].as_str().expect("id").to_owned();
    let (status, photo) = upload(
        &server,
        &ana,
        "foto.jpg",
        "image/jpeg",
        photo_with_location(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    assert_eq!(stored_files(&server), 0, "nothing in the data dir");
    let listing = http
        .get(format!("{url}/{bucket}?list-type=2"))
        .send()
        .await
        .expect("lists")
        .text()
        .await
        .expect("XML");
    assert!(listing.contains(&format!("attachments/{id}")), "{listing}");
    assert!(listing.contains("thumbnails/"), "{listing}");

    send_with(&server, &ana, &direct, "t1", &[&id]).await;
    let path = format!("/api/v1/attachments/{id}");
    let (status, _, bytes) = fetch(&server, &bob, &path, None).await;
    assert_eq!((status, bytes.len()), (StatusCode::OK, big.len()));
    assert!(bytes == big);
    let (status, _, bytes) = fetch(&server, &bob, &path, Some("bytes=5242870-5242889")).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &big[5_242_870..5_242_890])
    );
    let photo_bytes = fetch(&server, &ana, photo["url"].as_str().unwrap_or(""), None)
        .await
        .2;
    assert!(!contains(&photo_bytes, b"Exif"));
}
