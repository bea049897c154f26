//! Wording of the masses: glioma, metastases, meningioma and pituitary macroadenoma.

use rand::Rng;

use super::phrases::{
    chance, count_phrase, fmt_mm, hedge, join_and, pick, region_in, region_pre, side_word,
    size_after, size_bare,
};
use super::{Parts, push_main};
use crate::io::synth::findings::{Region, Side};

/// Intra-axial glioma-like mass with oedema and optional necrosis and midline shift.
pub(super) fn glioma<R: Rng + ?Sized>(
    rng: &mut R,
    region: Region,
    side: Side,
    size_mm: f64,
    necrosis: bool,
    midline_shift_mm: f64,
    parts: &mut Parts,
) {
    let (noun, dx) = if necrosis {
        (
            pick(
                rng,
                &[
                    "heterogeneous intra-axial mass with central necrosis",
                    "necrotic intra-axial mass",
                    "heterogeneous mass with a necrotic core",
                ],
            ),
            pick(
                rng,
                &[
                    "suspicious for high-grade glioma",
                    "likely high-grade glioma (GBM)",
                    "most likely glioblastoma",
                    "c/w high-grade glial neoplasm",
                    "? high-grade glioma",
                ],
            ),
        )
    } else {
        (
            pick(
                rng,
                &[
                    "heterogeneous intra-axial mass",
                    "infiltrative intra-axial lesion",
                    "expansile intra-axial mass",
                ],
            ),
            pick(
                rng,
                &[
                    "likely glioma",
                    "suggestive of a glial tumour",
                    "? glioma, grade indeterminate",
                    "suspicious for primary glial neoplasm",
                ],
            ),
        )
    };
    let large = if size_mm >= 45.0 && chance(rng, 0.5) {
        "large "
    } else {
        ""
    };
    let main = match rng.random_range(0..4) {
        0 => format!(
            "{large}{noun} in the {}{}, {dx}",
            region_in(rng, region, side),
            size_after(rng, size_mm, 0.75)
        ),
        1 => {
            let mass = pick(rng, &["mass", "mass lesion", "neoplasm", "tumour"]);
            format!(
                "{large}{} {mass}{}, {dx}",
                region_pre(rng, region, side),
                size_after(rng, size_mm, 0.75)
            )
        }
        2 => format!(
            "{dx} in the {}, {}",
            region_in(rng, region, side),
            size_bare(rng, size_mm)
        ),
        _ => format!(
            "{} {}{}: {noun}, {dx}",
            size_bare(rng, size_mm),
            region_pre(rng, region, side),
            pick(rng, &[" mass", " lesion"])
        ),
    };
    let mut assoc: Vec<String> = Vec::new();
    if chance(rng, 0.85) {
        assoc.push(
            pick(
                rng,
                &[
                    "surrounding vasogenic oedema",
                    "extensive perilesional FLAIR hyperintensity (oedema/infiltration)",
                    "FLAIR-bright oedema",
                    "marked surrounding oedema",
                ],
            )
            .into(),
        );
    }
    let shift = fmt_mm(midline_shift_mm);
    if midline_shift_mm >= 0.5 {
        if chance(rng, 0.9) {
            let text = if midline_shift_mm >= 6.0 && chance(rng, 0.3) {
                format!("subfalcine herniation with {shift} mm midline shift")
            } else {
                pick(
                    rng,
                    &["{} mm midline shift", "midline shift of {} mm", "MLS {} mm"],
                )
                .replace("{}", &shift)
            };
            assoc.push(text);
        }
        if side != Side::Midline && chance(rng, 0.5) {
            assoc.push("effacement of the ipsilateral lateral ventricle".into());
        }
    } else if chance(rng, 0.45) {
        assoc.push(pick(rng, &["no midline shift", "no significant midline shift"]).into());
    }
    let assoc: Vec<&str> = assoc.iter().map(String::as_str).collect();
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.6) {
        let advice = pick(
            rng,
            &[
                "Recommend MRI with contrast and perfusion.",
                "Suggest neurosurgical referral/MDT discussion.",
                "Consider follow-up MRI with contrast.",
                "DDx: solitary metastasis, lymphoma; r/o abscess.",
                "Contrast-enhanced MRI recommended for characterisation.",
            ],
        );
        parts.advice.push(advice.into());
    }
}

