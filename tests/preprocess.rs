//! Preprocessing end to end on synthetic studies: sequences stored with different voxel sizes,
//! matrices and orientations must line up in the model grid; errors name the file; the cache
//! returns what was computed and never trusts a damaged entry.

// Test helpers outside `#[test]` fns are not covered by `allow-unwrap-in-tests`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use brainclip::config::Sequence;
use brainclip::io::cache::{PreprocessCache, default_cache_dir};
use brainclip::io::nifti_read::read_nifti;
use brainclip::io::nifti_write::{StoredType, write_nifti};
use brainclip::io::normalize::foreground_mask;
use brainclip::io::preprocess::{
    CHANNEL_LEN, GRID_DIMS, StudyTensor, TENSOR_SHAPE, model_grid_for, preprocess_study,
};
use brainclip::io::resample::resample_antialiased;
use brainclip::io::study::load_study;
use brainclip::io::{Affine, Volume};

/// Centre of the bright spherical "lesion", world mm (RAS+).
const LESION_MM: [f64; 3] = [20.0, -10.0, 5.0];

/// A synthetic head: an ellipsoid of tissue with a smooth texture, a bright sphere, and a
/// little background noise. Everything is defined in world space, so any storage geometry
/// samples the same anatomy.
#[derive(Clone, Copy)]
struct Phantom {
    head_semi_axes_mm: [f64; 3],
    lesion_radius_mm: f64,
    tissue: f64,
    lesion: f64,
}

impl Phantom {
    fn value(&self, p: [f64; 3], noise: f64) -> f32 {
        let [a, b, c] = self.head_semi_axes_mm;
        let r2 = (p[0] / a).powi(2) + (p[1] / b).powi(2) + (p[2] / c).powi(2);
        let d2: f64 = p.iter().zip(LESION_MM).map(|(x, l)| (x - l).powi(2)).sum();
        let v = if d2 <= self.lesion_radius_mm.powi(2) {
            self.lesion
        } else if r2 <= 1.0 {
            self.tissue * (1.0 + 0.1 * (p[0] / 7.0).sin() * (p[1] / 9.0).cos())
        } else {
            0.0
        };
        (v + 4.0 * noise) as f32
    }

    /// Samples the phantom on a grid with the given geometry.
    fn volume(&self, dims: [usize; 3], world_from_voxel: Affine, seed: u64) -> Volume {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut data = Vec::with_capacity(dims.iter().product());
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let noise = (state >> 40) as f64 / (1u64 << 24) as f64;
                    let p = world_from_voxel.apply([i as f64, j as f64, k as f64]);
                    data.push(self.value(p, noise));
                }
            }
        }
        Volume::new(dims, data, world_from_voxel).unwrap()
    }
}

/// Axis-aligned affine: voxel (0,0,0) at `origin`, steps `step` (signed, mm) along x, y, z.
fn affine(step: [f64; 3], origin: [f64; 3]) -> Affine {
    Affine::from_parts(
        [
            [step[0], 0.0, 0.0],
            [0.0, step[1], 0.0],
            [0.0, 0.0, step[2]],
        ],
        origin,
    )
}

/// Storage geometry of one sequence: file name, dims, affine.
struct Geometry {
    file: &'static str,
    dims: [usize; 3],
    world_from_voxel: Affine,
}

/// Small geometries, channel order DWI, T2*, FLAIR: DWI LPS 2 x 2 x 5 mm (uncompressed),
/// T2* RAS 1 x 1 x 4 mm, FLAIR LAS 0.8 x 0.8 x 5 mm, each with its own field of view.
fn small_geometries() -> [Geometry; 3] {
    [
        Geometry {
            file: "dwi.nii",
            dims: [56, 64, 20],
            world_from_voxel: affine([-2.0, -2.0, 5.0], [55.0, 63.0, -50.0]),
        },
        Geometry {
            file: "t2s.nii.gz",
            dims: [100, 120, 24],
            world_from_voxel: affine([1.0, 1.0, 4.0], [-49.5, -59.5, -46.0]),
        },
        Geometry {
            file: "flair.nii.gz",
            dims: [130, 150, 18],
            world_from_voxel: affine([-0.8, 0.8, 5.0], [51.6, -59.6, -42.5]),
        },
    ]
}

