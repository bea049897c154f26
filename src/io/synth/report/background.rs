//! The parts of a report around the main finding: normal-study openers, incidental findings,
//! trivia and administrative noise.

use rand::Rng;

use super::Parts;
use super::negations::Present;
use super::other::fazekas_text;
use super::phrases::{capitalise, chance, count_phrase, pick, side_word};
use crate::io::synth::findings::{Atrophy, Incidentals, Side, Sinus};

/// The opening line of a normal study.
pub(super) fn normal_opener<R: Rng + ?Sized>(rng: &mut R, parts: &mut Parts) {
    let opener = pick(
        rng,
        &[
            "Normal MRI brain.",
            "Unremarkable MRI of the brain.",
            "No acute intracranial abnormality.",
            "No significant intracranial abnormality.",
            "Normal appearances of the brain for age.",
            "Essentially normal study.",
            "No intracranial pathology identified.",
            "Normal study.",
            "Normal intracranial appearances.",
        ],
    );
    parts.main.push(opener.into());
}

/// Atrophy, background white-matter change and sinus disease, each sometimes left out.
pub(super) fn incidentals<R: Rng + ?Sized>(
    rng: &mut R,
    inc: &Incidentals,
    age_years: u32,
    p: Present,
    parts: &mut Parts,
) {
    if !p.hydrocephalus {
        atrophy(rng, inc.atrophy, age_years, p, parts);
    }
    if !p.small_vessel && !p.demyelination {
        white_matter(rng, inc.fazekas, inc.wmh_foci, parts);
    }
    if let Some((sinus, side)) = inc.sinus
        && chance(rng, 0.55)
    {
        parts.incidental.push(sinus_text(rng, sinus, side));
    }
}

fn atrophy<R: Rng + ?Sized>(
    rng: &mut R,
    atrophy: Atrophy,
    age_years: u32,
    p: Present,
    parts: &mut Parts,
) {
    let text = match atrophy {
        Atrophy::None if chance(rng, if p.normal { 0.2 } else { 0.08 }) => pick(
            rng,
            &["Age-appropriate brain volume.", "No significant atrophy."],
        )
        .to_string(),
        Atrophy::None => return,
        Atrophy::Mild if chance(rng, 0.6) => {
            let mut text = pick(
                rng,
                &[
                    "mild generalised volume loss",
                    "mild age-related atrophy",
                    "mild generalised cerebral atrophy",
                    "mild involutional change",
                ],
            )
            .to_string();
            if age_years >= 60 && chance(rng, 0.3) {
                text.push_str(", within normal limits for age");
            }
            capitalise(&text) + "."
        }
        Atrophy::Moderate if chance(rng, 0.8) => {
            let mut text = pick(
                rng,
                &[
                    "moderate generalised atrophy",
                    "moderate global cerebral volume loss",
                    "moderate atrophy",
                ],
            )
            .to_string();
            if age_years < 65 && chance(rng, 0.5) {
                text.push_str(", more than expected for age");
            }
            capitalise(&text) + "."
        }
        _ => return,
    };
    parts.incidental.push(text);
}

fn white_matter<R: Rng + ?Sized>(rng: &mut R, fazekas: u8, foci: usize, parts: &mut Parts) {
    let grade = (fazekas >= 1 && chance(rng, 0.6)).then(|| fazekas_text(rng, fazekas));
    let foci_text = (foci > 0 && chance(rng, 0.55)).then(|| {
        if foci == 1 {
            pick(
                rng,
                &[
                    "single non-specific WM focus",
                    "solitary non-specific FLAIR hyperintense focus in the subcortical WM",
                ],
            )
            .to_string()
        } else {
            let n = if foci <= 4 && chance(rng, 0.3) {
                "a few".to_string()
            } else {
                count_phrase(rng, foci)
            };
            let noun = pick(
                rng,
                &[
                    "non-specific punctate WM foci",
                    "non-specific T2/FLAIR hyperintense foci in the subcortical WM",
                    "non-specific WMH",
                    "scattered punctate WM hyperintensities",
                ],
            );
            format!("{n} {noun}")
        }
    });
    match (grade, foci_text) {
        (Some(g), Some(f)) if chance(rng, 0.5) => {
            parts.incidental.push(format!(
                "{} ({g}), likely microangiopathic.",
                capitalise(&f)
            ));
        }
        (g, f) => {
            if let Some(g) = g {
                // "Few punctate WMH" would repeat the foci sentence that follows.
                let templates: &[&str] = if f.is_some() {
                    &[
                        "mild WM hyperintensities ({})",
                        "minimal chronic small vessel change ({})",
                        "{} WM change",
                    ]
                } else {
                    &[
                        "mild WM hyperintensities ({})",
                        "minimal chronic small vessel change ({})",
                        "{} WM change",
                        "few punctate WMH, {}, likely microangiopathic",
                    ]
                };
                let text = pick(rng, templates).replace("{}", &g);
                parts.incidental.push(capitalise(&text) + ".");
            }
            if let Some(f) = f {
                let tail = pick(
                    rng,
                    &[
                        "",
                        ", likely of no clinical significance",
                        ", likely microangiopathic",
                        "",
                    ],
                );
                parts.incidental.push(format!("{}{tail}.", capitalise(&f)));
            }
        }
    }
    if fazekas == 0 && foci == 0 && chance(rng, 0.08) {
        parts.incidental.push("No significant WM disease.".into());
    }
}

