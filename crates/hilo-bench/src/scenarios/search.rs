//! `search`: message search for a user in many conversations, over a store holding many
//! more messages than the user can see, with queries from very common words to rare ones.
//!
//! The messages are made of words drawn from a Zipf distribution (the way words occur in
//! text): the most common words are real Spanish and English ones ("de", "que", "the"),
//! the long tail synthetic ("bacew"), so a query's selectivity is known by the rank of its
//! word. Every query is one `GET /api/v1/search/messages`, one after another.

use std::time::Instant;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{Report, accounts, background_sends, groups, run_id};
use crate::api::{Account, Api, encode};
use crate::stats::{Samples, round};

/// The most common words, most common first (ranks 1..): what people write most.
const COMMON: &[&str] = &[
    "de",
    "que",
    "la",
    "the",
    "y",
    "en",
    "el",
    "a",
    "to",
    "los",
    "se",
    "and",
    "no",
    "por",
    "un",
    "you",
    "con",
    "una",
    "para",
    "es",
    "it",
    "lo",
    "is",
    "más",
    "pero",
    "como",
    "me",
    "si",
    "ya",
    "te",
    "on",
    "for",
    "hoy",
    "mañana",
    "bien",
    "gracias",
    "vale",
    "ok",
    "hola",
    "todo",
    "esto",
    "eso",
    "that",
    "have",
    "this",
    "what",
    "está",
    "muy",
    "cuando",
    "también",
    "hay",
    "mi",
    "we",
    "can",
    "tengo",
    "hacer",
    "tiempo",
    "día",
    "casa",
    "trabajo",
    "reunión",
    "mensaje",
    "mensajes",
    "llamada",
    "foto",
    "fotos",
    "viaje",
    "cena",
    "comida",
    "semana",
    "noche",
    "tarde",
    "luego",
    "ahora",
    "nunca",
    "siempre",
    "después",
    "antes",
    "dónde",
    "quién",
    "qué",
    "porque",
    "publicación",
    "café",
    "meeting",
    "tomorrow",
    "thanks",
    "see",
    "will",
    "just",
    "get",
    "going",
    "know",
    "time",
    "today",
    "good",
    "great",
    "call",
];

/// Distinct words in the vocabulary.
const VOCABULARY: usize = 50_000;
/// Zipf exponent: word frequency ∝ 1 / rank^s (natural text is close to 1).
const ZIPF_S: f64 = 1.0;
/// Words per message, inclusive.
const WORDS_PER_MESSAGE: (usize, usize) = (3, 18);
/// Helper accounts the conversations are made of.
const HELPERS: usize = 64;

/// The word of rank `rank` (1-based): a common one, or a synthetic one spelled from the
/// rank's base-100 digits as syllables ("bacew"), so every rank has its own word.
fn word(rank: usize) -> String {
    if let Some(common) = COMMON.get(rank - 1) {
        return (*common).to_owned();
    }
    const CONSONANTS: &[u8; 20] = b"bcdfgjklmnprstvzxhqy";
    const VOWELS: &[u8; 5] = b"aeiou";
    let mut digits = Vec::new();
    let mut n = rank;
    while n > 0 {
        digits.push(n % 100);
        n /= 100;
    }
    let mut out = String::new();
    for digit in digits.into_iter().rev() {
        out.push(char::from(CONSONANTS[digit / 5]));
        out.push(char::from(VOWELS[digit % 5]));
    }
    // No common word ends in a consonant-vowel pair and a "w": no synthetic word is one.
    out.push('w');
    out
}

