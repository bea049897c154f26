//! Sequence-by-sequence detail that longer impressions carry ("DWI: ... FLAIR: ..."), and the
//! normal-structure statements of a fuller report. Each statement follows from the findings'
//! imaging signature, so adding them never contradicts the image.

use rand::Rng;

use super::negations::Present;
use super::phrases::pick;
use crate::io::synth::findings::{Atrophy, BleedPattern, Finding, Incidentals};

/// Up to `n` sequence statements about one finding, in a random order.
pub(super) fn sequence_details<R: Rng + ?Sized>(
    rng: &mut R,
    finding: &Finding,
    n: usize,
) -> Vec<String> {
    let mut options: Vec<&str> = match finding {
        Finding::AcuteInfarct {
            haemorrhagic_transformation,
            ..
        } => vec![
            pick(
                rng,
                &[
                    "DWI: hyperintense with corresponding low ADC.",
                    "High DWI signal, low ADC: true restriction.",
                ],
            ),
            pick(
                rng,
                &["FLAIR: mild hyperintensity only.", "Subtle FLAIR change."],
            ),
            if *haemorrhagic_transformation {
                "T2*: petechial blooming within the infarct."
            } else {
                pick(rng, &["T2*: no blooming.", "No susceptibility on T2*."])
            },
        ],
        Finding::ChronicInfarct { .. } => vec![
            pick(
                rng,
                &[
                    "FLAIR: hyperintense gliosis around a CSF-signal cavity.",
                    "CSF-signal cavity with FLAIR-bright rim.",
                ],
            ),
            pick(
                rng,
                &[
                    "DWI: no restriction.",
                    "No diffusion restriction on DWI/ADC.",
                ],
            ),
            "Volume loss of the adjacent parenchyma.",
        ],
        Finding::Haematoma { oedema, .. } => vec![
            pick(
                rng,
                &[
                    "T2*: marked blooming with a hypointense rim.",
                    "Marked susceptibility on T2*.",
                ],
            ),
            if *oedema {
                pick(
                    rng,
                    &[
                        "FLAIR: surrounding hyperintense oedema.",
                        "Perilesional FLAIR signal (oedema).",
                    ],
                )
            } else {
                "FLAIR: little surrounding signal change."
            },
            "DWI: heterogeneous signal from blood products.",
        ],
        Finding::Microbleeds { pattern, .. } => vec![
            "T2*: punctate hypointense foci (blooming).",
            "No corresponding FLAIR or DWI abnormality.",
            match pattern {
                BleedPattern::Deep => "Distribution: basal ganglia, thalami and brainstem.",
                BleedPattern::Lobar => {
                    "Distribution: cortico-subcortical, sparing the deep grey nuclei."
                }
            },
        ],
        Finding::Glioma { necrosis, .. } => vec![
            pick(
                rng,
                &[
                    "FLAIR: extensive surrounding hyperintensity.",
                    "FLAIR signal extends well beyond the solid component.",
                ],
            ),
            if *necrosis {
                "Central necrotic component, fluid-like on DWI."
            } else {
                "No necrotic component."
            },
            "Heterogeneous signal on T2*.",
        ],
        Finding::Metastases { count: 1, .. } => vec![
            "FLAIR: vasogenic oedema around the lesion.",
            "Lesion centred at the grey-white junction.",
            "Oedema disproportionate to lesion size.",
        ],
        Finding::Metastases { .. } => vec![
            "FLAIR: vasogenic oedema around the lesions.",
            "Lesions centred at the grey-white junction.",
            "Oedema disproportionate to lesion size.",
        ],
        Finding::Meningioma { .. } => vec![
            "Broad-based dural attachment.",
            "Extra-axial location, displacing rather than infiltrating the cortex.",
        ],
        Finding::PituitaryMacroadenoma {
            suprasellar_extension,
            ..
        } => vec![
            "Sella expanded.",
            "Mass centred in the pituitary fossa.",
            if *suprasellar_extension {
                "Extends through the diaphragma sellae."
            } else {
                "Confined to the sella."
            },
        ],
        Finding::SmallVesselDisease { .. } => vec![
            "FLAIR: confluent hyperintensities in the periventricular and deep WM.",
            "DWI: no acute lacunar infarct.",
            "Sparing of the subcortical U-fibres.",
        ],
        Finding::Demyelination { active, .. } => vec![
            "FLAIR: ovoid hyperintense lesions.",
            if *active {
                "DWI: one lesion restricts."
            } else {
                "DWI: no restriction."
            },
            "No mass effect from the lesions.",
        ],
        Finding::Hydrocephalus { .. } => vec![
            "Sulci not proportionately enlarged.",
            "Temporal horns dilated.",
            "Aqueduct patent on available sequences.",
        ],
        Finding::ArachnoidCyst { .. } => vec![
            "Follows CSF signal on DWI, FLAIR and T2*.",
            "No restricted diffusion.",
            "Displaces the adjacent brain without oedema.",
        ],
    };
    let mut out = Vec::new();
    while out.len() < n && !options.is_empty() {
        let i = rng.random_range(0..options.len());
        out.push(options.swap_remove(i).to_string());
    }
    out
}