fn sinus_text<R: Rng + ?Sized>(rng: &mut R, sinus: Sinus, side: Side) -> String {
    let side = side_word(rng, side)
        .map(|s| format!("{s} "))
        .unwrap_or_default();
    let adjective = match sinus {
        Sinus::Maxillary => "maxillary",
        Sinus::Ethmoid => "ethmoid",
    };
    let noun = match (sinus, side.as_str()) {
        (Sinus::Maxillary, "bilateral ") => pick(rng, &["maxillary sinuses", "maxillary antra"]),
        (Sinus::Maxillary, _) => pick(
            rng,
            &["maxillary sinus", "maxillary sinus", "maxillary antrum"],
        ),
        (Sinus::Ethmoid, _) => pick(rng, &["ethmoid air cells", "ethmoid sinuses"]),
    };
    let text = match rng.random_range(0..5) {
        0 => format!("{side}{adjective} mucosal thickening"),
        1 => format!("mucosal thickening in the {side}{noun}"),
        2 => format!("incidental {side}{adjective} sinus mucosal disease"),
        3 => format!("mild mucosal thickening of the {side}{noun}"),
        _ => format!("incidental mucosal thickening, {side}{noun}"),
    };
    capitalise(&text) + "."
}

/// A normal variant or harmless aside, never lateralised; avoids the sella and posterior fossa
/// when those hold the finding.
pub(super) fn trivia<R: Rng + ?Sized>(rng: &mut R, p: Present, parts: &mut Parts) {
    if !chance(rng, if p.normal { 0.12 } else { 0.04 }) {
        return;
    }
    let mut options = vec![
        "Incidental cavum septum pellucidum.",
        "Cavum septum pellucidum et vergae (normal variant).",
        "Fetal PCA origin (normal variant).",
        "Prominent perivascular spaces in the basal ganglia.",
    ];
    if !p.posterior_fossa {
        options.push("Mega cisterna magna (normal variant).");
    }
    if !p.sella {
        options.push("Partially empty sella, likely incidental.");
    }
    parts.incidental.push(pick(rng, &options).into());
}

/// Headers, page markers and sign-off lines that real report exports carry.
pub(super) fn admin<R: Rng + ?Sized>(rng: &mut R, age_years: u32, parts: &mut Parts) {
    if chance(rng, 0.15) {
        parts.header.push(
            pick(
                rng,
                &["IMPRESSION:", "Impression:", "Conclusion:", "IMPRESSION"],
            )
            .into(),
        );
    }
    if chance(rng, 0.06) {
        parts.header.push(match rng.random_range(0..3) {
            0 => format!("{age_years}-year-old."),
            1 => format!("Age {age_years}."),
            _ => format!("{age_years}yo."),
        });
    }
    if chance(rng, 0.05) {
        parts.header.push(
            pick(
                rng,
                &["Comparison: none.", "No prior imaging for comparison."],
            )
            .into(),
        );
    }
    if chance(rng, 0.08) {
        parts.footer.push(
            pick(
                rng,
                &[
                    "Page 1 of 1",
                    "Dictated but not read.",
                    "Electronically signed.",
                    "Report verified.",
                    "Prelim report.",
                ],
            )
            .into(),
        );
    }
}