/// Word ranks drawn from the Zipf distribution.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new() -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=VOCABULARY)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(ZIPF_S);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn rank(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative[self.cumulative.len() - 1];
        let at = rng.random::<f64>() * total;
        self.cumulative.partition_point(|&c| c < at) + 1
    }

    fn message(&self, rng: &mut impl Rng) -> String {
        let n = rng.random_range(WORDS_PER_MESSAGE.0..=WORDS_PER_MESSAGE.1);
        (0..n)
            .map(|_| word(self.rank(rng)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A kind of query, by how many messages match it.
#[derive(Clone, Copy)]
struct QueryClass {
    name: &'static str,
    /// Share of the queries, in percent.
    percent: usize,
    /// Ranks its words come from.
    ranks: (usize, usize),
    /// Words per query.
    words: usize,
    /// Only the first letters of the word (a word being typed).
    prefix: bool,
}

/// The query mix: mostly content words, a tenth the commonest words there are.
const QUERY_MIX: &[QueryClass] = &[
    QueryClass {
        name: "commonest (ranks 1-20)",
        percent: 10,
        ranks: (1, 20),
        words: 1,
        prefix: false,
    },
    QueryClass {
        name: "frequent (ranks 21-500)",
        percent: 25,
        ranks: (21, 500),
        words: 1,
        prefix: false,
    },
    QueryClass {
        name: "moderate (ranks 501-5,000)",
        percent: 30,
        ranks: (501, 5_000),
        words: 1,
        prefix: false,
    },
    QueryClass {
        name: "rare (ranks 5,001-50,000)",
        percent: 20,
        ranks: (5_001, VOCABULARY),
        words: 1,
        prefix: false,
    },
    QueryClass {
        name: "two words (ranks 21-5,000)",
        percent: 10,
        ranks: (21, 5_000),
        words: 2,
        prefix: false,
    },
    QueryClass {
        name: "prefix (3 letters, ranks 101-5,000)",
        percent: 5,
        ranks: (101, 5_000),
        words: 1,
        prefix: true,
    },
];

impl QueryClass {
    fn query(&self, rng: &mut impl Rng) -> String {
        (0..self.words)
            .map(|_| {
                let w = word(rng.random_range(self.ranks.0..=self.ranks.1));
                if self.prefix {
                    w.chars().take(3).collect()
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The sizes of a run (the scenario's command-line arguments).
#[derive(Debug, clap::Args)]
pub struct SearchLoad {
    /// Conversations the searcher is in.
    #[arg(long, default_value_t = 200)]
    pub conversations: usize,
    /// Conversations among other people (the searcher is in none).
    #[arg(long, default_value_t = 1_800)]
    pub others: usize,
    /// Messages in the store, spread evenly over all conversations.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Queries to time, one after another.
    #[arg(long, default_value_t = 2_000)]
    pub queries: usize,
    /// Background sends per second into the searcher's conversations while measuring.
    #[arg(long, default_value_t = 20)]
    pub write_rate: u32,
    /// Sends in flight at once while filling the store (setup, not measured).
    #[arg(long, default_value_t = 32)]
    pub fill_concurrency: usize,
    /// Measure again on the store an earlier run filled (its run id, the prefix of its
    /// usernames, as in `b1a2b3c4_searcher0`): no setup, no fill, the same queries.
    #[arg(long)]
    pub reuse_run: Option<String>,
}

/// The searcher of an earlier run, and her conversations each with a helper in it who
/// writes the background messages (logged in again: one session each).
async fn reuse(api: &Api, run: &str) -> anyhow::Result<(Account, Vec<(String, Account)>)> {
    let me = api.login(&format!("{run}_searcher0")).await?;
    let mut helpers: std::collections::HashMap<String, Account> = Default::default();
    let mut targets = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/conversations?limit=50&cursor={}", encode(c)),
            None => "/api/v1/conversations?limit=50".to_owned(),
        };
        let page = api
            .hilo_call(reqwest::Method::GET, &path, &me, None)
            .await?;
        for view in page["conversations"].as_array().into_iter().flatten() {
            let id = view["id"].as_str().unwrap_or_default().to_owned();
            let Some(helper) = view["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["username"].as_str())
                .find(|name| *name != me.username)
            else {
                continue;
            };
            if !helpers.contains_key(helper) {
                helpers.insert(helper.to_owned(), api.login(helper).await?);
            }
            targets.push((id, helpers[helper].clone()));
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    Ok((me, targets))
}

pub async fn search(api: &Api, load: SearchLoad) -> anyhow::Result<Report> {
    anyhow::ensure!(
        load.conversations > 0 && load.queries > 0,
        "conversations and queries must be positive"
    );
    if let Some(run) = &load.reuse_run {
        let (me, targets) = reuse(api, run).await?;
        return measure(api, &load, me, targets, 0.0, 0.0).await;
    }
    let run = run_id();
    let me = accounts(api, &run, "searcher", 1).await?.remove(0);
    let helpers = accounts(api, &run, "h", HELPERS).await?;
    let trio = |i: usize| [i % HELPERS, (i + 1) % HELPERS, (i + 2) % HELPERS];

    // The searcher's conversations (she started them: her inbox) and everyone else's.
    let made = Instant::now();
    let mine = groups(api, load.conversations, |i| {
        let [a, b, _] = trio(i);
        (me.clone(), vec![helpers[a].clone(), helpers[b].clone()])
    })
    .await?;
    let theirs = groups(api, load.others, |i| {
        let [a, b, c] = trio(i);
        (
            helpers[a].clone(),
            vec![helpers[b].clone(), helpers[c].clone()],
        )
    })
    .await?;
    // Who may send in each conversation: its three members.
    let mut rooms: Vec<(String, [Account; 3])> = Vec::new();
    for (i, id) in mine.into_iter().enumerate() {
        let [a, b, _] = trio(i);
        rooms.push((id, [me.clone(), helpers[a].clone(), helpers[b].clone()]));
    }
    for (i, id) in theirs.into_iter().enumerate() {
        let [a, b, c] = trio(i);
        rooms.push((
            id,
            [helpers[a].clone(), helpers[b].clone(), helpers[c].clone()],
        ));
    }
    let setup_seconds = made.elapsed().as_secs_f64();

    // Fill: each worker owns every `workers`-th conversation and sends its share of
    // messages round the conversations it owns, so concurrent sends land in different
    // conversations (as many users' would).
    let filled = Instant::now();
    let zipf = std::sync::Arc::new(Zipf::new());
    let rooms = std::sync::Arc::new(rooms);
    let workers = load.fill_concurrency.clamp(1, rooms.len());
    let fill_failures = futures::stream::iter(0..workers)
        .map(|w| {
            let (api, zipf, rooms) = (api.clone(), zipf.clone(), rooms.clone());
            let share = load.messages / workers + usize::from(w < load.messages % workers);
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(w as u64);
                let owned: Vec<usize> = (w..rooms.len()).step_by(workers).collect();
                let mut failures = 0usize;
                for n in 0..share {
                    let (id, members) = &rooms[owned[n % owned.len()]];
                    let sender = &members[n % 3];
                    let text = zipf.message(&mut rng);
                    if api
                        .send(sender, id, &format!("f{w}_{n}"), &text)
                        .await
                        .is_err()
                    {
                        failures += 1;
                    }
                }
                failures
            })
        })
        .buffer_unordered(workers)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|joined| joined.unwrap_or(usize::MAX))
        .sum::<usize>();
    anyhow::ensure!(
        fill_failures == 0,
        "{fill_failures} sends failed while filling the store"
    );
    let fill_seconds = filled.elapsed().as_secs_f64();

    let targets = rooms[..load.conversations]
        .iter()
        .map(|(id, members)| (id.clone(), members[1].clone()))
        .collect();
    measure(api, &load, me, targets, setup_seconds, fill_seconds).await
}

/// The measured part: the queries, with background writes into the searcher's
/// conversations (`targets`, each with who writes there) while she searches.
async fn measure(
    api: &Api,
    load: &SearchLoad,
    me: Account,
    targets: Vec<(String, Account)>,
    setup_seconds: f64,
    fill_seconds: f64,
) -> anyhow::Result<Report> {
    let writes = background_sends(api, targets, load.write_rate);

    let mut rng = StdRng::seed_from_u64(0x5ea7c4);
    let mut classes: Vec<(QueryClass, Samples, usize, usize)> = QUERY_MIX
        .iter()
        .map(|class| (*class, Samples::default(), 0, 0))
        .collect();
    let mut all = Samples::default();
    let cpu = api.cpu_window();
    let started = Instant::now();
    for n in 0..load.queries {
        // Deterministic interleaving of the classes by their shares.
        let slot = n % 100;
        let mut upto = 0;
        let index = QUERY_MIX
            .iter()
            .position(|class| {
                upto += class.percent;
                slot < upto
            })
            .unwrap_or(0);
        let (class, samples, results, empty) = &mut classes[index];
        let query = class.query(&mut rng);
        let path = format!("/api/v1/search/messages?q={}&limit=20", encode(&query));
        let asked = Instant::now();
        match api.hilo_call(reqwest::Method::GET, &path, &me, None).await {
            Ok(body) => {
                let took = asked.elapsed();
                samples.record(took);
                all.record(took);
                let found = body["results"].as_array().map_or(0, Vec::len);
                *results += found;
                *empty += usize::from(found == 0);
            }
            Err(_) => {
                samples.errors += 1;
                all.errors += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu.finish(all.count(), elapsed);
    let background = writes.stop().await;

    let by_class: Vec<Value> = classes
        .iter()
        .map(|(class, samples, results, empty)| {
            json!({
                "class": class.name,
                "latency": samples.summary(),
                "mean_results": round(*results as f64 / samples.count().max(1) as f64),
                "empty": empty,
            })
        })
        .collect();
    let lines: Vec<String> = classes
        .iter()
        .map(|(class, samples, _, _)| {
            format!(
                "{}: p50 {} ms, p99 {} ms",
                class.name,
                round(samples.quantile_ms(0.5)),
                round(samples.quantile_ms(0.99))
            )
        })
        .collect();
    Ok(Report {
        human: format!(
            "search ({} messages, searcher in {} of {} conversations): {} queries, {} errors, p50 {} ms, p95 {} ms, p99 {} ms; {}",
            load.messages,
            load.conversations,
            load.conversations + load.others,
            all.count(),
            all.errors,
            round(all.quantile_ms(0.5)),
            round(all.quantile_ms(0.95)),
            round(all.quantile_ms(0.99)),
            lines.join("; ")
        ),
        json: json!({
            "scenario": "search",
            "messages": load.messages,
            "conversations": load.conversations,
            "other_conversations": load.others,
            "queries": load.queries,
            "setup_seconds": round(setup_seconds),
            "fill_seconds": round(fill_seconds),
            "background_writes": background,
            "latency": all.summary(),
            "by_class": by_class,
            "server_cpu": cpu,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_has_its_own_word() {
        let words: std::collections::HashSet<String> = (1..=VOCABULARY).map(word).collect();
        assert_eq!(words.len(), VOCABULARY);
        assert_eq!(word(1), "de");
        assert!(word(VOCABULARY).chars().all(|c| c.is_ascii_lowercase()));
    }

    #[test]
    fn the_query_mix_adds_up_and_common_words_are_common() {
        assert_eq!(QUERY_MIX.iter().map(|c| c.percent).sum::<usize>(), 100);
        let zipf = Zipf::new();
        let mut rng = StdRng::seed_from_u64(1);
        let top = (0..10_000).filter(|_| zipf.rank(&mut rng) <= 20).count();
        // Ranks 1-20 carry H(20)/H(50,000) ≈ 3.6/11.4 ≈ 32 % of all words.
        assert!((2_800..3_600).contains(&top), "{top}");
    }
}
