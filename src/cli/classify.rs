//! `brainclip classify --run DIR --study PATH [--json]`: zero-shot class probabilities of any
//! study folder (three NIfTI sequences and a report), from the prompts file. A note on
//! stderr says when the run was trained or selected on the study (its `training_set.json`).

use std::path::PathBuf;

use super::run_args::RunArgs;
use crate::config::Label;
use crate::index::metrics::predictions;
use crate::io::cache::cache_key;
use crate::io::preprocess::preprocess_study;
use crate::io::study::load_study;
use crate::train::embed::embed_study;
use crate::train::provenance::{read_training_set_or_warn, seen_note};
use crate::train::session::{ClassPrompts, DEFAULT_PROMPTS};

/// Arguments of `brainclip classify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trained run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Study folder (dwi, t2s, flair .nii[.gz] and report.txt).
    #[arg(long)]
    pub study: PathBuf,
    /// Zero-shot prompt file.
    #[arg(long, default_value = DEFAULT_PROMPTS)]
    pub prompts: PathBuf,
    /// Print {"predicted", "probabilities": {class: p}} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `brainclip classify`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let session = args.run.open()?;
    let prompts = ClassPrompts::load(&args.prompts)?;
    let study = load_study(&args.study)?;
    let tensor = preprocess_study(&study)?;
    let image = embed_study(&session.model, &tensor, &session.device)?;
    let classes = session.class_embeddings(&prompts)?;
    if image.iter().any(|v| !v.is_finite()) {
        anyhow::bail!(
            "the model's embedding of {} is not finite (a diverged run?)",
            args.study.display()
        );
    }
    let record = read_training_set_or_warn(
        &args.run.run,
        "it cannot say whether the run has seen this study",
        &mut |w| eprintln!("warning: {w}"),
    );
    if let Some(record) = record {
        let key = cache_key(&study)?;
        if let Some(used) = record.by_key().get(key.as_str()) {
            let study = args.study.display().to_string();
            let so = "these probabilities may be memorised";
            eprintln!("{}", seen_note(&args.run.run, &study, *used, so));
        }
    }
    let all = session.zero_shot(&[image], &classes)?;
    // The same arg-max as `brainclip eval` (ties to the earlier class).
    let predicted = predictions(&all)[0];
    let probs = &all[0];
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = Label::ALL
            .iter()
            .zip(probs)
            .map(|(l, p)| (l.as_str().to_string(), serde_json::json!(p)))
            .collect();
        println!(
            "{}",
            serde_json::json!({"study": study.id, "predicted": predicted, "probabilities": map})
        );
    } else {
        println!("{}: {predicted}", study.id);
        for (l, p) in Label::ALL.iter().zip(probs) {
            let bar = "#".repeat((p * 40.0).round() as usize);
            println!("  {:11} {:5.3} {bar}", l.as_str(), p);
        }
    }
    Ok(())
}
