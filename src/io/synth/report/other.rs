//! Wording of the "other" findings: small-vessel disease, demyelination, hydrocephalus and
//! arachnoid cyst.

use rand::Rng;

use super::phrases::{
    chance, count_phrase, hedge, join_and, pick, region_in, region_pre, size_after, size_bare,
};
use super::{Parts, push_main};
use crate::io::synth::findings::{Region, Side};

/// "Fazekas 2", "Fazekas grade II"...
pub(super) fn fazekas_text<R: Rng + ?Sized>(rng: &mut R, grade: u8) -> String {
    let roman = match grade {
        0 => "0",
        1 => "I",
        2 => "II",
        _ => "III",
    };
    match rng.random_range(0..4) {
        0 => format!("Fazekas {grade}"),
        1 => format!("Fazekas grade {grade}"),
        2 => format!("Fazekas {roman}"),
        _ => format!("Fazekas grade {roman}"),
    }
}

/// Confluent white-matter hyperintensities, with lacunes if any.
pub(super) fn small_vessel<R: Rng + ?Sized>(
    rng: &mut R,
    fazekas: u8,
    lacunes: usize,
    parts: &mut Parts,
) {
    let grade = fazekas_text(rng, fazekas);
    let severity = if fazekas >= 3 {
        pick(rng, &["severe", "extensive", "advanced"])
    } else {
        pick(rng, &["moderate", "moderate", "moderate-severity"])
    };
    let confluent = if fazekas >= 3 {
        pick(rng, &["confluent", "extensive confluent"])
    } else {
        pick(
            rng,
            &[
                "early confluent",
                "beginning confluent",
                "patchy early confluent",
            ],
        )
    };
    let main = match rng.random_range(0..4) {
        0 => format!("{severity} chronic small vessel ischaemic change ({grade})"),
        1 => format!(
            "{confluent} periventricular and deep WM hyperintensities, {grade}, {} small vessel disease",
            hedge(rng)
        ),
        2 => format!("{severity} microangiopathic leucoencephalopathy ({grade})"),
        _ => format!(
            "{grade} white matter disease, {} chronic small vessel disease",
            hedge(rng)
        ),
    };
    let mut assoc: Vec<String> = Vec::new();
    if lacunes > 0 && chance(rng, 0.9) {
        let n = count_phrase(rng, lacunes);
        let noun = if lacunes == 1 { "lacune" } else { "lacunes" };
        let old = pick(rng, &["old ", "chronic ", ""]);
        let place = pick(
            rng,
            &[
                "",
                " in the deep grey nuclei/white matter",
                " in the basal ganglia and deep WM",
            ],
        );
        assoc.push(format!("{n} {old}{noun}{place}"));
    } else if lacunes == 0 && chance(rng, 0.2) {
        assoc.push("no lacunes".into());
    }
    if chance(rng, 0.15) {
        assoc.push("no microbleeds".into());
    }
    let assoc: Vec<&str> = assoc.iter().map(String::as_str).collect();
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.2) {
        parts.advice.push(
            pick(
                rng,
                &[
                    "Suggest vascular risk factor optimisation.",
                    "Suggest clinical correlation.",
                ],
            )
            .into(),
        );
    }
}

/// McDonald-style location words of plaques, without repeats.
fn plaque_sites(regions: &[Region]) -> Vec<String> {
    let mut sites: Vec<String> = Vec::new();
    for region in regions {
        let word = match region {
            Region::Periventricular => "periventricular",
            Region::Juxtacortical => "juxtacortical",
            Region::CorpusCallosum => "callosal",
            Region::Pons | Region::Cerebellum => "infratentorial",
            _ => "deep white matter",
        };
        if !sites.iter().any(|s| s == word) {
            sites.push(word.to_string());
        }
    }
    sites
}

