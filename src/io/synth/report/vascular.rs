//! Wording of the infarcts, acute and chronic.
//! Text is written in British spelling; the caller converts whole reports to American.

use rand::Rng;

use super::phrases::{chance, hedge, pick, region_in, region_pre, size_after, territory_phrase};
use super::{Parts, push_main};
use crate::io::synth::findings::{Region, Side, Territory};

/// Where and what an infarct is, as the findings give it.
pub(super) struct Infarct {
    pub territory: Territory,
    pub region: Region,
    pub side: Side,
    pub size_mm: f64,
    pub lacunar: bool,
}

/// Acute infarct: restricted diffusion, mild FLAIR change, optional petechial haemorrhage.
pub(super) fn acute_infarct<R: Rng + ?Sized>(
    rng: &mut R,
    inf: &Infarct,
    haemorrhagic_transformation: bool,
    parts: &mut Parts,
) {
    let acute = pick(
        rng,
        &[
            "acute",
            "acute",
            "acute",
            "recent",
            "hyperacute",
            "acute/subacute",
        ],
    );
    let noun = if inf.lacunar {
        pick(
            rng,
            &[
                "lacunar infarct",
                "lacunar infarct",
                "small deep infarct",
                "lacunar ischaemic lesion",
            ],
        )
    } else {
        pick(
            rng,
            &[
                "infarct",
                "infarct",
                "infarction",
                "ischaemic lesion",
                "ischaemic infarct",
            ],
        )
    };
    let size = size_after(rng, inf.size_mm, 0.6);
    let mut main_is_descriptive = false;
    let main = match rng.random_range(0..5) {
        0 => {
            let terr = territory_phrase(rng, inf.territory, inf.region, inf.side);
            let involving = if chance(rng, 0.5) {
                format!(", involving the {}", region_in(rng, inf.region, inf.side))
            } else {
                String::new()
            };
            format!("{acute} {noun} in the {terr}{involving}{size}")
        }
        1 => format!(
            "{acute} {} {noun}{size}",
            region_pre(rng, inf.region, inf.side)
        ),
        2 => {
            main_is_descriptive = true;
            let what = pick(
                rng,
                &[
                    "restricted diffusion",
                    "area of restricted diffusion",
                    "diffusion restriction",
                ],
            );
            let dx = pick(
                rng,
                &[
                    "acute infarct",
                    "acute ischaemia",
                    "acute infarction",
                    "acute ischaemic stroke",
                ],
            );
            format!(
                "{what} in the {}{size}, {} {dx}",
                region_in(rng, inf.region, inf.side),
                hedge(rng)
            )
        }
        3 => {
            main_is_descriptive = true;
            let what = pick(
                rng,
                &[
                    "focus of DWI hyperintensity with low ADC",
                    "DWI bright, ADC dark lesion",
                    "area of high DWI and low ADC signal",
                ],
            );
            format!(
                "{what} in the {}{size}: {acute} {noun}",
                region_in(rng, inf.region, inf.side)
            )
        }
        _ => {
            let terr = territory_phrase(rng, inf.territory, inf.region, inf.side);
            format!("{acute} {terr} {noun}{size}")
        }
    };
    let mut assoc = Vec::new();
    if haemorrhagic_transformation {
        assoc.push(pick(
            rng,
            &[
                "petechial haemorrhagic transformation",
                "haemorrhagic transformation (blooming on SWI/T2*)",
                "few foci of T2* blooming within, c/w petechial haemorrhagic transformation",
                "? early haemorrhagic transformation (T2* blooming foci)",
                "susceptibility foci within in keeping with haemorrhagic transformation",
            ],
        ));
    } else if chance(rng, 0.3) {
        assoc.push(pick(
            rng,
            &["no haemorrhagic transformation", "no blood products on T2*"],
        ));
    }
    if !main_is_descriptive && chance(rng, 0.3) {
        assoc.push(pick(
            rng,
            &[
                "corresponding low ADC",
                "restricted diffusion on DWI/ADC",
                "true diffusion restriction on ADC",
            ],
        ));
    }
    if chance(rng, 0.3) {
        assoc.push(pick(
            rng,
            &[
                "mild corresponding FLAIR hyperintensity",
                "subtle FLAIR signal change",
                "early FLAIR change",
            ],
        ));
    }
    if !inf.lacunar && chance(rng, 0.2) {
        assoc.push("no significant mass effect");
    }
    push_main(rng, parts, main, assoc);
    if inf.lacunar && chance(rng, 0.3) {
        parts.advice.push("Likely small vessel aetiology.".into());
    }
    if chance(rng, 0.35) {
        let advice = pick(
            rng,
            &[
                "Suggest vascular imaging (CTA/MRA) if not already performed.",
                "Findings discussed with the stroke team.",
                "Suggest clinical correlation.",
                "Consider cardioembolic work-up.",
                "Suggest follow-up imaging as clinically indicated.",
            ],
        );
        parts.advice.push(advice.into());
    }
}

/// Chronic infarct: gliosis and encephalomalacia, no restriction.
pub(super) fn chronic_infarct<R: Rng + ?Sized>(rng: &mut R, inf: &Infarct, parts: &mut Parts) {
    let old = pick(rng, &["chronic", "chronic", "old", "established", "remote"]);
    let noun = if inf.lacunar {
        pick(rng, &["lacune", "lacunar infarct", "lacunar infarct"])
    } else {
        pick(
            rng,
            &["infarct", "infarct", "infarction", "ischaemic infarct"],
        )
    };
    let size = size_after(rng, inf.size_mm, 0.45);
    let main = match rng.random_range(0..4) {
        0 => {
            let terr = territory_phrase(rng, inf.territory, inf.region, inf.side);
            let region = if chance(rng, 0.4) {
                format!(" ({})", region_in(rng, inf.region, inf.side))
            } else {
                String::new()
            };
            format!("{old} {terr} {noun}{region}{size}")
        }
        1 => format!(
            "{old} {noun} in the {}{size}",
            region_in(rng, inf.region, inf.side)
        ),
        2 if !inf.lacunar => {
            let terr = if chance(rng, 0.5) {
                format!(
                    "{} ",
                    territory_phrase(rng, inf.territory, inf.region, inf.side)
                )
            } else {
                String::new()
            };
            format!(
                "area of encephalomalacia and gliosis in the {}{size}, {} {old} {terr}infarct",
                region_in(rng, inf.region, inf.side),
                hedge(rng)
            )
        }
        2 => format!(
            "small CSF-filled cavity with gliotic rim in the {}{size}, {} {old} lacune",
            region_in(rng, inf.region, inf.side),
            hedge(rng)
        ),
        _ => format!(
            "{old} {} {noun}{size}",
            region_pre(rng, inf.region, inf.side)
        ),
    };
    let mut assoc = Vec::new();
    if chance(rng, 0.4) {
        assoc.push(pick(
            rng,
            &[
                "no restricted diffusion",
                "no diffusion restriction",
                "no restricted diffusion to suggest an acute component",
                "no acute component",
            ],
        ));
    }
    if !inf.lacunar && chance(rng, 0.3) {
        assoc.push(pick(
            rng,
            &[
                "surrounding gliosis",
                "FLAIR hyperintense gliotic margin",
                "volume loss",
            ],
        ));
    }
    if !inf.lacunar && inf.size_mm >= 30.0 && chance(rng, 0.2) {
        assoc.push("ex vacuo dilatation of the adjacent ventricle");
    }
    push_main(rng, parts, main, assoc);
    if inf.lacunar && chance(rng, 0.25) {
        parts.advice.push("Likely small vessel aetiology.".into());
    }
}
