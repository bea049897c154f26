//! `brainclip explain --run DIR --cohort DIR [--split test] [--limit N] [--json]`: does the
//! model look at the lesion? Occlusion maps of each study against its own report, scored
//! against the ground-truth lesion masks of the demo cohort, with two baselines (see
//! [`crate::train::localize`]).

use std::path::PathBuf;

use super::run_args::RunArgs;
use crate::config::Split;
use crate::train::CancelToken;
use crate::train::localize::{localize_split, summarize};

/// Arguments of `brainclip explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trained run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Cohort folder (studies need `truth/lesion.nii.gz`, as `brainclip synth` writes).
    #[arg(long)]
    pub cohort: PathBuf,
    /// Split: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Only the first N studies with a lesion mask.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print {"summary": {group: {...}}, "studies": [...]} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `brainclip explain`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let session = args.run.open()?;
    let bar = super::progress_bar("occlusion", "studies", 0);
    let studies = localize_split(
        &session,
        &args.cohort,
        args.split,
        args.limit,
        &CancelToken::new(),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    let summary = summarize(&studies);
    if args.json {
        let json = serde_json::json!({"summary": summary, "studies": studies});
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "lesion localisation of {} ({} split, {} studies with a lesion mask), run {}",
        args.cohort.display(),
        args.split.as_str(),
        studies.len(),
        args.run.run.display()
    );
    println!(
        "{:11} {:>4}  {:>9} {:>9}  {:>9} {:>9}",
        "group", "n", "top block", "shuffled", "drops on", "uniform"
    );
    println!(
        "{:11} {:>4}  {:>9} {:>9}  {:>9} {:>9}",
        "", "", "on lesion", "masks", "lesion", "chance"
    );
    for (group, s) in &summary {
        println!(
            "{group:11} {:>4}  {:>9.3} {:>9.3}  {:>9.3} {:>9.3}",
            s.n, s.hit_rate, s.shuffled_masks, s.heat_share, s.uniform_chance
        );
    }
    println!(
        "top block on lesion: the block whose occlusion lowers the study-report similarity \
         most holds lesion;\nshuffled masks: the same block against the other studies' \
         lesions; uniform chance: lesion blocks / head blocks (the baseline of both)."
    );
    Ok(())
}
