//! Diagnostic: how well do the zero-shot prompts classify the *reports*? A study whose image
//! embedding landed exactly on its own report's embedding would be classified this way, so
//! the numbers say how much of issue #4's zero-shot target the prompts and the text side of
//! a run allow for an image tower that had learnt every report perfectly (an image embedding
//! can still land nearer its class's prompts than its report does: a reference point, not a
//! bound). Reports go through the run's text head, prompts as in `brainclip eval`.
//!
//! ```text
//! cargo run --release --example prompt_ceiling      # models/demo on data/demo, test split
//! RUN=DIR COHORT=DIR SPLIT=val PROMPTS=FILE cargo run --release --example prompt_ceiling
//! SHOW=1 cargo run --release --example prompt_ceiling   # + each misclassified report
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;

use brainclip::config::{Label, Split};
use brainclip::index::metrics::{
    balanced_accuracy, class_recall, confusion_matrix, macro_auc, predictions,
};
use brainclip::io::cohort::read_cohort;
use brainclip::io::study::load_study;
use brainclip::train::session::{ClassPrompts, Session};

fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.into());
    let run = env("RUN", "models/demo");
    let cohort = read_cohort(Path::new(&env("COHORT", "data/demo"))).unwrap();
    let split = match env("SPLIT", "test").as_str() {
        "train" => Split::Train,
        "val" => Split::Val,
        _ => Split::Test,
    };
    let prompts =
        ClassPrompts::load(Path::new(&env("PROMPTS", "assets/zero_shot_prompts.json"))).unwrap();
    let session = Session::open(Path::new(&run), None, &candle_core::Device::Cpu).unwrap();
    // Only the reports are needed: no images are read.
    let entries: Vec<_> = cohort.split(split).collect();
    let texts_owned: Vec<String> = entries
        .iter()
        .map(|e| {
            let study = load_study(&cohort.study_dir(&e.study_id)).unwrap();
            study.report.trim().to_string()
        })
        .collect();
    let reports: Vec<&str> = texts_owned.iter().map(String::as_str).collect();
    let labels: Vec<Label> = entries.iter().map(|e| e.label).collect();
    let texts = session.embed_reports(&cohort.root, &reports).unwrap();
    let classes = session.class_embeddings(&prompts).unwrap();
    let probs = session.zero_shot(&texts, &classes).unwrap();
    println!(
        "{} {} reports of {}, run {run}: zero-shot balanced accuracy {:.3}, macro AUC {:.3}",
        entries.len(),
        split.as_str(),
        cohort.root.display(),
        balanced_accuracy(&probs, &labels),
        macro_auc(&probs, &labels)
    );
    print!("recall:");
    for c in Label::ALL {
        print!("  {} {:.3}", c.as_str(), class_recall(&probs, &labels, c));
    }
    if std::env::var("SHOW").is_ok() {
        println!();
        for ((e, text), p) in entries.iter().zip(&reports).zip(predictions(&probs)) {
            if e.label != p {
                let head: String = text.chars().take(110).collect();
                println!(
                    "  {} {} as {}: {head}",
                    e.study_id,
                    e.label.as_str(),
                    p.as_str()
                );
            }
        }
    }
    println!(
        "\nconfusion (rows true, columns predicted, {:?}):",
        Label::ALL.map(Label::as_str)
    );
    for (c, row) in Label::ALL.iter().zip(confusion_matrix(&probs, &labels)) {
        println!("  {:<11}{row:?}", c.as_str());
    }
}
