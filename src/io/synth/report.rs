//! Radiology-style impressions for simulated studies, written from the same structured findings
//! that drive the lesion rendering, so the text never contradicts the image.
//!
//! Every wording choice draws from the caller's rng: one rng state gives one text, and studies
//! differ in synonyms, abbreviations, hedging, order, layout, optional clauses and spelling
//! (each report is wholly British or wholly American). Sides are the patient's sides;
//! [`swap_sides`] flips them for a mirrored image.

mod background;
mod bleeds;
mod masses;
mod negations;
mod other;
mod phrases;
mod sequences;
#[cfg(test)]
mod tests;
mod vascular;

use rand::Rng;

use self::negations::Present;
use self::phrases::{capitalise, chance, pick};
use self::vascular::Infarct;
use crate::io::synth::findings::{Finding, Side, StudyFindings};

/// Sentences of one report before layout, grouped by where they may go.
#[derive(Debug, Default)]
struct Parts {
    /// Headers: "IMPRESSION:", age, comparison.
    header: Vec<String>,
    /// Main findings with their associated findings, in order.
    main: Vec<String>,
    /// Negations naming other classes.
    negations: Vec<String>,
    /// Incidental findings and trivia.
    incidental: Vec<String>,
    /// Hedges and recommendations, which close the impression.
    advice: Vec<String>,
    /// Page markers and sign-off.
    footer: Vec<String>,
}

/// Writes the impression for one study; deterministic for a given rng state.
pub fn write_report<R: Rng + ?Sized>(f: &StudyFindings, rng: &mut R) -> String {
    let american = chance(rng, 0.5);
    let present = Present::of(&f.findings);
    let normal = f.findings.is_empty();
    let detail = draw_detail(rng, normal);
    let mut parts = Parts::default();
    background::admin(rng, f.age_years, &mut parts);
    if normal && detail == 0 && chance(rng, 0.3) {
        // The shortest normals: one sentence, or one line of negations.
        if chance(rng, 0.6) {
            background::normal_opener(rng, &mut parts);
        } else {
            negations::negations(rng, present, 2, &mut parts);
        }
    } else {
        body(rng, f, present, detail, &mut parts);
    }
    let text = layout(rng, parts);
    if american { americanise(&text) } else { text }
}

/// How full a report is: most impressions are terse, some carry sequence-by-sequence detail,
/// statements about normal structures and a differential; this gives the long right tail of
/// real report lengths. Normal studies are reported more briefly.
fn draw_detail<R: Rng + ?Sized>(rng: &mut R, normal: bool) -> usize {
    let d: usize = pick(
        rng,
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4],
    );
    if normal { d.saturating_sub(1) } else { d }
}

/// Everything but the header and footer: findings, negations, normal structures,
/// incidentals, trivia and advice.
fn body<R: Rng + ?Sized>(
    rng: &mut R,
    f: &StudyFindings,
    present: Present,
    detail: usize,
    parts: &mut Parts,
) {
    let normal = f.findings.is_empty();
    let opener = normal && chance(rng, 0.75);
    if opener {
        background::normal_opener(rng, parts);
    }
    for finding in &f.findings {
        finding_text(rng, finding, f.age_years, parts);
        let n = detail.min(3).saturating_sub(usize::from(chance(rng, 0.3)));
        parts
            .main
            .extend(sequences::sequence_details(rng, finding, n));
    }
    negations::negations(rng, present, detail.saturating_sub(1), parts);
    if normal && !opener && parts.negations.is_empty() {
        background::normal_opener(rng, parts);
    }
    let structures = match detail {
        0 | 1 => usize::from(normal && chance(rng, 0.2)),
        2 => 2,
        3 => 4,
        _ => 7,
    };
    parts.negations.extend(sequences::normal_structures(
        rng,
        present,
        &f.incidental,
        structures,
    ));
    background::incidentals(rng, &f.incidental, f.age_years, present, parts);
    background::trivia(rng, present, parts);
    if detail >= 3 {
        for finding in &f.findings {
            parts
                .advice
                .push(sequences::discussion(rng, finding).into());
        }
        if present.urgent() && chance(rng, 0.6) {
            parts.advice.push(sequences::communication(rng).into());
        }
    }
    if parts.advice.is_empty() && chance(rng, 0.06) {
        parts.advice.push("Suggest clinical correlation.".into());
    }
}