/// Up to `n` statements about normal structures that the findings leave untouched.
pub(super) fn normal_structures<R: Rng + ?Sized>(
    rng: &mut R,
    p: Present,
    inc: &Incidentals,
    n: usize,
) -> Vec<String> {
    let mut options: Vec<&str> = vec![
        "Normal intracranial flow voids.",
        "Orbits unremarkable.",
        "Craniocervical junction unremarkable.",
        "Mastoid air cells clear.",
        "Globes and optic nerves unremarkable.",
        "Extracranial soft tissues unremarkable.",
        "Cerebellar tonsils normally positioned.",
    ];
    if p.normal || (!p.mass && !p.acute_infarct) {
        options.push(pick(
            rng,
            &[
                "Grey-white differentiation preserved.",
                "Normal grey-white matter differentiation.",
            ],
        ));
    }
    if inc.atrophy != Atrophy::Moderate && !p.hydrocephalus && !p.mass && !p.chronic_infarct {
        options.push(pick(
            rng,
            &[
                "Ventricles and sulci normal for age.",
                "Ventricular size normal.",
            ],
        ));
    }
    if !p.sella {
        options.push("Pituitary gland normal in size.");
        options.push("Calvarium and skull base unremarkable.");
    }
    if inc.sinus.is_none() {
        options.push("Visualised paranasal sinuses clear.");
    }
    if p.normal {
        options.push("Posterior fossa unremarkable.");
        options.push("Brainstem and cerebellum unremarkable.");
        options.push("Basal ganglia and thalami unremarkable.");
        options.push("Corpus callosum normal.");
    }
    let mut out = Vec::new();
    while out.len() < n && !options.is_empty() {
        let i = rng.random_range(0..options.len());
        out.push(options.swap_remove(i).to_string());
    }
    out
}

/// A longer closing remark on one finding (differential, aetiology), for the fullest reports.
pub(super) fn discussion<R: Rng + ?Sized>(rng: &mut R, finding: &Finding) -> &'static str {
    match finding {
        Finding::AcuteInfarct { lacunar: true, .. } => pick(
            rng,
            &[
                "Small deep infarct, in keeping with a small vessel aetiology.",
                "Lacunar pattern; small vessel disease the likely mechanism, though other causes cannot be excluded on imaging alone.",
            ],
        ),
        Finding::AcuteInfarct { .. } => pick(
            rng,
            &[
                "Territorial pattern raises the possibility of an embolic source; suggest cardiac and carotid work-up.",
                "Appearances typical of an acute ischaemic infarct in an arterial territory.",
            ],
        ),
        Finding::ChronicInfarct { .. } => pick(
            rng,
            &[
                "In keeping with a previous ischaemic event; correlate with clinical history.",
                "No acute component; appearances those of an established infarct.",
            ],
        ),
        Finding::Haematoma { .. } => {
            "Differential for the underlying cause includes hypertension, amyloid angiopathy and an underlying lesion; follow-up imaging advised once the blood products have resolved."
        }
        Finding::Microbleeds { .. } => pick(
            rng,
            &[
                "Microbleed burden may be relevant to decisions about antithrombotic treatment.",
                "No macroscopic haemorrhage; the microbleed pattern is the main finding.",
            ],
        ),
        Finding::Glioma { .. } => {
            "Differential includes solitary metastasis and lymphoma; abscess considered less likely given the appearances."
        }
        Finding::Metastases { .. } => {
            "Differential includes multifocal primary tumour and abscesses; correlation with any oncological history advised."
        }
        Finding::Meningioma { .. } => {
            "Differential includes a dural metastasis or solitary fibrous tumour, both considered less likely."
        }
        Finding::PituitaryMacroadenoma { .. } => {
            "Differential includes craniopharyngioma and Rathke cleft cyst, considered less likely."
        }
        Finding::SmallVesselDisease { .. } => {
            "Pattern typical of chronic hypertensive or age-related microangiopathy."
        }
        Finding::Demyelination { .. } => {
            "Differential includes small vessel disease, though the distribution and morphology favour demyelination."
        }
        Finding::Hydrocephalus { .. } => {
            "No obstructive cause identified on this study; CSF flow study could be considered."
        }
        Finding::ArachnoidCyst { .. } => {
            "Differential includes epidermoid cyst, made unlikely by the absence of restricted diffusion."
        }
    }
}

/// A line saying how the result was communicated.
pub(super) fn communication<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    pick(
        rng,
        &[
            "Findings communicated to the referring clinician at the time of reporting.",
            "Results discussed with the on-call team by telephone.",
            "Urgent findings flagged to the requesting team.",
        ],
    )
}
