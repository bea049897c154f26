//! Wording of the haemorrhages: parenchymal haematoma and microbleeds.

use rand::Rng;

use super::phrases::{
    chance, count_phrase, fmt_mm, hedge, pick, region_in, region_pre, size_after, size_bare,
};
use super::{Parts, push_main};
use crate::io::synth::findings::{BleedPattern, Region, Side};

/// Parenchymal haematoma, with blooming and optional oedema and mass effect.
pub(super) fn haematoma<R: Rng + ?Sized>(
    rng: &mut R,
    region: Region,
    side: Side,
    size_mm: f64,
    oedema: bool,
    mass_effect: bool,
    parts: &mut Parts,
) {
    let noun = pick(
        rng,
        &[
            "haematoma",
            "haematoma",
            "intraparenchymal haemorrhage",
            "parenchymal haematoma",
            "intracerebral haemorrhage",
            "bleed",
            "intraparenchymal haematoma",
        ],
    );
    let deep = matches!(
        region,
        Region::Putamen
            | Region::Caudate
            | Region::Thalamus
            | Region::InternalCapsule
            | Region::Pons
            | Region::Cerebellum
    );
    let large = if size_mm >= 40.0 && chance(rng, 0.5) {
        "large "
    } else if size_mm <= 15.0 && chance(rng, 0.5) {
        "small "
    } else {
        ""
    };
    let acute = if oedema && chance(rng, 0.25) {
        pick(rng, &["acute ", "acute/early subacute "])
    } else {
        ""
    };
    let mut blooming_said = false;
    let main = match rng.random_range(0..4) {
        0 => {
            let size = size_after(rng, size_mm, 0.65);
            format!(
                "{large}{acute}{} {noun}{size}",
                region_pre(rng, region, side)
            )
        }
        1 => {
            let size = size_after(rng, size_mm, 0.65);
            format!(
                "{large}{acute}{noun} in the {}{size}",
                region_in(rng, region, side)
            )
        }
        2 => format!(
            "{} {acute}{} {noun}",
            size_bare(rng, size_mm),
            region_pre(rng, region, side)
        ),
        _ => {
            blooming_said = true;
            let size = size_after(rng, size_mm, 0.5);
            format!(
                "lesion with marked T2* blooming and hypointense rim in the {}{size}, {} {acute}haematoma",
                region_in(rng, region, side),
                hedge(rng)
            )
        }
    };
    let mut assoc: Vec<String> = Vec::new();
    if !blooming_said && chance(rng, 0.45) {
        assoc.push(
            pick(
                rng,
                &[
                    "marked blooming on SWI/T2*",
                    "T2* blooming with hypointense rim",
                    "susceptibility artefact on T2*",
                ],
            )
            .into(),
        );
    }
    if oedema && chance(rng, 0.8) {
        assoc.push(
            pick(
                rng,
                &[
                    "surrounding vasogenic oedema",
                    "perihaematomal oedema",
                    "moderate surrounding oedema",
                    "perilesional FLAIR hyperintensity (oedema)",
                ],
            )
            .into(),
        );
    } else if !oedema && chance(rng, 0.3) {
        assoc.push("no significant perilesional oedema".into());
    }
    if mass_effect && chance(rng, 0.85) {
        let ventricle = match side {
            Side::Left | Side::Right if region != Region::Pons && region != Region::Cerebellum => {
                let s = pick(rng, &["ipsilateral", "adjacent", "ipsilateral"]);
                format!("mass effect with effacement of the {s} lateral ventricle")
            }
            _ if matches!(region, Region::Pons | Region::Cerebellum) => {
                "mass effect on the fourth ventricle".into()
            }
            _ => "mass effect on the adjacent ventricle".into(),
        };
        assoc.push(if chance(rng, 0.5) {
            ventricle
        } else {
            pick(
                rng,
                &["local mass effect", "sulcal effacement and mass effect"],
            )
            .into()
        });
    } else if !mass_effect && chance(rng, 0.3) {
        assoc.push(pick(rng, &["no significant mass effect", "no midline shift"]).into());
    }
    if chance(rng, 0.18) {
        // ABC/2 with the two unknown axes taken as 0.8 and 0.7 of the maximal diameter.
        let ml = (0.28 * size_mm.powi(3) / 1000.0).max(0.5);
        assoc.push(format!(
            "est. volume ~{} mL",
            fmt_mm((ml * 2.0).round() / 2.0)
        ));
    }
    if chance(rng, 0.15) {
        assoc.push("no intraventricular extension".into());
    }
    let assoc: Vec<&str> = assoc.iter().map(String::as_str).collect();
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.55) {
        let advice = if deep {
            pick(
                rng,
                &[
                    "Likely hypertensive.",
                    "Location typical of hypertensive haemorrhage.",
                    "? hypertensive aetiology; suggest clinical correlation.",
                ],
            )
        } else {
            pick(
                rng,
                &[
                    "Follow-up MRI with contrast recommended to exclude an underlying lesion.",
                    "? underlying amyloid angiopathy or lesion; consider follow-up MRI with contrast.",
                    "Consider CTA to r/o an underlying vascular malformation.",
                ],
            )
        };
        parts.advice.push(advice.into());
    }
}

/// Multiple microbleeds in a deep or lobar pattern.
pub(super) fn microbleeds<R: Rng + ?Sized>(
    rng: &mut R,
    count: usize,
    pattern: BleedPattern,
    parts: &mut Parts,
) {
    let noun = pick(
        rng,
        &[
            "microbleeds",
            "microbleeds",
            "cerebral microbleeds",
            "microhaemorrhages",
            "foci of microhaemorrhage",
        ],
    );
    let (distribution, cause) = match pattern {
        BleedPattern::Deep => (
            pick(
                rng,
                &[
                    "in a deep distribution (basal ganglia, thalami, pons)",
                    "in the deep grey nuclei and brainstem",
                    "in a central/deep distribution",
                ],
            ),
            pick(
                rng,
                &[
                    "likely hypertensive microangiopathy",
                    "in keeping with hypertensive small vessel disease",
                    "suggestive of hypertensive arteriopathy",
                ],
            ),
        ),
        BleedPattern::Lobar => (
            pick(
                rng,
                &[
                    "in a lobar distribution",
                    "in a cortico-subcortical distribution",
                    "in a peripheral/lobar distribution",
                ],
            ),
            pick(
                rng,
                &[
                    "suggestive of cerebral amyloid angiopathy",
                    "? CAA",
                    "raising the possibility of amyloid angiopathy (CAA)",
                ],
            ),
        ),
    };
    let count_text = count_phrase(rng, count);
    let main = match rng.random_range(0..3) {
        0 => format!("{count_text} {noun} on SWI/T2* {distribution}, {cause}"),
        1 => {
            let adj = match pattern {
                BleedPattern::Deep => pick(rng, &["deep", "central"]),
                BleedPattern::Lobar => pick(rng, &["lobar", "peripheral"]),
            };
            format!("{adj} microbleeds ({count}), {cause}")
        }
        _ => format!(
            "{count_text} punctate foci of T2* blooming {distribution}, {} microbleeds",
            hedge(rng)
        ),
    };
    let mut assoc = Vec::new();
    if pattern == BleedPattern::Lobar && chance(rng, 0.3) {
        assoc.push("no superficial siderosis");
    }
    if chance(rng, 0.2) {
        assoc.push("no macrohaemorrhage");
    }
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.2) {
        parts
            .advice
            .push("Suggest blood pressure control/clinical correlation.".into());
    }
}
