//! `users`: how many people this server holds at once. Simulated users behave like people
//! with a chat client open: each keeps a live event stream and, between pauses, lists its
//! conversations, opens one, pages its history, sends, marks read, reacts and now and then
//! searches. Users are added in steps; each step is measured over a fixed window once its
//! new users are set up, and the ramp stops at the first step where the p99 of any action
//! exceeds the limit or more than 0.1 % of actions fail. The supported users are the last
//! step that passed (the figure Mattermost publishes for its own product). A step's new
//! users arrive evenly over the first half of its window.
//!
//! Each user belongs to a team: one group of the whole team, and a direct conversation
//! with the next teammate (so three conversations each). Actions the server does not offer
//! (looked up in its OpenAPI document) are reported as unavailable and not replaced by
//! something else: the mix is then lighter than the full one, and the report says so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Report, SETUP_CONCURRENCY, accounts, run_id};
use crate::api::{Account, Api, Events, next_frame};
use crate::stats::{Samples, round};

/// What a simulated user does between pauses, with its relative weight in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    Connect,
    ListConversations,
    OpenConversation,
    PageHistory,
    Send,
    MarkRead,
    React,
    Search,
    /// Not a request: a message sent by someone arriving on a live stream.
    Delivery,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::ListConversations => "list_conversations",
            Action::OpenConversation => "open_conversation",
            Action::PageHistory => "page_history",
            Action::Send => "send",
            Action::MarkRead => "mark_read",
            Action::React => "react",
            Action::Search => "search",
            Action::Delivery => "delivery",
        }
    }
}

/// The mix: out of 100 actions.
const MIX: [(Action, u32); 7] = [
    (Action::ListConversations, 15),
    (Action::OpenConversation, 15),
    (Action::PageHistory, 15),
    (Action::Send, 20),
    (Action::MarkRead, 20),
    (Action::React, 10),
    (Action::Search, 5),
];

/// The ramp's sizes and limits.
pub struct Ramp {
    /// Users in the first step.
    pub start: usize,
    /// Users added per step.
    pub step: usize,
    /// Stop after this many users even if every step passed.
    pub max: usize,
    /// Measured seconds per step.
    pub step_seconds: u64,
    /// Mean pause between one user's actions, in seconds.
    pub think_seconds: f64,
    /// Users per team.
    pub team: usize,
    /// A step fails when the p99 of any action exceeds this.
    pub p99_limit_ms: f64,
}

/// Where a step's samples go; `None` between measured windows.
type Collector = Arc<Mutex<Option<HashMap<Action, Samples>>>>;

fn record(collector: &Collector, action: Action, outcome: Result<Duration, ()>) {
    let mut guard = collector.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(samples) = guard.as_mut() {
        let entry = samples.entry(action).or_default();
        match outcome {
            Ok(latency) => entry.record(latency),
            Err(()) => entry.errors += 1,
        }
    }
}

/// What a user knows of one of its conversations, from what it saw.
#[derive(Debug, Clone, Default)]
struct Seen {
    last_seq: i64,
    last_message: Option<String>,
}

/// One simulated user.
struct User {
    account: Account,
    conversations: Vec<String>,
}

/// The server's features the mix needs, from its OpenAPI document.
struct Features {
    react: bool,
    search: bool,
}

impl Features {
    fn offers(&self, action: Action) -> bool {
        match action {
            Action::React => self.react,
            Action::Search => self.search,
            _ => true,
        }
    }

    fn unavailable(&self) -> Vec<&'static str> {
        [Action::React, Action::Search]
            .into_iter()
            .filter(|a| !self.offers(*a))
            .map(Action::name)
            .collect()
    }
}