fn small_phantom(seq: Sequence) -> Phantom {
    let (tissue, lesion) = match seq {
        Sequence::Dwi => (80.0, 400.0),
        Sequence::T2s => (100.0, 300.0),
        Sequence::Flair => (120.0, 500.0),
    };
    Phantom {
        head_semi_axes_mm: [40.0, 50.0, 35.0],
        lesion_radius_mm: 10.0,
        tissue,
        lesion,
    }
}

/// Writes a study folder with the given geometries and report.
fn write_study(
    dir: &Path,
    geometries: &[Geometry; 3],
    phantom: fn(Sequence) -> Phantom,
    report: &str,
) {
    std::fs::create_dir_all(dir).unwrap();
    for (n, (seq, g)) in Sequence::ALL.iter().zip(geometries).enumerate() {
        let vol = phantom(*seq).volume(g.dims, g.world_from_voxel, n as u64 + 1);
        write_nifti(&dir.join(g.file), &vol, StoredType::I16).unwrap();
    }
    std::fs::write(dir.join("report.txt"), report).unwrap();
}

/// Intensity-weighted centre of the voxels above half the channel maximum, in grid voxel
/// coordinates `(w, h, d)`.
fn bright_centre(channel: &[f32]) -> [f64; 3] {
    let max = channel.iter().copied().fold(f32::MIN, f32::max);
    let [nw, nh, _] = GRID_DIMS;
    let (mut sum, mut acc) = (0.0f64, [0.0f64; 3]);
    for (n, &v) in channel.iter().enumerate() {
        if v > max / 2.0 {
            let (w, h, d) = (n % nw, (n / nw) % nh, n / (nw * nh));
            let wgt = v as f64;
            sum += wgt;
            acc[0] += wgt * w as f64;
            acc[1] += wgt * h as f64;
            acc[2] += wgt * d as f64;
        }
    }
    acc.map(|a| a / sum)
}

#[test]
fn sequences_with_different_geometry_line_up_in_the_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s001");
    write_study(
        &dir,
        &small_geometries(),
        small_phantom,
        "Acute infarct, right.\n",
    );
    let study = load_study(&dir).unwrap();
    let tensor = preprocess_study(&study).unwrap();

    assert_eq!(tensor.shape(), [3, 16, 112, 112]);
    assert_eq!(TENSOR_SHAPE, [3, 16, 112, 112]);
    assert_eq!(tensor.data.len(), StudyTensor::LEN);
    assert!(tensor.data.iter().all(|v| v.is_finite()));

    let t2s = read_nifti(study.sequence_path(Sequence::T2s))
        .unwrap()
        .volume;
    let world_from_grid = model_grid_for(&t2s).unwrap();
    assert_eq!(world_from_grid.orientation_code(), "RAS");

    let centres: Vec<[f64; 3]> = Sequence::ALL
        .iter()
        .map(|s| bright_centre(tensor.channel(*s)))
        .collect();
    let spacing = world_from_grid.column_norms();
    for (seq, c) in Sequence::ALL.iter().zip(&centres) {
        // Same grid voxel (±1) as the T2* channel.
        let t = centres[Sequence::T2s.channel()];
        for ax in 0..3 {
            assert!(
                (c[ax].round() - t[ax].round()).abs() <= 1.0,
                "{seq:?} lesion at grid {c:?}, T2* at {t:?}"
            );
        }
        // And at the lesion's world position, within one grid voxel.
        let world = world_from_grid.apply(*c);
        for ax in 0..3 {
            assert!(
                (world[ax] - LESION_MM[ax]).abs() <= spacing[ax],
                "{seq:?} lesion at world {world:?}, expected {LESION_MM:?} (spacing {spacing:?})"
            );
        }
    }

    // Mean 0, std 1 inside each channel's normalisation mask (T2* head ∩ covered by it).
    let head_grid = resample_antialiased(&t2s, GRID_DIMS, &world_from_grid).unwrap();
    let head = foreground_mask(&head_grid.data, Some(&head_grid.inside));
    assert!(head.iter().filter(|m| **m).count() > CHANNEL_LEN / 4);
    for seq in Sequence::ALL {
        let vol = read_nifti(study.sequence_path(seq)).unwrap().volume;
        let inside = resample_antialiased(&vol, GRID_DIMS, &world_from_grid)
            .unwrap()
            .inside;
        let values: Vec<f64> = tensor
            .channel(seq)
            .iter()
            .zip(head.iter().zip(&inside))
            .filter(|(_, (h, i))| **h && **i)
            .map(|(v, _)| *v as f64)
            .collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 1e-3 && (std - 1.0).abs() < 1e-3,
            "{seq:?}: mean {mean}, std {std}"
        );
    }
}

