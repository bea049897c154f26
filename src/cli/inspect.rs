//! `brainclip inspect PATH [--json]`: describe a NIfTI file or a study folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::config::Sequence;
use crate::io::nifti_read::{NiftiInfo, read_nifti};
use crate::io::preprocess::{ModelGrid, PREPROCESS_VERSION, registered_model_grid};
use crate::io::study::{load_study, load_volumes};

/// Arguments of `brainclip inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A `.nii` / `.nii.gz` file, or a study folder (dwi, t2s, flair, report.txt).
    pub path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One sequence of a study, for JSON output.
#[derive(Debug, Serialize)]
struct SequenceReport<'a> {
    sequence: Sequence,
    path: &'a Path,
    #[serde(flatten)]
    info: &'a NiftiInfo,
}

/// A study folder, for JSON output.
#[derive(Debug, Serialize)]
struct StudyReport<'a> {
    study_id: &'a str,
    dir: &'a Path,
    label: Option<&'a str>,
    sequences: Vec<SequenceReport<'a>>,
    registration: RegistrationReport,
    report: &'a str,
}

/// The T2*'s registration to the MNI template and the model grid it gives, for JSON output.
#[derive(Debug, Serialize)]
struct RegistrationReport {
    /// Translation (mm), rotation about x, y, z (degrees), log scale per axis; absent when
    /// the registration failed.
    params: Option<[f64; 9]>,
    /// Normalised mutual information with the template.
    nmi: Option<f64>,
    /// Why the registration failed.
    error: Option<String>,
    /// Fraction of the T2* head inside the registered grid.
    head_inside: f64,
    /// Whether the registered grid is usable (else it falls back to the head box). The
    /// model input of this build is still the head box (`preprocess` in the JSON).
    registered_grid: bool,
    /// This build's preprocessing version (`brainclip-preprocess-v1`: the head box).
    preprocess: &'static str,
}

impl RegistrationReport {
    fn new(grid: &ModelGrid) -> Self {
        let reg = grid.registration.as_ref();
        RegistrationReport {
            params: reg.ok().map(|r| r.params),
            nmi: reg.ok().map(|r| r.nmi),
            error: reg.err().map(|e| e.to_string()),
            head_inside: grid.head_inside,
            registered_grid: grid.registered,
            preprocess: PREPROCESS_VERSION,
        }
    }

    /// Human-readable lines.
    fn describe(&self) -> String {
        let mut s = String::from("registration of the T2* to the MNI template:\n");
        match (self.params, self.nmi, &self.error) {
            (Some(p), Some(nmi), _) => {
                let _ = writeln!(
                    s,
                    "  shift {:.1} {:.1} {:.1} mm, rotation {:.1} {:.1} {:.1} deg, \
                     scale {:.3} {:.3} {:.3}, NMI {nmi:.3}",
                    p[0],
                    p[1],
                    p[2],
                    p[3],
                    p[4],
                    p[5],
                    p[6].exp(),
                    p[7].exp(),
                    p[8].exp()
                );
            }
            (_, _, Some(e)) => {
                let _ = writeln!(s, "  failed: {e}");
            }
            _ => {}
        }
        let _ = writeln!(
            s,
            "  registered grid: {} ({:.0}% of the head inside it); the model input of this \
             build ({}) uses the head's bounding box",
            if self.registered_grid {
                "usable"
            } else {
                "not usable, falls back to the head box"
            },
            self.head_inside * 100.0,
            self.preprocess
        );
        s
    }
}

/// A single file, for JSON output.
#[derive(Debug, Serialize)]
struct FileReport<'a> {
    path: &'a Path,
    #[serde(flatten)]
    info: &'a NiftiInfo,
}

/// Human-readable description of one file's header, indented by `indent`.
fn describe(info: &NiftiInfo, indent: &str) -> String {
    let mut s = String::new();
    let dims: Vec<String> = info.dims.iter().map(|d| d.to_string()).collect();
    let [vx, vy, vz] = info.voxel_size_mm;
    // Writing to a String cannot fail.
    let _ = writeln!(s, "{indent}dims:         {}", dims.join(" x "));
    let _ = writeln!(s, "{indent}datatype:     {}", info.datatype);
    let _ = writeln!(s, "{indent}voxel size:   {vx:.3} x {vy:.3} x {vz:.3} mm");
    let _ = writeln!(s, "{indent}orientation:  {}", info.orientation);
    let _ = writeln!(s, "{indent}world_from_voxel ({}):", info.transform_source);
    for row in &info.world_from_voxel[..3] {
        let _ = writeln!(
            s,
            "{indent}  [{:>10.4} {:>10.4} {:>10.4} {:>10.4}]",
            row[0], row[1], row[2], row[3]
        );
    }
    if info.scl_slope != 1.0 || info.scl_inter != 0.0 {
        let _ = writeln!(
            s,
            "{indent}scaling:      value * {} + {}",
            info.scl_slope, info.scl_inter
        );
    }
    let _ = writeln!(s, "{indent}intensity:    {} .. {}", info.min, info.max);
    for w in &info.warnings {
        let _ = writeln!(s, "{indent}warning:      {w}");
    }
    s
}

fn inspect_file(path: &Path, json: bool) -> anyhow::Result<()> {
    let loaded = read_nifti(path)?;
    if json {
        let out = FileReport {
            path,
            info: &loaded.info,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", path.display());
        print!("{}", describe(&loaded.info, "  "));
    }
    Ok(())
}

fn inspect_study(dir: &Path, json: bool) -> anyhow::Result<()> {
    let study = load_study(dir)?;
    let loaded = load_volumes(&study)?;
    let t2s_path = study.sequence_path(Sequence::T2s);
    let grid = registered_model_grid(&loaded[Sequence::T2s.channel()].volume)
        .with_context(|| format!("no model grid for {}", t2s_path.display()))?;
    let registration = RegistrationReport::new(&grid);
    if json {
        let sequences = Sequence::ALL
            .iter()
            .zip(&loaded)
            .map(|(seq, l)| SequenceReport {
                sequence: *seq,
                path: study.sequence_path(*seq),
                info: &l.info,
            })
            .collect();
        let out = StudyReport {
            study_id: &study.id,
            dir: &study.dir,
            label: study.meta_label(),
            sequences,
            registration,
            report: &study.report,
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    println!("study {}  ({})", study.id, study.dir.display());
    if let Some(label) = study.meta_label() {
        println!("label (study.json): {label}");
    }
    for (seq, l) in Sequence::ALL.iter().zip(&loaded) {
        println!();
        println!(
            "{}  {}",
            seq.display_name(),
            study.sequence_path(*seq).display()
        );
        print!("{}", describe(&l.info, "  "));
    }
    println!();
    print!("{}", registration.describe());
    println!();
    println!("report:");
    for line in study.report.trim_end().lines() {
        println!("  {line}");
    }
    Ok(())
}

/// Runs `brainclip inspect`: a folder is read as a study, anything else as a NIfTI file.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.path.join("cohort.csv").is_file() {
        anyhow::bail!(
            "{} is a cohort; inspect one of its studies (studies/<id>) or a NIfTI file",
            args.path.display()
        );
    }
    if args.path.is_dir() {
        inspect_study(&args.path, args.json).context("cannot inspect the study")
    } else {
        inspect_file(&args.path, args.json).context("cannot inspect the file")
    }
}