/// Registers `n` users in teams, with their group and direct conversations (setup, not
/// measured).
async fn set_up(
    api: &Api,
    run: &str,
    first: usize,
    n: usize,
    team: usize,
) -> anyhow::Result<Vec<User>> {
    let team = team.max(2);
    let accounts = accounts(api, run, &format!("u{first}_"), n).await?;
    let teams: Vec<Vec<Account>> = accounts.chunks(team).map(<[Account]>::to_vec).collect();
    let built = futures::stream::iter(teams.into_iter().enumerate())
        .map(|(t, members)| {
            let api = api.clone();
            let name = format!("team {run} {first}-{t}");
            async move { team_conversations(&api, &name, members).await }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut users = Vec::with_capacity(n);
    for team in built {
        users.extend(team?);
    }
    Ok(users)
}

async fn team_conversations(
    api: &Api,
    name: &str,
    members: Vec<Account>,
) -> anyhow::Result<Vec<User>> {
    let mut users: Vec<User> = members
        .iter()
        .map(|account| User {
            account: account.clone(),
            conversations: Vec::new(),
        })
        .collect();
    if members.len() < 2 {
        return Ok(users);
    }
    let group = api.group(&members[0], name, &members[1..]).await?;
    for user in &mut users {
        user.conversations.push(group.clone());
    }
    for i in 0..members.len() {
        let j = (i + 1) % members.len();
        if members.len() == 2 && i == 1 {
            break;
        }
        let direct = api.direct(&members[i], &members[j]).await?;
        users[i].conversations.push(direct.clone());
        users[j].conversations.push(direct);
    }
    Ok(users)
}

/// What every simulated user shares.
#[derive(Clone)]
struct Shared {
    api: Api,
    features: Arc<Features>,
    think: f64,
    /// The run's time origin: message texts carry their send time relative to it.
    epoch: Instant,
    collector: Collector,
    stop: CancellationToken,
    sent: Arc<AtomicUsize>,
}

/// Runs one user until `stop`: arrives after `arrival`, connects, then acts between
/// pauses, reading its stream.
async fn run_user(shared: Shared, user: User, arrival: Duration) {
    let Shared {
        api,
        features,
        think,
        epoch,
        collector,
        stop,
        sent,
    } = shared;
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep(arrival) => {}
    }
    let started = Instant::now();
    let events = match api.events(&user.account).await {
        Ok(events) => {
            record(&collector, Action::Connect, Ok(started.elapsed()));
            events
        }
        Err(_) => {
            record(&collector, Action::Connect, Err(()));
            return;
        }
    };
    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    let reader = tokio::spawn(read_stream(
        events,
        seen.clone(),
        epoch,
        collector.clone(),
        stop.clone(),
    ));
    let name = user.account.username.clone();
    let mut n = 0u64;
    loop {
        // Exponential pauses (a Poisson process per user), drawn before each action.
        let pause = {
            let mut rng = rand::rng();
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            Duration::from_secs_f64(-u.ln() * think)
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
        let (action, conversation) = {
            let mut rng = rand::rng();
            let mut roll = rng.random_range(0..MIX.iter().map(|(_, w)| w).sum::<u32>());
            let mut chosen = MIX[0].0;
            for (action, weight) in MIX {
                if roll < weight {
                    chosen = action;
                    break;
                }
                roll -= weight;
            }
            let conversation =
                user.conversations[rng.random_range(0..user.conversations.len().max(1))].clone();
            (chosen, conversation)
        };
        if !features.offers(action) {
            continue;
        }
        let known = seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&conversation)
            .cloned()
            .unwrap_or_default();
        n += 1;
        let me = &user.account;
        let started = Instant::now();
        let result = match action {
            Action::ListConversations => {
                api.hilo_call(Method::GET, "/api/v1/conversations", me, None)
                    .await
            }
            Action::OpenConversation => {
                api.hilo_call(
                    Method::GET,
                    &format!("/api/v1/conversations/{conversation}"),
                    me,
                    None,
                )
                .await
            }
            Action::PageHistory => {
                // The latest page, or one further back, as a reader scrolls up.
                let before = if known.last_seq > 100 && n.is_multiple_of(2) {
                    format!("&before={}", known.last_seq - 50)
                } else {
                    String::new()
                };
                api.hilo_call(
                    Method::GET,
                    &format!("/api/v1/conversations/{conversation}/messages?limit=50{before}"),
                    me,
                    None,
                )
                .await
            }
            Action::Send => {
                // The text carries the send time, so receivers can time the delivery.
                let text = format!("{} hello from {name}", epoch.elapsed().as_micros());
                let result = api
                    .hilo_call(
                        Method::POST,
                        &format!("/api/v1/conversations/{conversation}/messages"),
                        me,
                        Some(json!({"client_txn_id": format!("{name}-{n}"), "text": text})),
                    )
                    .await;
                if result.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                result
            }
            Action::MarkRead => {
                api.hilo_call(
                    Method::POST,
                    &format!("/api/v1/conversations/{conversation}/read"),
                    me,
                    Some(json!({"seq": known.last_seq})),
                )
                .await
            }
            Action::React => match &known.last_message {
                Some(message) => {
                    api.hilo_call(
                        Method::PUT,
                        &format!("/api/v1/messages/{message}/reactions/%F0%9F%91%8D"),
                        me,
                        None,
                    )
                    .await
                }
                None => continue,
            },
            Action::Search => {
                api.hilo_call(Method::GET, "/api/v1/search/messages?q=hello", me, None)
                    .await
            }
            Action::Connect | Action::Delivery => continue,
        };
        record(
            &collector,
            action,
            result.map(|_| started.elapsed()).map_err(drop),
        );
    }
    reader.abort();
}

/// Reads a user's stream: times message deliveries and remembers each conversation's
/// latest message, for marking read and reacting.
async fn read_stream(
    events: Events,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    epoch: Instant,
    collector: Collector,
    stop: CancellationToken,
) {
    let Events::Hilo(mut socket) = events else {
        return;
    };
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => return,
            frame = next_frame(&mut socket) => frame,
        };
        let Ok(event) = frame else {
            // A stream that ends while the run goes on is a failure the user would see.
            if !stop.is_cancelled() {
                record(&collector, Action::Delivery, Err(()));
            }
            return;
        };
        if event["type"] != "message.created" {
            continue;
        }
        let message = &event["message"];
        if let Some(micros) = message["text"]
            .as_str()
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse::<u128>().ok())
        {
            let now = epoch.elapsed().as_micros();
            let latency = Duration::from_micros(now.saturating_sub(micros) as u64);
            record(&collector, Action::Delivery, Ok(latency));
        }
        if let (Some(conversation), Some(seq)) =
            (message["conversation_id"].as_str(), message["seq"].as_i64())
        {
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = seen.entry(conversation.to_owned()).or_default();
            if seq > entry.last_seq {
                entry.last_seq = seq;
                entry.last_message = message["id"].as_str().map(str::to_owned);
            }
        }
    }
}