#[test]
fn study_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();

    let dir = tmp.path().join("no_flair");
    write_study(&dir, &small_geometries(), small_phantom, "Normal.\n");
    std::fs::remove_file(dir.join("flair.nii.gz")).unwrap();
    let msg = format!("{:#}", load_study(&dir).unwrap_err());
    assert!(
        msg.contains("FLAIR") && msg.contains("flair.nii.gz or flair.nii"),
        "{msg}"
    );
    assert!(msg.ends_with("no_flair"), "{msg}");

    let dir = tmp.path().join("empty_report");
    write_study(&dir, &small_geometries(), small_phantom, " \n\n");
    let msg = format!("{:#}", load_study(&dir).unwrap_err());
    assert!(
        msg.contains("report is empty") && msg.ends_with("report.txt"),
        "{msg}"
    );

    // A DWI whose geometry keeps it off the head, each refused naming the DWI file:
    // - stored 300 mm to the right of everything else: no overlap with the head;
    // - absurd voxel sizes (2e-12 mm across, 5e12 mm thick): the anti-aliasing kernel would
    //   span 1e12 voxels; refused for not covering the head, without a panic.
    for (name, step, origin, problem) in [
        (
            "far_dwi",
            [-2.0, -2.0, 5.0],
            [355.0, 63.0, -50.0],
            "does not overlap",
        ),
        (
            "absurd_dwi",
            [-2e-12, -2.0, 5e12],
            [0.0, 63.0, -50.0],
            "covers only",
        ),
    ] {
        let dir = tmp.path().join(name);
        let mut geometries = small_geometries();
        geometries[0].world_from_voxel = affine(step, origin);
        write_study(&dir, &geometries, small_phantom, "Normal.\n");
        let study = load_study(&dir).unwrap();
        let msg = format!("{:#}", preprocess_study(&study).unwrap_err());
        assert!(msg.contains(problem) && msg.ends_with("dwi.nii"), "{msg}");
    }
}

