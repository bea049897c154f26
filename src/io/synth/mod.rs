//! The synthetic demo cohort (`brainclip synth`): real anatomy from the MNI ICBM152 templates,
//! simulated MR physics, lesions with their real imaging signatures, and reports generated
//! from the same lesion parameters. Same seed, byte-identical output.

pub mod acquire;
pub mod anatomy;
pub mod findings;
pub mod grid;
pub mod lesion;
pub mod plan;
pub mod regions;
pub mod report;
pub mod subject;
pub mod tissue;

use std::fs;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::config::{Label, Sequence, Split, SynthConfig};
use crate::io::atomic::write_atomic;
use crate::io::cohort::{CohortEntry, write_cohort_csv};
use crate::io::error::{IoError, Result};
use crate::io::nifti_write::{StoredType, write_nifti};
use crate::io::volume::Volume;

use acquire::{Geometry, acquire, draw_geometry};
use anatomy::Anatomy;
use findings::StudyFindings;
use tissue::{Protocol, SignalTable, draw_protocol, draw_tissues};

/// Version of the generator, saved with every cohort: a change of output bumps it.
pub const GENERATOR_VERSION: &str = "brainclip-synth 2";

/// What `study.json` of a synthetic study holds.
#[derive(Debug, Serialize)]
struct StudyJson<'a> {
    study_id: &'a str,
    /// The label as in `cohort.csv` (after label noise).
    label: Label,
    /// The label the images and report were generated for.
    true_label: Label,
    split: Split,
    findings: &'a StudyFindings,
    protocol: &'a Protocol,
    geometry: [(&'static str, &'a Geometry); 3],
    /// The head's pose: template (MNI) mm to scanner world mm, row-major 4x4, before the
    /// smooth deformation and atrophy (ground truth for registration).
    world_from_mni: [[f64; 4]; 4],
    generator: &'static str,
}

/// Summary of a generated cohort.
#[derive(Debug, Clone, Serialize)]
pub struct SynthSummary {
    /// Studies written.
    pub n: usize,
    /// Studies per split.
    pub train: usize,
    /// Validation studies.
    pub val: usize,
    /// Test studies.
    pub test: usize,
    /// Studies whose cohort label was flipped by label noise.
    pub noisy_labels: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Balanced labels in a seeded random order, so study ids say nothing about the class.
fn assign_labels(n: usize, seed: u64) -> Vec<Label> {
    let mut labels: Vec<Label> = (0..n).map(|i| Label::ALL[i % Label::ALL.len()]).collect();
    labels.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x1abe1));
    labels
}

/// Stratified 70/10/20 split: within each label, a seeded shuffle decides who goes where.
pub fn stratified_split(labels: &[Label], seed: u64) -> Vec<Split> {
    let mut splits = vec![Split::Train; labels.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5b11);
    for label in Label::ALL {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == label).collect();
        idx.shuffle(&mut rng);
        let n = idx.len();
        let n_test = (n as f64 * 0.2).round() as usize;
        let n_val = (n as f64 * 0.1).round() as usize;
        for (r, &i) in idx.iter().enumerate() {
            splits[i] = if r < n_test {
                Split::Test
            } else if r < n_test + n_val {
                Split::Val
            } else {
                Split::Train
            };
        }
    }
    splits
}