/// One measured step.
struct Step {
    users: usize,
    actions: HashMap<Action, Samples>,
    seconds: f64,
    cpu: Value,
}

impl Step {
    fn totals(&self) -> (usize, u64) {
        let done = self
            .actions
            .iter()
            .filter(|(a, _)| **a != Action::Delivery)
            .map(|(_, s)| s.count())
            .sum();
        let errors = self.actions.values().map(|s| s.errors).sum();
        (done, errors)
    }

    /// Why this step fails, if it does: the action with the worst p99 over the limit, or
    /// the error rate.
    fn failure(&self, p99_limit_ms: f64) -> Option<String> {
        let worst = self
            .actions
            .iter()
            .map(|(action, samples)| (action.name(), samples.quantile_ms(0.99)))
            .filter(|(_, p99)| *p99 > p99_limit_ms)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((name, p99)) = worst {
            return Some(format!("{name} p99 {} ms > {p99_limit_ms} ms", round(p99)));
        }
        let (done, errors) = self.totals();
        let attempts = done as u64 + errors;
        if errors * 1000 > attempts {
            return Some(format!("{errors} errors in {attempts} actions (> 0.1 %)"));
        }
        None
    }

    fn json(&self, p99_limit_ms: f64) -> Value {
        let (done, errors) = self.totals();
        let actions: serde_json::Map<String, Value> = self
            .actions
            .iter()
            .map(|(a, s)| (a.name().to_owned(), s.summary()))
            .collect();
        json!({
            "users": self.users,
            "actions_per_second": round(done as f64 / self.seconds.max(1e-9)),
            "errors": errors,
            "failed": self.failure(p99_limit_ms),
            "actions": actions,
            "server_cpu": self.cpu,
        })
    }
}

