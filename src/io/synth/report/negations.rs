//! Negations that name other classes ("No acute infarct, haemorrhage or mass."), drawn only
//! from what the findings do not contain.

use rand::Rng;

use super::Parts;
use super::phrases::{chance, join_and, pick};
use crate::io::synth::findings::{Finding, Region};

/// What the main findings contain, as far as negations and incidentals must not contradict it.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Present {
    pub(super) normal: bool,
    pub(super) acute_infarct: bool,
    pub(super) chronic_infarct: bool,
    pub(super) restricted_diffusion: bool,
    pub(super) blood: bool,
    pub(super) mass: bool,
    pub(super) mass_effect: bool,
    pub(super) midline_shift: bool,
    pub(super) hydrocephalus: bool,
    pub(super) cyst: bool,
    pub(super) demyelination: bool,
    pub(super) small_vessel: bool,
    pub(super) sella: bool,
    pub(super) posterior_fossa: bool,
}

impl Present {
    /// Whether the findings usually prompt a call to the referrer.
    pub(super) fn urgent(self) -> bool {
        self.acute_infarct || (self.blood && self.mass) || self.midline_shift || self.hydrocephalus
    }

    /// Summarises the findings of one study.
    pub(super) fn of(findings: &[Finding]) -> Self {
        let mut p = Present {
            normal: findings.is_empty(),
            ..Present::default()
        };
        for finding in findings {
            match finding {
                Finding::AcuteInfarct {
                    haemorrhagic_transformation,
                    ..
                } => {
                    p.acute_infarct = true;
                    p.restricted_diffusion = true;
                    p.blood |= *haemorrhagic_transformation;
                }
                Finding::ChronicInfarct { .. } => p.chronic_infarct = true,
                Finding::Haematoma { mass_effect, .. } => {
                    p.blood = true;
                    p.mass = true;
                    p.restricted_diffusion = true; // blood products give mixed DWI signal
                    p.mass_effect |= *mass_effect;
                    p.midline_shift |= *mass_effect;
                }
                Finding::Microbleeds { .. } => p.blood = true,
                Finding::Glioma {
                    midline_shift_mm, ..
                } => {
                    p.mass = true;
                    p.mass_effect = true;
                    p.restricted_diffusion = true;
                    p.midline_shift |= *midline_shift_mm >= 0.5;
                }
                Finding::Metastases { .. } | Finding::Meningioma { .. } => {
                    p.mass = true;
                    p.mass_effect = true;
                    p.restricted_diffusion = true;
                }
                Finding::PituitaryMacroadenoma { .. } => {
                    p.mass = true;
                    p.mass_effect = true;
                    p.sella = true;
                }
                Finding::SmallVesselDisease { .. } => p.small_vessel = true,
                Finding::Demyelination { active, .. } => {
                    p.demyelination = true;
                    p.restricted_diffusion |= *active;
                }
                Finding::Hydrocephalus { .. } => p.hydrocephalus = true,
                Finding::ArachnoidCyst { region, .. } => {
                    p.cyst = true;
                    p.posterior_fossa |= *region == Region::PosteriorFossa;
                }
            }
        }
        p
    }
}

/// Things a report may deny.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Neg {
    AcuteInfarct,
    RestrictedDiffusion,
    Haemorrhage,
    Mass,
    MassEffect,
    MidlineShift,
    Hydrocephalus,
    ExtraAxial,
    Demyelination,
    FocalLesion,
}

impl Neg {
    const ALL: [Neg; 10] = [
        Neg::AcuteInfarct,
        Neg::RestrictedDiffusion,
        Neg::Haemorrhage,
        Neg::Mass,
        Neg::MassEffect,
        Neg::MidlineShift,
        Neg::Hydrocephalus,
        Neg::ExtraAxial,
        Neg::Demyelination,
        Neg::FocalLesion,
    ];

    fn allowed(self, p: Present) -> bool {
        match self {
            Neg::AcuteInfarct => !p.acute_infarct,
            Neg::RestrictedDiffusion => !p.restricted_diffusion,
            Neg::Haemorrhage => !p.blood,
            Neg::Mass => !p.mass,
            Neg::MassEffect => !p.mass_effect,
            Neg::MidlineShift => !p.midline_shift,
            Neg::Hydrocephalus => !p.hydrocephalus,
            Neg::ExtraAxial => !p.cyst,
            Neg::Demyelination => !p.demyelination,
            Neg::FocalLesion => true,
        }
    }

    /// How often a normal report's negation list names this item, relative to the others.
    fn weight(self) -> f64 {
        match self {
            Neg::AcuteInfarct | Neg::Haemorrhage | Neg::Mass => 3.0,
            Neg::RestrictedDiffusion | Neg::FocalLesion => 1.5,
            Neg::Demyelination | Neg::ExtraAxial => 0.5,
            _ => 1.0,
        }
    }

