//! Writes `training_set.json` (`brainclip::train::provenance`) for a run trained before runs
//! kept one, from the cohort it was trained on: its train and validation studies as they are
//! on disk now. Only correct when that cohort is unchanged since training (a cohort generated
//! by `brainclip synth` with the same `--n` and `--seed` is): nothing here can check that, so
//! it is a maintainer's tool, not a command. `tests/shipped.rs` checks the demo model's record
//! against studies this build generates. `brainclip train` writes the record itself; this is
//! how the shipped runs got theirs:
//!
//! ```text
//! RUN=models/demo COHORT=data/demo cargo run --release --example record_training_set
//! RUN=models/large COHORT=data/huge cargo run --release --example record_training_set
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;

use brainclip::config::Split;
use brainclip::io::cache::{PreprocessCache, default_cache_dir};
use brainclip::io::cohort::read_cohort;
use brainclip::train::data::prepare;
use brainclip::train::provenance::{TrainingSet, read_training_set, record_training_set};

fn main() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("set {k}"));
    let run = env("RUN");
    let cohort = read_cohort(Path::new(&env("COHORT"))).unwrap();
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let train = prepare(&cohort, &[Split::Train], &cache).unwrap();
    let val = prepare(&cohort, &[Split::Val], &cache).unwrap();
    record_training_set(Path::new(&run), TrainingSet::of(&train, &val)).unwrap();
    let set = read_training_set(Path::new(&run)).unwrap().unwrap();
    println!(
        "{run}: {} studies recorded ({} train, {} val)",
        set.studies.len(),
        train.len(),
        val.len()
    );
}