/// Generates a cohort into `out` (created if missing; an existing folder must be empty or
/// hold a previous cohort). `progress` is called once per finished study.
pub fn generate_cohort(
    out: &Path,
    cfg: &SynthConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<SynthSummary> {
    cfg.validate().map_err(|e| IoError::invalid(out, e))?;
    if out.exists() {
        let non_empty = fs::read_dir(out)
            .map_err(|e| IoError::os("read directory", out, e))?
            .next()
            .is_some();
        if non_empty && !out.join("cohort.csv").exists() {
            return Err(IoError::invalid(
                out,
                "output folder is not empty and holds no cohort.csv; refusing to write into it",
            ));
        }
    }
    let studies = out.join("studies");
    // Regenerating: remove the previous cohort's manifest first, so that an interrupted run
    // never leaves an old cohort.csv describing new images, and its studies, so that a
    // smaller --n leaves no stale study folders behind.
    for manifest in ["cohort.csv", "synth.json"] {
        let p = out.join(manifest);
        if p.exists() {
            fs::remove_file(&p).map_err(|e| IoError::os("remove", &p, e))?;
        }
    }
    if studies.exists() {
        fs::remove_dir_all(&studies).map_err(|e| IoError::os("remove directory", &studies, e))?;
    }
    fs::create_dir_all(&studies).map_err(|e| IoError::os("create directory", &studies, e))?;
    let all: Vec<usize> = (0..cfg.n).collect();
    let mut entries = Vec::with_capacity(cfg.n);
    let (mut noisy, mut bytes) = (0, 0);
    for r in generate_each(out, cfg, &all, progress)? {
        let (e, flipped, b) = r?;
        noisy += usize::from(flipped);
        bytes += b;
        entries.push(e);
    }
    write_cohort_csv(&out.join("cohort.csv"), &entries)?;
    let count = |s: Split| entries.iter().filter(|e| e.split == s).count();
    let summary = SynthSummary {
        n: entries.len(),
        train: count(Split::Train),
        val: count(Split::Val),
        test: count(Split::Test),
        noisy_labels: noisy,
        bytes,
    };
    let manifest = serde_json::json!({
        "generator": GENERATOR_VERSION,
        "config": cfg,
        "summary": summary,
    });
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| IoError::invalid(out, e.to_string()))?;
    write_atomic(&out.join("synth.json"), text.as_bytes())?;
    Ok(summary)
}

/// Writes only the studies at `indices` (0-based) of the cohort `cfg` describes into
/// `out/studies/`, each exactly as [`generate_cohort`] writes it (same label, split, images
/// and report; a folder already there is replaced), and returns their cohort entries (no
/// `cohort.csv` is written). Checks a few studies of a large cohort, such as a shipped run's
/// training set, without generating it all.
pub fn generate_studies(
    out: &Path,
    cfg: &SynthConfig,
    indices: &[usize],
) -> Result<Vec<CohortEntry>> {
    cfg.validate().map_err(|e| IoError::invalid(out, e))?;
    // Every index is checked before any folder is touched.
    for (k, &i) in indices.iter().enumerate() {
        if i >= cfg.n {
            return Err(IoError::invalid(
                out,
                format!("study index {i} is outside a cohort of {}", cfg.n),
            ));
        }
        if indices[..k].contains(&i) {
            return Err(IoError::invalid(
                out,
                format!("study index {i} is given twice"),
            ));
        }
    }
    for &i in indices {
        let dir = out.join("studies").join(study_id(i));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| IoError::os("remove directory", &dir, e))?;
        }
    }
    generate_each(out, cfg, indices, &|| {})?
        .into_iter()
        .map(|r| r.map(|(e, _, _)| e))
        .collect()
}