    /// The item as a noun phrase, for lists after "No".
    fn noun<R: Rng + ?Sized>(self, rng: &mut R, p: Present) -> &'static str {
        match self {
            Neg::AcuteInfarct => pick(
                rng,
                &[
                    "acute infarct",
                    "acute infarct",
                    "acute ischaemia",
                    "acute infarction",
                ],
            ),
            Neg::RestrictedDiffusion => "restricted diffusion",
            Neg::Haemorrhage => pick(
                rng,
                &[
                    "haemorrhage",
                    "haemorrhage",
                    "intracranial haemorrhage",
                    "blood products",
                ],
            ),
            Neg::Mass => pick(
                rng,
                &[
                    "mass",
                    "mass lesion",
                    "space-occupying lesion",
                    "SOL",
                    "tumour",
                ],
            ),
            Neg::MassEffect => "mass effect",
            Neg::MidlineShift => "midline shift",
            Neg::Hydrocephalus => "hydrocephalus",
            Neg::ExtraAxial => "extra-axial collection",
            Neg::Demyelination => "demyelination",
            Neg::FocalLesion if p.normal => {
                pick(rng, &["focal lesion", "focal parenchymal abnormality"])
            }
            Neg::FocalLesion => "other focal abnormality",
        }
    }

    /// The item as a sentence of its own.
    fn sentence<R: Rng + ?Sized>(self, rng: &mut R, p: Present) -> &'static str {
        match self {
            Neg::AcuteInfarct => pick(
                rng,
                &[
                    "No acute infarct.",
                    "No evidence of acute ischaemia.",
                    "No acute ischaemic lesion.",
                ],
            ),
            Neg::RestrictedDiffusion => pick(
                rng,
                &[
                    "No restricted diffusion to suggest acute ischaemia.",
                    "No diffusion restriction.",
                    "No restricted diffusion.",
                ],
            ),
            Neg::Haemorrhage => pick(
                rng,
                &[
                    "No intracranial haemorrhage.",
                    "No blooming on SWI/T2* to suggest haemorrhage.",
                    "No susceptibility artefact to suggest blood products.",
                    "No haemorrhage.",
                ],
            ),
            Neg::Mass => pick(
                rng,
                &[
                    "No intracranial mass.",
                    "No space-occupying lesion.",
                    "No mass lesion.",
                ],
            ),
            Neg::MassEffect if !p.mass => pick(
                rng,
                &[
                    "No mass effect.",
                    "No significant mass effect.",
                    "No mass or mass effect.",
                ],
            ),
            Neg::MassEffect => pick(rng, &["No mass effect.", "No significant mass effect."]),
            Neg::MidlineShift => pick(rng, &["No midline shift.", "No midline shift."]),
            Neg::Hydrocephalus => "No hydrocephalus.",
            Neg::ExtraAxial => "No extra-axial collection.",
            Neg::Demyelination => "No features to suggest demyelination.",
            Neg::FocalLesion if p.normal => pick(
                rng,
                &["No focal parenchymal lesion.", "No focal abnormality."],
            ),
            Neg::FocalLesion => pick(
                rng,
                &[
                    "No other focal abnormality.",
                    "No other significant finding.",
                ],
            ),
        }
    }
}

/// Draws `k` distinct allowed negations, weighted.
fn draw_negations<R: Rng + ?Sized>(rng: &mut R, p: Present, k: usize) -> Vec<Neg> {
    let mut pool: Vec<Neg> = Neg::ALL.into_iter().filter(|n| n.allowed(p)).collect();
    let mut chosen = Vec::new();
    while chosen.len() < k && !pool.is_empty() {
        let total: f64 = pool.iter().map(|n| n.weight()).sum();
        let mut x = rng.random_range(0.0..total);
        let mut index = pool.len() - 1;
        for (i, n) in pool.iter().enumerate() {
            if x < n.weight() {
                index = i;
                break;
            }
            x -= n.weight();
        }
        chosen.push(pool.swap_remove(index));
    }
    chosen
}

/// Negations naming other classes: more and longer lists for normal studies.
/// `extra` lengthens the list for fuller reports.
pub(super) fn negations<R: Rng + ?Sized>(rng: &mut R, p: Present, extra: usize, parts: &mut Parts) {
    let k = extra
        + if p.normal {
            pick(rng, &[0, 0, 1, 1, 2, 2, 3])
        } else {
            pick(rng, &[0, 0, 0, 1, 1, 2])
        };
    let items = draw_negations(rng, p, k);
    if items.len() >= 2 && chance(rng, 0.6) {
        let nouns: Vec<String> = items.iter().map(|n| n.noun(rng, p).to_string()).collect();
        let sentence = match rng.random_range(0..4) {
            0 => format!("No {}.", join_and(&nouns, "or")),
            1 => format!("No {}.", nouns.join(" / ")),
            2 => format!("No evidence of {}.", join_and(&nouns, "or")),
            _ => format!("No {}.", join_and(&nouns, "or")),
        };
        parts.negations.push(sentence);
    } else {
        for n in items {
            parts.negations.push(n.sentence(rng, p).to_string());
        }
    }
}