/// Dispatches one finding to its writer.
fn finding_text<R: Rng + ?Sized>(
    rng: &mut R,
    finding: &Finding,
    age_years: u32,
    parts: &mut Parts,
) {
    match finding {
        Finding::AcuteInfarct {
            territory,
            region,
            side,
            size_mm,
            lacunar,
            haemorrhagic_transformation,
            ..
        } => {
            let inf = Infarct {
                territory: *territory,
                region: *region,
                side: *side,
                size_mm: *size_mm,
                lacunar: *lacunar,
            };
            vascular::acute_infarct(rng, &inf, *haemorrhagic_transformation, parts);
        }
        Finding::ChronicInfarct {
            territory,
            region,
            side,
            size_mm,
            lacunar,
            ..
        } => {
            let inf = Infarct {
                territory: *territory,
                region: *region,
                side: *side,
                size_mm: *size_mm,
                lacunar: *lacunar,
            };
            vascular::chronic_infarct(rng, &inf, parts);
        }
        Finding::Haematoma {
            region,
            side,
            size_mm,
            oedema,
            mass_effect,
            ..
        } => {
            bleeds::haematoma(rng, *region, *side, *size_mm, *oedema, *mass_effect, parts);
        }
        Finding::Microbleeds { count, pattern, .. } => {
            bleeds::microbleeds(rng, *count, *pattern, parts)
        }
        Finding::Glioma {
            region,
            side,
            size_mm,
            necrosis,
            midline_shift_mm,
            ..
        } => {
            masses::glioma(
                rng,
                *region,
                *side,
                *size_mm,
                *necrosis,
                *midline_shift_mm,
                parts,
            );
        }
        Finding::Metastases {
            count,
            largest_mm,
            side,
            regions,
            ..
        } => {
            masses::metastases(rng, *count, *largest_mm, *side, regions, parts);
        }
        Finding::Meningioma {
            region,
            side,
            size_mm,
            ..
        } => masses::meningioma(rng, *region, *side, *size_mm, parts),
        Finding::PituitaryMacroadenoma {
            size_mm,
            suprasellar_extension,
            ..
        } => {
            masses::pituitary(rng, *size_mm, *suprasellar_extension, parts);
        }
        Finding::SmallVesselDisease { fazekas, lacunes } => {
            other::small_vessel(rng, *fazekas, *lacunes, parts)
        }
        Finding::Demyelination {
            count,
            regions,
            active,
            ..
        } => {
            other::demyelination(rng, *count, regions, *active, parts);
        }
        Finding::Hydrocephalus {
            evans_index,
            periventricular_halo,
        } => {
            other::hydrocephalus(rng, *evans_index, *periventricular_halo, age_years, parts);
        }
        Finding::ArachnoidCyst {
            region,
            side,
            size_mm,
            ..
        } => other::arachnoid_cyst(rng, *region, *side, *size_mm, parts),
    }
}

/// Main clause plus associated findings: some attached to the main sentence, the rest as
/// terse sentences of their own.
fn push_main<R: Rng + ?Sized>(rng: &mut R, parts: &mut Parts, main: String, assoc: Vec<&str>) {
    let attach = if assoc.is_empty() {
        0
    } else {
        rng.random_range(0..=assoc.len())
    };
    let mut sentence = capitalise(&main);
    for (i, a) in assoc.iter().enumerate().take(attach) {
        let joiner = if a.starts_with("no ") || a.starts_with('?') || i > 0 {
            ", "
        } else {
            pick(rng, &[", with ", " with ", ", "])
        };
        sentence.push_str(joiner);
        sentence.push_str(a);
    }
    parts.main.push(sentence);
    for a in assoc.iter().skip(attach) {
        parts.main.push(capitalise(a));
    }
}

/// A sentence with a closing full stop unless it already ends in punctuation.
fn finish(sentence: &str) -> String {
    if sentence.ends_with(['.', '?', ':']) {
        sentence.to_string()
    } else {
        format!("{sentence}.")
    }
}

/// Drops sentences that an earlier one already says ("No restricted diffusion." after
/// "..., no restricted diffusion (epidermoid unlikely)"), in the order the parts were written.
fn dedup(parts: Parts) -> Parts {
    let mut said = String::new();
    let mut keep = |group: Vec<String>| -> Vec<String> {
        group
            .into_iter()
            .filter(|sentence| {
                let core = sentence.trim().trim_end_matches('.').to_lowercase();
                let repeat = !core.is_empty() && said.contains(&core);
                said.push_str(&sentence.to_lowercase());
                said.push('\n');
                !repeat
            })
            .collect()
    };
    let main = keep(parts.main);
    let negations = keep(parts.negations);
    let incidental = keep(parts.incidental);
    let advice = keep(parts.advice);
    Parts {
        header: parts.header,
        main,
        negations,
        incidental,
        advice,
        footer: parts.footer,
    }
}

