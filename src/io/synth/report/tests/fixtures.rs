//! Random-but-valid findings of every label, for the report writer's tests.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::Label;
use crate::io::synth::findings::{
    Atrophy, BleedPattern, Finding, Incidentals, Region, Side, Sinus, StudyFindings, Territory,
};

fn one_of<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn lateral(rng: &mut ChaCha8Rng) -> Side {
    one_of(rng, &[Side::Left, Side::Right])
}

fn infarct(rng: &mut ChaCha8Rng) -> Finding {
    let (territory, region) = one_of(
        rng,
        &[
            (Territory::Mca, Region::FrontalLobe),
            (Territory::Mca, Region::Insula),
            (Territory::Mca, Region::TemporalLobe),
            (Territory::Aca, Region::MedialFrontal),
            (Territory::Pca, Region::OccipitalLobe),
            (Territory::Pca, Region::Thalamus),
            (Territory::Cerebellar, Region::Cerebellum),
            (Territory::Watershed, Region::CentrumSemiovale),
            (Territory::Perforator, Region::Putamen),
            (Territory::Perforator, Region::InternalCapsule),
            (Territory::Perforator, Region::Pons),
        ],
    );
    let lacunar = territory == Territory::Perforator;
    let side = lateral(rng);
    let size_mm = if lacunar {
        rng.random_range(5.0..15.0)
    } else {
        rng.random_range(20.0..70.0)
    };
    if rng.random_bool(0.5) {
        Finding::AcuteInfarct {
            territory,
            region,
            side,
            size_mm,
            lacunar,
            haemorrhagic_transformation: !lacunar && rng.random_bool(0.3),
            centre_mni: [0.0; 3],
        }
    } else {
        Finding::ChronicInfarct {
            territory,
            region,
            side,
            size_mm,
            lacunar,
            centre_mni: [0.0; 3],
        }
    }
}

fn haemorrhage(rng: &mut ChaCha8Rng) -> Finding {
    if rng.random_bool(0.6) {
        Finding::Haematoma {
            region: one_of(
                rng,
                &[
                    Region::Putamen,
                    Region::Thalamus,
                    Region::FrontalLobe,
                    Region::ParietalLobe,
                    Region::Cerebellum,
                ],
            ),
            side: lateral(rng),
            size_mm: rng.random_range(12.0..60.0),
            oedema: rng.random_bool(0.7),
            mass_effect: rng.random_bool(0.5),
            centre_mni: [0.0; 3],
        }
    } else {
        let count = rng.random_range(3..20);
        Finding::Microbleeds {
            count,
            pattern: one_of(rng, &[BleedPattern::Deep, BleedPattern::Lobar]),
            centres_mni: vec![[0.0; 3]; count],
        }
    }
}

fn tumour(rng: &mut ChaCha8Rng) -> Finding {
    match rng.random_range(0..4) {
        0 => Finding::Glioma {
            region: one_of(
                rng,
                &[
                    Region::FrontalLobe,
                    Region::TemporalLobe,
                    Region::ParietalLobe,
                ],
            ),
            side: lateral(rng),
            size_mm: rng.random_range(20.0..60.0),
            necrosis: rng.random_bool(0.6),
            midline_shift_mm: one_of(rng, &[0.0, 3.0, 6.5, 9.0]),
            centre_mni: [0.0; 3],
        },
        1 => {
            let count = rng.random_range(1..7);
            let side = if count == 1 {
                lateral(rng)
            } else {
                one_of(rng, &[Side::Left, Side::Right, Side::Bilateral])
            };
            let regions = (0..count)
                .map(|_| {
                    one_of(
                        rng,
                        &[
                            Region::FrontalLobe,
                            Region::ParietalLobe,
                            Region::OccipitalLobe,
                            Region::Cerebellum,
                        ],
                    )
                })
                .collect();
            Finding::Metastases {
                count,
                largest_mm: rng.random_range(8.0..30.0),
                side,
                regions,
                centres_mni: vec![[0.0; 3]; count],
            }
        }
        2 => {
            let region = one_of(
                rng,
                &[
                    Region::Convexity,
                    Region::Falx,
                    Region::SphenoidWing,
                    Region::Parasagittal,
                ],
            );
            let side = if region == Region::Falx && rng.random_bool(0.5) {
                Side::Midline
            } else {
                lateral(rng)
            };
            Finding::Meningioma {
                region,
                side,
                size_mm: rng.random_range(15.0..50.0),
                centre_mni: [0.0; 3],
            }
        }
        _ => Finding::PituitaryMacroadenoma {
            size_mm: rng.random_range(11.0..30.0),
            suprasellar_extension: rng.random_bool(0.5),
            centre_mni: [0.0; 3],
        },
    }
}