pub async fn users(api: &Api, ramp: Ramp) -> anyhow::Result<Report> {
    anyhow::ensure!(
        ramp.start > 0 && ramp.step > 0 && ramp.team >= 2,
        "start, step and team must be positive (team at least 2)"
    );
    let paths = api.api_paths().await?;
    let features = Arc::new(Features {
        react: paths
            .iter()
            .any(|p| p.starts_with("/api/v1/messages/") && p.contains("/reactions/")),
        search: paths.iter().any(|p| p == "/api/v1/search/messages"),
    });
    let run = run_id();
    let collector: Collector = Arc::default();
    let stop = CancellationToken::new();
    let sent = Arc::new(AtomicUsize::new(0));
    let shared = Shared {
        api: api.clone(),
        features: features.clone(),
        think: ramp.think_seconds,
        epoch: Instant::now(),
        collector: collector.clone(),
        stop: stop.clone(),
        sent: sent.clone(),
    };
    let mut tasks = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut supported = 0;
    let mut stopped_by = None;
    let mut total = 0;
    while total < ramp.max {
        let add = if total == 0 { ramp.start } else { ramp.step }.min(ramp.max - total);
        let users = set_up(api, &run, total, add, ramp.team).await?;
        total += add;
        // The window opens before the new users connect: their connects are measured.
        *collector.lock().unwrap_or_else(PoisonError::into_inner) = Some(HashMap::new());
        let cpu = api.cpu_window();
        let started = Instant::now();
        // People arrive over the first half of the window, not all in one millisecond (a
        // burst of simultaneous connects measures the accept queue, not the server); the
        // second half has every user of the step active.
        let arrivals = Duration::from_secs(ramp.step_seconds) / 2;
        let n_new = users.len().max(1) as u32;
        for (i, user) in users.into_iter().enumerate() {
            let arrival = arrivals * i as u32 / n_new;
            tasks.push(tokio::spawn(run_user(shared.clone(), user, arrival)));
        }
        tokio::time::sleep(Duration::from_secs(ramp.step_seconds)).await;
        let elapsed = started.elapsed();
        let actions = collector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        let step = Step {
            users: total,
            cpu: cpu.finish(actions.values().map(Samples::count).sum(), elapsed),
            actions,
            seconds: elapsed.as_secs_f64(),
        };
        eprintln!("users: {total}: {}", step.json(ramp.p99_limit_ms));
        let failure = step.failure(ramp.p99_limit_ms);
        steps.push(step);
        match failure {
            Some(reason) => {
                stopped_by = Some(reason);
                break;
            }
            None => supported = total,
        }
    }
    stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    let unavailable = features.unavailable();
    let stop_reason = stopped_by
        .clone()
        .unwrap_or_else(|| format!("reached --max {}", ramp.max));
    Ok(Report {
        human: format!(
            "users: {supported} supported users (p99 limit {} ms, errors ≤ 0.1 %); stopped: {stop_reason}; {} messages sent; unavailable actions: {}",
            ramp.p99_limit_ms,
            sent.load(Ordering::Relaxed),
            if unavailable.is_empty() {
                "none".to_owned()
            } else {
                unavailable.join(", ")
            },
        ),
        json: json!({
            "scenario": "users",
            "supported_users": supported,
            "stopped_by": stopped_by,
            "p99_limit_ms": ramp.p99_limit_ms,
            "think_seconds": ramp.think_seconds,
            "team": ramp.team,
            "step_seconds": ramp.step_seconds,
            "unavailable_actions": unavailable,
            "messages_sent": sent.load(Ordering::Relaxed),
            "steps": steps.iter().map(|s| s.json(ramp.p99_limit_ms)).collect::<Vec<_>>(),
        }),
    })
}
