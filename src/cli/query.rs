//! `brainclip query --run DIR --cohort DIR (--text "..." | --study ID [--reports]) [--k 10]
//! [--json]`: free text -> studies, study -> studies, study -> reports. Uses the run's index
//! of the cohort when present (built by `brainclip index`), else embeds the cohort first.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use super::run_args::RunArgs;
use crate::config::Label;
use crate::train::CancelToken;
use crate::train::indexing::{cohort_entries, load_or_build_index};
use crate::train::provenance::{TrainingSet, how_seen, read_training_set_or_warn, seen_note};

/// Arguments of `brainclip query`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trained run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Cohort folder.
    #[arg(long)]
    pub cohort: PathBuf,
    /// Free text to rank studies by (e.g. "acute infarct in the left MCA territory").
    #[arg(long, conflicts_with = "study", required_unless_present = "study")]
    pub text: Option<String>,
    /// Study id of the cohort to find similar cases for.
    #[arg(long)]
    pub study: Option<String>,
    /// With --study: rank reports instead of studies.
    #[arg(long, requires = "study")]
    pub reports: bool,
    /// Number of results.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Print a JSON list of {study_id, score, label, report}, best first.
    #[arg(long)]
    pub json: bool,
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub struct QueryHit {
    /// Study id.
    pub study_id: String,
    /// Cosine similarity in the joint space.
    pub score: f32,
    /// The study's label.
    pub label: Label,
    /// The study's report.
    pub report: String,
}

/// Runs `brainclip query`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.k == 0 {
        anyhow::bail!("--k must be at least 1");
    }
    let session = args.run.open()?;
    // Matches the run has seen are marked in the table (the JSON keeps its four keys); a
    // damaged record is said and leaves them unmarked.
    let record = read_training_set_or_warn(&args.run.run, "no match is marked", &mut |w| {
        eprintln!("warning: {w}")
    });
    // A saved index is used only while it holds the cohort as it is now; otherwise the
    // cohort is embedded again and the index saved.
    let current = cohort_entries(&args.cohort)?;
    let (index, _) = load_or_build_index(
        &session,
        &args.cohort,
        &current,
        &CancelToken::new(),
        &mut |_, _| {},
    )?;
    let hits = match (&args.text, &args.study) {
        (Some(text), _) => {
            if text.trim().is_empty() {
                anyhow::bail!("--text is empty");
            }
            let q = session.embed_texts(&[text.as_str()])?;
            index.query_image(&q[0], args.k, None)
        }
        (None, Some(id)) => {
            let i = index.position(id).with_context(|| {
                format!("no study {id:?} in the cohort {}", args.cohort.display())
            })?;
            let q = index.image[i].clone();
            if args.reports {
                index.query_text(&q, args.k, None)
            } else {
                index.query_image(&q, args.k, Some(i))
            }
        }
        (None, None) => anyhow::bail!("give --text or --study"),
    };
    let seen = record.as_ref().map(TrainingSet::by_key).unwrap_or_default();
    let marks: Vec<String> = hits
        .iter()
        .map(|h| {
            seen.get(index.entries[h.index].key.as_str())
                .map_or(String::new(), |u| format!("  ({})", how_seen(*u)))
        })
        .collect();
    if let Some(id) = &args.study
        && let Some(i) = index.position(id)
        && let Some(u) = seen.get(index.entries[i].key.as_str())
    {
        let so = "its matches may be memorised pairs";
        eprintln!("{}", seen_note(&args.run.run, id, *u, so));
    }
    let out: Vec<QueryHit> = hits
        .iter()
        .map(|h| {
            let e = &index.entries[h.index];
            QueryHit {
                study_id: e.study_id.clone(),
                score: h.score,
                label: e.label,
                report: e.report.clone(),
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (rank, (h, mark)) in out.iter().zip(&marks).enumerate() {
            let first = h.report.lines().next().unwrap_or("");
            let first: String = first.chars().take(90).collect();
            println!(
                "{:3}  {:.3}  {:10}  {:11}  {first}{mark}",
                rank + 1,
                h.score,
                h.study_id,
                h.label.as_str()
            );
        }
    }
    Ok(())
}