fn other(rng: &mut ChaCha8Rng) -> Finding {
    match rng.random_range(0..4) {
        0 => Finding::SmallVesselDisease {
            fazekas: rng.random_range(2..=3),
            lacunes: rng.random_range(0..4),
        },
        1 => {
            let count = rng.random_range(3..15);
            let regions = (0..count)
                .map(|_| {
                    one_of(
                        rng,
                        &[
                            Region::Periventricular,
                            Region::Juxtacortical,
                            Region::CorpusCallosum,
                            Region::Pons,
                            Region::CentrumSemiovale,
                        ],
                    )
                })
                .collect();
            Finding::Demyelination {
                count,
                regions,
                active: rng.random_bool(0.3),
                centres_mni: vec![[0.0; 3]; count],
            }
        }
        2 => Finding::Hydrocephalus {
            evans_index: rng.random_range(0.31..0.42),
            periventricular_halo: rng.random_bool(0.5),
        },
        _ => {
            let region = one_of(rng, &[Region::MiddleCranialFossa, Region::PosteriorFossa]);
            let side = if region == Region::PosteriorFossa {
                Side::Midline
            } else {
                lateral(rng)
            };
            Finding::ArachnoidCyst {
                region,
                side,
                size_mm: rng.random_range(20.0..60.0),
                centre_mni: [0.0; 3],
            }
        }
    }
}

/// The side of the main finding when it has one.
pub(super) fn main_side(f: &StudyFindings) -> Option<Side> {
    f.findings.iter().find_map(|finding| match finding {
        Finding::AcuteInfarct { side, .. }
        | Finding::ChronicInfarct { side, .. }
        | Finding::Haematoma { side, .. }
        | Finding::Glioma { side, .. }
        | Finding::Metastases { side, .. }
        | Finding::Meningioma { side, .. }
        | Finding::ArachnoidCyst { side, .. } => Some(*side),
        _ => None,
    })
}

/// A random-but-valid study of `label`; sinus disease never lies on the side opposite the
/// main finding, so that side words can be checked strictly.
pub(super) fn random_study(label: Label, rng: &mut ChaCha8Rng) -> StudyFindings {
    let findings = match label {
        Label::Infarct => vec![infarct(rng)],
        Label::Hemorrhage => vec![haemorrhage(rng)],
        Label::Tumor => vec![tumour(rng)],
        Label::Other => vec![other(rng)],
        Label::Normal => vec![],
    };
    let mut study = StudyFindings {
        label,
        age_years: rng.random_range(25..90),
        findings,
        incidental: Incidentals {
            atrophy: one_of(rng, &[Atrophy::None, Atrophy::Mild, Atrophy::Moderate]),
            fazekas: rng.random_range(0..=1),
            wmh_foci: rng.random_range(0..6),
            sinus: None,
        },
    };
    if rng.random_bool(0.4) {
        let sinus = one_of(rng, &[Sinus::Maxillary, Sinus::Ethmoid]);
        let side = match main_side(&study) {
            Some(s @ (Side::Left | Side::Right)) => one_of(rng, &[s, Side::Bilateral]),
            _ => one_of(rng, &[Side::Left, Side::Right, Side::Bilateral]),
        };
        study.incidental.sinus = Some((sinus, side));
    }
    study
}
