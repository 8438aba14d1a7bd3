//! Micro-benchmarks of the pure functions on every message's path, so a regression shows
//! without a server: `cargo bench -p hilo-proto`. Social-inbox routing joins this set when
//! it exists (issue 7).

use criterion::{Criterion, criterion_group, criterion_main};
use hilo_core::validate;
use hilo_proto::{ClientFrame, Event, MessageDto, PartyDto, with_cursor};
use std::hint::black_box;

fn message(text: &str) -> MessageDto {
    MessageDto {
        id: "01a1fecf-a83a-73ea-921f-333b2df6130a".into(),
        conversation_id: "01a1fecf-a83a-73ea-921f-333b2df61300".into(),
        seq: 123_456,
        sender: Some(PartyDto {
            id: "01a1fecf-a83a-73ea-921f-333b2df613aa".into(),
            kind: "user".into(),
            username: Some("ana".into()),
            display_name: "Ana María".into(),
            address: Some("ana@example.com".into()),
        }),
        channel: "chat".into(),
        text: Some(text.to_owned()),
        client_txn_id: Some("k3j4h5g6".into()),
        attachments: Vec::new(),
        reply_to: None,
        mentions: Vec::new(),
        reactions: Vec::new(),
        location: None,
        entities: Vec::new(),
        forwarded: false,
        edited_at: None,
        deleted: false,
        created_at: "2026-11-21T10:00:00.123Z".into(),
        collapsed: false,
        email: None,
        sms: None,
        delivery: None,
    }
}

fn event_encoding(c: &mut Criterion) {
    let text = "¿Quedamos mañana a las 10 en la cafetería de siempre? Trae el portátil, porfa.";
    let event = Event::MessageCreated {
        conversation_id: "01a1fecf-a83a-73ea-921f-333b2df61300".into(),
        message: message(text),
    };
    c.bench_function("encode message.created", |b| {
        b.iter(|| serde_json::to_string(black_box(&event)))
    });
    let body = serde_json::to_string(&event).expect("encodes");
    c.bench_function("splice cursor", |b| {
        b.iter(|| with_cursor(black_box(&body), Some(black_box(987_654))))
    });
    // One message to a group of 500: encoded once, a cursor spliced per recipient.
    c.bench_function("fan out to 500", |b| {
        b.iter(|| {
            let body = serde_json::to_string(black_box(&event)).expect("encodes");
            (0..500)
                .map(|n| with_cursor(&body, Some(n)).len())
                .sum::<usize>()
        })
    });
    let frame = r#"{"type":"auth","token":"hilo_0123456789abcdef0123456789abcdef","since":"42"}"#;
    c.bench_function("decode auth frame", |b| {
        b.iter(|| serde_json::from_str::<ClientFrame>(black_box(frame)))
    });
}

fn validation(c: &mut Criterion) {
    let short = "¿Quedamos mañana a las 10 en la cafetería de siempre?";
    let long = "Lorem ipsum dolor sit amet, ñandú. ".repeat(285);
    c.bench_function("validate short text", |b| {
        b.iter(|| validate::message_text(black_box(short)))
    });
    c.bench_function("validate 10,000-char text", |b| {
        b.iter(|| validate::message_text(black_box(&long)))
    });
    c.bench_function("validate username", |b| {
        b.iter(|| validate::username(black_box("Ana_Maria-42")))
    });
    // Every send looks for mentions; every rendering of a message finds its links.
    let chatty =
        "@ana ¿viste https://hilo.chat/notas? Dile a @bob.smith que escriba a ana@example.com";
    c.bench_function("find mentions", |b| {
        b.iter(|| hilo_core::message::mentioned_usernames(black_box(chatty)))
    });
    c.bench_function("find mentions in 10,000 chars", |b| {
        b.iter(|| hilo_core::message::mentioned_usernames(black_box(&long)))
    });
    c.bench_function("find links", |b| {
        b.iter(|| hilo_core::message::links(black_box(chatty)))
    });
    c.bench_function("find links in 10,000 chars", |b| {
        b.iter(|| hilo_core::message::links(black_box(&long)))
    });
    c.bench_function("validate reaction", |b| {
        b.iter(|| validate::reaction_emoji(black_box("👍🏽")))
    });
}

criterion_group!(benches, event_encoding, validation);
criterion_main!(benches);