/// Generates the studies at `indices` in parallel: per study, its entry, whether its label
/// was flipped, and the bytes written.
fn generate_each(
    out: &Path,
    cfg: &SynthConfig,
    indices: &[usize],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Result<(CohortEntry, bool, u64)>>> {
    let anatomy = Anatomy::load()?;
    let labels = assign_labels(cfg.n, cfg.seed);
    let splits = stratified_split(&labels, cfg.seed);
    Ok(indices
        .par_iter()
        .map(|&i| {
            let r = generate_study(out, i, labels[i], splits[i], cfg, &anatomy);
            progress();
            r
        })
        .collect())
}

/// The id of study `i` (0-based): `demo-0001` for the first.
fn study_id(i: usize) -> String {
    format!("demo-{:04}", i + 1)
}

/// Generates study `i` and returns its cohort entry, whether its label was flipped, and
/// the bytes written.
fn generate_study(
    out: &Path,
    i: usize,
    label: Label,
    split: Split,
    cfg: &SynthConfig,
    anatomy: &Anatomy,
) -> Result<(CohortEntry, bool, u64)> {
    let id = study_id(i);
    let dir = out.join("studies").join(&id);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(i as u64 + 1);
    let plan = plan::plan_study(label, anatomy, &mut rng);
    let mut subj = subject::Subject::new(
        anatomy,
        &mut rng,
        plan.ventricle_amount,
        plan.sulcal_atrophy,
    );
    subj.lesions = plan.lesions;
    subj.masses = plan.masses;
    let protocol = draw_protocol(&mut rng);
    let tissues = draw_tissues(&mut rng, &protocol);
    let table = SignalTable::new(&tissues, &protocol);
    // The technologist centres the slab on the head.
    let world_from_mni = subj
        .mni_from_world
        .inverse()
        .unwrap_or_else(crate::io::volume::Affine::identity);
    let slab_centre = world_from_mni.apply([0.0, -18.0, 10.0]);
    let geoms: Vec<Geometry> = Sequence::ALL
        .iter()
        .map(|&s| draw_geometry(s, slab_centre, cfg.matrix_scale, &mut rng))
        .collect();
    let noise_seed: u64 = rng.random();
    // The report has its own stream so that wording changes never change the images.
    let mut report_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7e907);
    report_rng.set_stream(i as u64 + 1);
    let report = report::write_report(&plan.findings, &mut report_rng);
    // Label noise has its own stream so that changing P never changes images or reports.
    let mut noise_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x4015e);
    noise_rng.set_stream(i as u64 + 1);
    let flip = noise_rng.random_bool(cfg.label_noise);
    let cohort_label = if flip {
        let others: Vec<Label> = Label::ALL.into_iter().filter(|&l| l != label).collect();
        others[noise_rng.random_range(0..others.len())]
    } else {
        label
    };

    let mut bytes = 0u64;
    let mut write = |path: &Path, vol: &Volume, t: StoredType| -> Result<()> {
        write_nifti(path, vol, t)?;
        bytes += fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(())
    };
    for (c, seq) in Sequence::ALL.into_iter().enumerate() {
        let want_truth = seq == Sequence::T2s;
        let acq = acquire(
            &subj,
            &table,
            seq,
            &geoms[c],
            noise_seed.wrapping_add(c as u64),
            want_truth,
        );
        write(
            &dir.join(format!("{}.nii.gz", seq.file_stem())),
            &acq.image,
            StoredType::I16,
        )?;
        if let Some(t) = acq.truth {
            let mask = Volume {
                dims: acq.image.dims,
                data: t.into_iter().map(f32::from).collect(),
                world_from_voxel: acq.image.world_from_voxel,
            };
            write(
                &dir.join("truth").join("lesion.nii.gz"),
                &mask,
                StoredType::U8,
            )?;
        }
    }
    write_atomic(&dir.join("report.txt"), report.as_bytes())?;
    let json = StudyJson {
        study_id: &id,
        label: cohort_label,
        true_label: label,
        split,
        findings: &plan.findings,
        protocol: &protocol,
        geometry: [("dwi", &geoms[0]), ("t2s", &geoms[1]), ("flair", &geoms[2])],
        world_from_mni: world_from_mni.0,
        generator: GENERATOR_VERSION,
    };
    let text =
        serde_json::to_string_pretty(&json).map_err(|e| IoError::invalid(&dir, e.to_string()))?;
    write_atomic(&dir.join("study.json"), text.as_bytes())?;
    bytes += (report.len() + text.len()) as u64;
    Ok((
        CohortEntry {
            study_id: id,
            split,
            label: cohort_label,
        },
        flip,
        bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_70_10_20() {
        let labels = assign_labels(400, 42);
        let splits = stratified_split(&labels, 42);
        for l in Label::ALL {
            let of = |s: Split| {
                (0..400)
                    .filter(|&i| labels[i] == l && splits[i] == s)
                    .count()
            };
            assert_eq!(
                (of(Split::Train), of(Split::Val), of(Split::Test)),
                (56, 8, 16)
            );
        }
    }
}