/// Demyelinating plaques, possibly one active.
pub(super) fn demyelination<R: Rng + ?Sized>(
    rng: &mut R,
    count: usize,
    regions: &[Region],
    active: bool,
    parts: &mut Parts,
) {
    let sites = plaque_sites(regions);
    let site_list = join_and(&sites, "and");
    let n = count_phrase(rng, count);
    let dx = pick(
        rng,
        &[
            "demyelination",
            "demyelinating disease",
            "MS",
            "multiple sclerosis",
            "inflammatory demyelination",
        ],
    );
    let lesions = if count == 1 { "lesion" } else { "lesions" };
    let periventricular = sites.iter().any(|s| s == "periventricular");
    let main = match rng.random_range(0..3) {
        0 => {
            let noun = pick(
                rng,
                &["FLAIR hyperintense", "ovoid T2/FLAIR hyperintense", "WM"],
            );
            format!("{n} {noun} {lesions} ({site_list}), {} {dx}", hedge(rng))
        }
        1 if periventricular => format!(
            "{n} ovoid {site_list} WM {lesions}, some perpendicular to the ventricles (Dawson fingers), {} {dx}",
            hedge(rng)
        ),
        1 => format!("{n} ovoid {site_list} WM {lesions}, {} {dx}", hedge(rng)),
        _ => format!(
            "demyelinating disease: {count} {} ({site_list})",
            if count == 1 { "plaque" } else { "plaques" }
        ),
    };
    let mut assoc = Vec::new();
    if active {
        assoc.push(pick(
            rng,
            &[
                "one lesion with restricted diffusion, suggesting active demyelination",
                "? active plaque (restricted diffusion)",
                "one active-appearing lesion with diffusion restriction",
            ],
        ));
    } else if chance(rng, 0.4) {
        assoc.push(pick(
            rng,
            &[
                "no restricted diffusion to suggest active lesions",
                "no diffusion restriction",
            ],
        ));
    }
    let categories = sites
        .iter()
        .filter(|s| s.as_str() != "deep white matter")
        .count();
    if categories >= 2 && chance(rng, 0.25) {
        assoc.push("MRI criteria for dissemination in space fulfilled");
    }
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.45) {
        let advice = pick(
            rng,
            &[
                "Consider post-contrast imaging and spinal cord MRI.",
                "Suggest neurology review.",
                "Clinical correlation recommended.",
                "Consider follow-up MRI with contrast.",
            ],
        );
        parts.advice.push(advice.into());
    }
}

/// Communicating hydrocephalus.
pub(super) fn hydrocephalus<R: Rng + ?Sized>(
    rng: &mut R,
    evans_index: f64,
    halo: bool,
    age_years: u32,
    parts: &mut Parts,
) {
    let evans = if chance(rng, 0.65) {
        format!(" (Evans index {evans_index:.2})")
    } else {
        String::new()
    };
    let main = match rng.random_range(0..3) {
        0 => format!(
            "communicating hydrocephalus: ventricles enlarged out of proportion to the sulci{evans}"
        ),
        1 => format!(
            "ventriculomegaly{evans} out of proportion to sulcal prominence, {} communicating hydrocephalus",
            hedge(rng)
        ),
        _ => format!(
            "dilated lateral and third ventricles{evans}, {} hydrocephalus",
            hedge(rng)
        ),
    };
    let mut assoc = Vec::new();
    if halo && chance(rng, 0.9) {
        assoc.push(pick(
            rng,
            &[
                "periventricular FLAIR hyperintensity suggestive of transependymal CSF flow",
                "periventricular halo (transependymal oedema)",
                "transependymal CSF seepage",
            ],
        ));
    } else if !halo && chance(rng, 0.35) {
        assoc.push("no transependymal oedema");
    }
    if chance(rng, 0.35) {
        assoc.push("no obstructing lesion");
    }
    push_main(rng, parts, main, assoc);
    if age_years >= 60 && chance(rng, 0.5) {
        parts.advice.push(
            pick(
                rng,
                &[
                    "? NPH in the appropriate clinical context.",
                    "Consider normal pressure hydrocephalus; suggest correlation with gait and cognition.",
                ],
            )
            .into(),
        );
    } else if chance(rng, 0.3) {
        parts.advice.push("Suggest clinical correlation.".into());
    }
}

/// Arachnoid cyst: CSF-like extra-axial cyst.
pub(super) fn arachnoid_cyst<R: Rng + ?Sized>(
    rng: &mut R,
    region: Region,
    side: Side,
    size_mm: f64,
    parts: &mut Parts,
) {
    let main = match rng.random_range(0..3) {
        0 => format!(
            "{} arachnoid cyst{}",
            region_pre(rng, region, side),
            size_after(rng, size_mm, 0.7)
        ),
        1 => format!(
            "extra-axial CSF-signal lesion in the {}{}, {} arachnoid cyst",
            region_in(rng, region, side),
            size_after(rng, size_mm, 0.7),
            hedge(rng)
        ),
        _ => format!(
            "{} arachnoid cyst in the {}, incidental",
            size_bare(rng, size_mm),
            region_in(rng, region, side)
        ),
    };
    let mut assoc = Vec::new();
    if chance(rng, 0.4) {
        assoc.push(pick(
            rng,
            &[
                "signal isointense to CSF on all sequences",
                "no restricted diffusion (epidermoid unlikely)",
                "CSF signal on all sequences",
            ],
        ));
    }
    push_main(rng, parts, main, assoc);
    if chance(rng, 0.25) {
        parts.advice.push(
            pick(
                rng,
                &[
                    "Likely incidental; no follow-up required.",
                    "Incidental finding.",
                ],
            )
            .into(),
        );
    }
}
