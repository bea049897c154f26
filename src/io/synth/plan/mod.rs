//! Class-specific planning of a study: draws the findings (what the report will say) and the
//! lesion objects, mass effects and ventricle size that render them.

mod builder;
mod masses;
mod other;
mod surroundings;
mod vascular;

use rand::Rng;
use rand::seq::IndexedRandom;

use super::anatomy::Anatomy;
use super::findings::{Atrophy, Finding, Incidentals, Side, Sinus, StudyFindings};
use super::lesion::{LesionObject, Replace};
use super::subject::MassEffect;
use super::tissue::Tissue;
use crate::config::Label;
use builder::{Builder, is_deep_wm};

/// Everything needed to render one study.
pub struct Plan {
    /// Structured findings (report source and ground truth).
    pub findings: StudyFindings,
    /// Lesion objects in template space, applied in order.
    pub lesions: Vec<LesionObject>,
    /// Mass effects.
    pub masses: Vec<MassEffect>,
    /// Lateral-ventricle enlargement for the deformation field.
    pub ventricle_amount: f64,
    /// Sulcal widening.
    pub sulcal_atrophy: f32,
}

/// Plans one study of the given class.
pub fn plan_study<R: Rng + ?Sized>(label: Label, anatomy: &Anatomy, rng: &mut R) -> Plan {
    let age_years = rng.random_range(25..=88u32);
    let atrophy = match age_years {
        0..55 => Atrophy::None,
        55..70 => {
            if rng.random_bool(0.6) {
                Atrophy::Mild
            } else {
                Atrophy::None
            }
        }
        _ => {
            if rng.random_bool(0.5) {
                Atrophy::Moderate
            } else {
                Atrophy::Mild
            }
        }
    };
    let (mut ventricle_amount, sulcal_atrophy) = match atrophy {
        Atrophy::None => (rng.random_range(0.0..0.04), 0.05),
        Atrophy::Mild => (rng.random_range(0.07..0.12), 0.3),
        Atrophy::Moderate => (rng.random_range(0.14..0.2), 0.55),
    };
    let mut b = Builder {
        rng,
        anatomy,
        lesions: Vec::new(),
        masses: Vec::new(),
    };
    surroundings::face_and_sinuses(&mut b);
    let sinus = if b.rng.random_bool(0.2) {
        let kind = if b.rng.random_bool(0.5) {
            Sinus::Maxillary
        } else {
            Sinus::Ethmoid
        };
        let side = *[Side::Left, Side::Right, Side::Bilateral]
            .choose(b.rng)
            .unwrap_or(&Side::Left);
        surroundings::sinus_disease(&mut b, kind, side);
        Some((kind, side))
    } else {
        None
    };
    let mut findings = Vec::new();
    let mut fazekas = 0u8;
    let first_lesion = b.lesions.len();
    match label {
        Label::Infarct | Label::Hemorrhage => {
            let f = if label == Label::Infarct {
                vascular::infarct(&mut b)
            } else {
                vascular::hemorrhage(&mut b)
            };
            // Infarcts and haematomas respect the midline: keep them in their hemisphere.
            let side = match &f {
                Finding::AcuteInfarct { side, .. }
                | Finding::ChronicInfarct { side, .. }
                | Finding::Haematoma { side, .. } => Some(*side),
                _ => None,
            };
            let sign = match side {
                Some(Side::Left) => -1.0,
                Some(Side::Right) => 1.0,
                _ => 0.0,
            };
            for o in &mut b.lesions[first_lesion..] {
                o.hemisphere = sign;
            }
            findings.push(f);
        }
        Label::Tumor => findings.push(masses::tumor(&mut b)),
        Label::Normal => {}
        Label::Other => {
            let f = other::other(&mut b);
            match &f {
                Finding::SmallVesselDisease { fazekas: g, .. } => fazekas = *g,
                Finding::Hydrocephalus { evans_index, .. } => {
                    ventricle_amount = evans_to_amount(*evans_index);
                }
                _ => {}
            }
            findings.push(f);
        }
    }
    let mut wmh_foci = 0;
    if fazekas == 0 {
        let p1 = if age_years >= 50 { 0.45 } else { 0.15 };
        if b.rng.random_bool(p1) {
            fazekas = 1;
            wmh_foci = b.rng.random_range(2..=6);
            for _ in 0..wmh_foci {
                let c = b.point_near([0.0, -10.0, 30.0], 18.0, is_deep_wm);
                let s = b.range(2.5, 5.0);
                let o = b.blob(c, s, Tissue::Gliosis, Replace::WhiteMatter, 0, 0.1);
                b.push(o);
            }
        }
    }
    Plan {
        findings: StudyFindings {
            label,
            age_years,
            findings,
            incidental: Incidentals {
                atrophy,
                fazekas,
                wmh_foci,
                sinus,
            },
        },
        lesions: b.lesions,
        masses: b.masses,
        ventricle_amount,
        sulcal_atrophy,
    }
}

/// Maps an Evans index to the ventricle enlargement of the deformation field (a normal
/// template Evans index is about 0.26).
fn evans_to_amount(evans: f64) -> f64 {
    (1.0 - 0.26 / evans) / 0.6
}