/// Orders the parts and lays them out as prose, a numbered list or dashes.
fn layout<R: Rng + ?Sized>(rng: &mut R, parts: Parts) -> String {
    let Parts {
        header,
        main,
        negations,
        incidental,
        advice,
        footer,
    } = dedup(parts);
    // Lines of the impression: the main finding first, then negations and incidentals in
    // either order, recommendations last.
    let mut lines: Vec<Vec<String>> = Vec::new();
    if !main.is_empty() {
        if main.len() > 4 || chance(rng, 0.6) {
            lines.push(main);
        } else {
            lines.extend(main.into_iter().map(|s| vec![s]));
        }
    }
    let (first, second) = if chance(rng, 0.6) {
        (negations, incidental)
    } else {
        (incidental, negations)
    };
    for group in [first, second] {
        if group.is_empty() {
            continue;
        }
        // Long groups stay on one line, so numbered lists keep a handful of items.
        if group.len() > 3 || chance(rng, 0.5) {
            lines.push(group);
        } else {
            lines.extend(group.into_iter().map(|s| vec![s]));
        }
    }
    if !advice.is_empty() {
        lines.push(advice);
    }
    let lines: Vec<String> = lines
        .into_iter()
        .map(|line| line.iter().map(|s| finish(s)).collect::<Vec<_>>().join(" "))
        .collect();

    let style = pick(rng, &[0, 0, 0, 0, 0, 0, 1, 1, 1, 2]);
    let (body, sep) = match style {
        0 => (lines.join(" "), " "),
        1 => {
            let numbered: Vec<String> = lines
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{}. {l}", i + 1))
                .collect();
            let sep = if chance(rng, 0.8) { "\n" } else { " " };
            (numbered.join(sep), sep)
        }
        _ => {
            let keep_stops = chance(rng, 0.5);
            let dashed: Vec<String> = lines
                .iter()
                .map(|l| {
                    let l = if keep_stops {
                        l.as_str()
                    } else {
                        l.strip_suffix('.').unwrap_or(l)
                    };
                    format!("- {l}")
                })
                .collect();
            (dashed.join("\n"), "\n")
        }
    };
    let mut out = String::new();
    if !header.is_empty() {
        out.push_str(&header.join(" "));
        out.push_str(if sep == " " { " " } else { "\n" });
    }
    out.push_str(&body);
    if !footer.is_empty() {
        out.push('\n');
        out.push_str(&footer.join(" "));
    }
    out
}

/// British → American spelling for every word family the writers use.
const AMERICAN: [(&str, &str); 21] = [
    ("haem", "hem"),
    ("Haem", "Hem"),
    ("oedem", "edem"),
    ("Oedem", "Edem"),
    ("ischaem", "ischem"),
    ("Ischaem", "Ischem"),
    ("tumour", "tumor"),
    ("Tumour", "Tumor"),
    ("leucoenceph", "leukoenceph"),
    ("grey", "gray"),
    ("Grey", "Gray"),
    ("aetiolog", "etiolog"),
    ("generalised", "generalized"),
    ("characterisation", "characterization"),
    ("optimisation", "optimization"),
    ("artefact", "artifact"),
    // "centred" before "centre", which it contains.
    ("centred", "centered"),
    ("centre", "center"),
    ("fibres", "fibers"),
    ("Visualised", "Visualized"),
    ("characterised", "characterized"),
];

/// The text in American spelling.
fn americanise(text: &str) -> String {
    AMERICAN
        .iter()
        .fold(text.to_string(), |acc, (british, american)| {
            acc.replace(british, american)
        })
}

/// Swaps left and right in a report, for an image mirrored left-right: "left" ↔ "right" in
/// any case pattern (so "left-sided" ↔ "right-sided", "leftward" ↔ "rightward"), and the
/// standalone abbreviations "L" ↔ "R" and "Lt" ↔ "Rt". Words that merely contain the letters
/// ("bright", "r/o") are left alone.
pub fn swap_sides(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            out.push_str(&swap_word(&word));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(&swap_word(&word));
    out
}

/// The side the report names first ("left", "Rt", "right-sided"... as [`swap_sides`] reads
/// them), `None` when it names none. A report's first side word belongs to its main finding
/// (on the demo cohort: for all 205 one-sided main findings, and 8 of 195 reports without one
/// name a side, for an incidental finding), so it is a label for the image's laterality that
/// needs nothing but the report; [`swap_sides`] mirrors it.
pub fn first_side(text: &str) -> Option<Side> {
    text.split(|c: char| !c.is_alphanumeric())
        .find_map(word_side)
}

/// The side one alphanumeric token names: "left"/"right" in any case, alone or as
/// "leftward(s)"/"rightward(s)", and the abbreviations "L", "R", "Lt", "Rt".
fn word_side(word: &str) -> Option<Side> {
    match word {
        "L" | "Lt" => return Some(Side::Left),
        "R" | "Rt" => return Some(Side::Right),
        _ => {}
    }
    let lower = word.to_lowercase();
    [("left", Side::Left), ("right", Side::Right)]
        .into_iter()
        .find(|(prefix, _)| {
            lower
                .strip_prefix(prefix)
                .is_some_and(|rest| matches!(rest, "" | "ward" | "wards"))
        })
        .map(|(_, side)| side)
}

/// One alphanumeric token with its side swapped, if it names one (see [`word_side`]).
fn swap_word(word: &str) -> String {
    match word {
        "L" => return "R".into(),
        "R" => return "L".into(),
        "Lt" => return "Rt".into(),
        "Rt" => return "Lt".into(),
        _ => {}
    }
    let (from_len, to) = match word_side(word) {
        None => return word.into(),
        Some(Side::Left) => (4, "right"),
        Some(_) => (5, "left"),
    };
    let head = &word[..from_len];
    let tail = &word[from_len..];
    let swapped = if head.chars().all(|c| c.is_uppercase()) {
        to.to_uppercase()
    } else if head.chars().next().is_some_and(char::is_uppercase) {
        phrases::capitalise(to)
    } else {
        to.to_string()
    };
    format!("{swapped}{tail}")
}