/// Lobe adjectives and other places, for lists of metastasis sites.
fn site_words(regions: &[Region]) -> (Vec<String>, Vec<String>) {
    let mut lobes: Vec<String> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for region in regions {
        let (list, word) = match region {
            Region::FrontalLobe | Region::MedialFrontal => (&mut lobes, "frontal"),
            Region::ParietalLobe => (&mut lobes, "parietal"),
            Region::TemporalLobe | Region::MedialTemporal => (&mut lobes, "temporal"),
            Region::OccipitalLobe => (&mut lobes, "occipital"),
            Region::Cerebellum => (&mut others, "cerebellar hemisphere"),
            Region::Insula => (&mut others, "insula"),
            Region::Putamen | Region::Caudate => (&mut others, "basal ganglia"),
            Region::Thalamus => (&mut others, "thalamus"),
            Region::Pons => (&mut others, "pons"),
            _ => (&mut others, "deep white matter"),
        };
        if !list.iter().any(|w| w == word) {
            list.push(word.to_string());
        }
    }
    (lobes, others)
}

/// "in the left frontal and parietal lobes", "in both cerebral hemispheres"...
fn metastasis_sites<R: Rng + ?Sized>(rng: &mut R, side: Side, regions: &[Region]) -> String {
    let (lobes, others) = site_words(regions);
    let mut places = Vec::new();
    if !lobes.is_empty() {
        let plural = if lobes.len() > 1 { "lobes" } else { "lobe" };
        places.push(format!("{} {plural}", join_and(&lobes, "and")));
    }
    places.extend(others);
    let list = join_and(&places, "and");
    match side {
        Side::Bilateral => match rng.random_range(0..3) {
            0 => format!("in both cerebral hemispheres ({list})"),
            1 => format!("bilaterally, involving the {list}"),
            _ => "scattered bilaterally".to_string(),
        },
        _ => match side_word(rng, side) {
            Some(s) => format!("in the {s} {list}"),
            None => format!("in the {list}"),
        },
    }
}

/// One or several metastases with vasogenic oedema.
pub(super) fn metastases<R: Rng + ?Sized>(
    rng: &mut R,
    count: usize,
    largest_mm: f64,
    side: Side,
    regions: &[Region],
    parts: &mut Parts,
) {
    let count = count.max(1);
    let template = rng.random_range(0..3);
    // The solitary wording and the third template already name the oedema.
    let oedema_said = count == 1 || template == 2;
    let main = if count == 1 {
        let region = regions.first().copied().unwrap_or(Region::FrontalLobe);
        let dx = pick(
            rng,
            &[
                "? metastasis",
                "suspicious for a metastasis; primary glial tumour less likely",
                "DDx metastasis vs high-grade glioma",
                "likely a solitary metastasis",
            ],
        );
        format!(
            "solitary lesion at the grey-white junction of the {}{} with disproportionate vasogenic oedema, {dx}",
            region_in(rng, region, side),
            size_after(rng, largest_mm, 0.7)
        )
    } else {
        let sites = if chance(rng, 0.75) {
            format!(" {}", metastasis_sites(rng, side, regions))
        } else if side == Side::Bilateral {
            " in both hemispheres".to_string()
        } else {
            match side_word(rng, side) {
                Some(s) => format!(" in the {s} hemisphere"),
                None => String::new(),
            }
        };
        let largest = if chance(rng, 0.65) {
            format!(", largest {}", size_bare(rng, largest_mm))
        } else {
            String::new()
        };
        let mets = pick(
            rng,
            &[
                "metastases",
                "metastatic disease",
                "secondary deposits",
                "cerebral metastases",
                "metastatic deposits",
            ],
        );
        let lesions = pick(
            rng,
            &[
                "lesions",
                "intra-axial lesions",
                "rounded lesions",
                "nodular lesions",
                "masses",
            ],
        );
        let n = count_phrase(rng, count);
        match template {
            0 => format!(
                "{n} {lesions} at the grey-white junction{sites}{largest}, {} {mets}",
                hedge(rng)
            ),
            1 => format!("{mets}: {count} {lesions}{sites}{largest}"),
            _ => format!(
                "{n} {lesions}{sites} with surrounding oedema{largest}, {} {mets}",
                hedge(rng)
            ),
        }
    };
    let mut assoc = Vec::new();
    if !oedema_said && chance(rng, 0.6) {
        assoc.push(pick(
            rng,
            &[
                "surrounding vasogenic oedema",
                "perilesional oedema",
                "FLAIR-bright oedema around each lesion",
            ],
        ));
    }
    if chance(rng, 0.2) {
        assoc.push("no significant midline shift");
    }
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.6) {
        let advice = pick(
            rng,
            &[
                "Recommend contrast-enhanced MRI; further lesions may be occult.",
                "Suggest staging CT chest/abdomen/pelvis.",
                "? known primary; suggest clinical correlation.",
                "r/o abscesses if febrile.",
                "Consider follow-up MRI with contrast.",
            ],
        );
        parts.advice.push(advice.into());
    }
}