#[test]
fn cache_returns_the_same_tensor_and_recomputes_damaged_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let cohort = tmp.path().join("cohort");
    let dir = cohort.join("studies/s001");
    write_study(&dir, &small_geometries(), small_phantom, "Haematoma.\n");
    let study = load_study(&dir).unwrap();
    let cache = PreprocessCache::new(default_cache_dir(&cohort));
    assert!(cache.dir.ends_with(".cache/preprocessed"));
    assert_eq!(cache.load(&study).unwrap(), None);

    let (first, hit) = cache.get_or_compute(&study).unwrap();
    assert!(!hit);
    let (second, hit) = cache.get_or_compute(&study).unwrap();
    assert!(hit);
    assert_eq!(first, second);
    assert_eq!(cache.load(&study).unwrap().as_ref(), Some(&first));

    // Truncate the single entry: it must be recomputed, not trusted.
    let entries: Vec<_> = std::fs::read_dir(&cache.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let bytes = std::fs::read(&entries[0]).unwrap();
    assert_eq!(&bytes[..4], b"BCPP");
    std::fs::write(&entries[0], &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(cache.load(&study).unwrap(), None);
    let (third, hit) = cache.get_or_compute(&study).unwrap();
    assert!(!hit);
    assert_eq!(third, first);
    assert_eq!(
        std::fs::read(&entries[0]).unwrap(),
        bytes,
        "entry rewritten intact"
    );
}

/// Timing at clinical size (DWI 128x128x24 at 1.8 mm, T2* 256x256x24 at 0.9 mm, FLAIR
/// 320x320x24 at 0.7 mm, 5 mm slices). Prints, asserts nothing about speed:
/// `cargo test --release preprocess_clinical_size -- --ignored --nocapture`.
#[test]
#[ignore = "timing run; use --release"]
fn preprocess_clinical_size_timing() {
    let head = |seq: Sequence| Phantom {
        head_semi_axes_mm: [70.0, 85.0, 60.0],
        lesion_radius_mm: 12.0,
        ..small_phantom(seq)
    };
    let fov = |n: usize, s: f64| -(n as f64 - 1.0) * s / 2.0;
    let geometries = [
        Geometry {
            file: "dwi.nii.gz",
            dims: [128, 128, 24],
            world_from_voxel: affine(
                [-1.8, -1.8, 5.0],
                [-fov(128, 1.8), -fov(128, 1.8), fov(24, 5.0)],
            ),
        },
        Geometry {
            file: "t2s.nii.gz",
            dims: [256, 256, 24],
            world_from_voxel: affine(
                [0.9, 0.9, 5.0],
                [fov(256, 0.9), fov(256, 0.9), fov(24, 5.0)],
            ),
        },
        Geometry {
            file: "flair.nii.gz",
            dims: [320, 320, 24],
            world_from_voxel: affine(
                [-0.7, 0.7, 5.0],
                [-fov(320, 0.7), fov(320, 0.7), fov(24, 5.0)],
            ),
        },
    ];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("clinical");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, (seq, g)) in Sequence::ALL.iter().zip(&geometries).enumerate() {
        let vol = head(*seq).volume(g.dims, g.world_from_voxel, n as u64 + 1);
        write_nifti(&dir.join(g.file), &vol, StoredType::I16).unwrap();
    }
    std::fs::write(dir.join("report.txt"), "Timing.\n").unwrap();
    let study = load_study(&dir).unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let t = preprocess_study(&study).unwrap();
        times.push(start.elapsed().as_secs_f64());
        assert!(t.data.iter().all(|v| v.is_finite()));
    }
    // Phases, to see where the time goes.
    let start = Instant::now();
    let loaded = brainclip::io::study::load_volumes(&study).unwrap();
    let read_secs = start.elapsed().as_secs_f64();
    let vols = loaded.map(|l| l.volume);
    let start = Instant::now();
    let grid = model_grid_for(&vols[Sequence::T2s.channel()]).unwrap();
    let grid_secs = start.elapsed().as_secs_f64();
    let resample_secs: Vec<String> = vols
        .iter()
        .map(|v| {
            let start = Instant::now();
            resample_antialiased(v, GRID_DIMS, &grid).unwrap();
            format!("{:.3}", start.elapsed().as_secs_f64())
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "preprocess_study at clinical size: median {:.3} s, min {:.3} s; phases: read {read_secs:.3} s, \
         grid {grid_secs:.3} s, resample DWI/T2*/FLAIR {resample_secs:?} s; {} rayon threads",
        times[2],
        times[0],
        rayon::current_num_threads()
    );
}