/// Extra-axial dural-based mass.
pub(super) fn meningioma<R: Rng + ?Sized>(
    rng: &mut R,
    region: Region,
    side: Side,
    size_mm: f64,
    parts: &mut Parts,
) {
    let dx = pick(
        rng,
        &[
            "c/w meningioma",
            "likely meningioma",
            "most likely a meningioma",
            "in keeping with meningioma",
            "typical of meningioma",
        ],
    );
    let main = match rng.random_range(0..3) {
        0 => {
            let noun = pick(
                rng,
                &[
                    "extra-axial mass",
                    "dural-based extra-axial mass",
                    "meningioma-like extra-axial mass",
                    "well-circumscribed extra-axial lesion",
                    "extra-axial lesion with a broad dural base",
                ],
            );
            format!(
                "{noun} along the {}{}, {dx}",
                region_in(rng, region, side),
                size_after(rng, size_mm, 0.75)
            )
        }
        1 => format!(
            "{} meningioma{}",
            region_pre(rng, region, side),
            size_after(rng, size_mm, 0.75)
        ),
        _ => format!(
            "{} {} extra-axial mass, {dx}",
            size_bare(rng, size_mm),
            region_pre(rng, region, side)
        ),
    };
    let mut assoc = Vec::new();
    if chance(rng, 0.3) {
        assoc.push(pick(
            rng,
            &[
                "broad dural base",
                "well-circumscribed margins",
                "dural attachment",
            ],
        ));
    }
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.5) {
        let advice = pick(
            rng,
            &[
                "Likely incidental.",
                "Consider contrast-enhanced MRI to confirm.",
                "Suggest follow-up MRI in 6-12 months.",
                "Neurosurgical opinion if symptomatic.",
            ],
        );
        parts.advice.push(advice.into());
    }
}

/// Sellar mass.
pub(super) fn pituitary<R: Rng + ?Sized>(
    rng: &mut R,
    size_mm: f64,
    suprasellar: bool,
    parts: &mut Parts,
) {
    let extension = if suprasellar && chance(rng, 0.6) {
        " with suprasellar extension"
    } else {
        ""
    };
    let main = match rng.random_range(0..3) {
        0 => format!(
            "pituitary macroadenoma{}{extension}",
            size_after(rng, size_mm, 0.75)
        ),
        1 => format!(
            "sellar mass{}{extension}, {} pituitary macroadenoma",
            size_after(rng, size_mm, 0.75),
            hedge(rng)
        ),
        _ => format!(
            "enlarged pituitary gland with a {} sellar lesion{extension}, likely macroadenoma",
            size_bare(rng, size_mm)
        ),
    };
    let mut assoc = Vec::new();
    if suprasellar {
        if extension.is_empty() || chance(rng, 0.5) {
            assoc.push(pick(
                rng,
                &[
                    "suprasellar extension abutting the optic chiasm",
                    "suprasellar extension elevating the optic chiasm",
                    "'snowman' configuration with suprasellar extension",
                    "chiasmal compression not excluded",
                ],
            ));
        }
    } else if chance(rng, 0.6) {
        assoc.push(pick(
            rng,
            &[
                "no suprasellar extension",
                "no chiasmal compression",
                "no suprasellar extension; chiasm clear",
            ],
        ));
    }
    if chance(rng, 0.2) {
        assoc.push("no definite cavernous sinus invasion");
    }
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.55) {
        let advice = if suprasellar {
            pick(
                rng,
                &[
                    "Suggest visual field assessment.",
                    "Dedicated pituitary MRI with contrast recommended.",
                    "Suggest endocrine work-up.",
                ],
            )
        } else {
            pick(
                rng,
                &[
                    "Dedicated pituitary MRI with contrast recommended.",
                    "Suggest endocrine work-up.",
                ],
            )
        };
        parts.advice.push(advice.into());
    }
}
