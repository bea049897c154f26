//! Small phrase builders shared by the report writers: random choice, sides, regions, sizes and
//! counts. Every choice draws from the caller's rng so that one seed gives one text.

use rand::Rng;

use crate::io::synth::findings::{Region, Side, Territory};

/// One item of a non-empty slice, uniformly. An empty slice gives `T::default()` rather than a
/// panic; every call site passes a literal list.
pub(super) fn pick<T: Copy + Default, R: Rng + ?Sized>(rng: &mut R, items: &[T]) -> T {
    if items.is_empty() {
        return T::default();
    }
    items[rng.random_range(0..items.len())]
}

/// True with probability `p` (clamped to [0, 1]).
pub(super) fn chance<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    rng.random_bool(p.clamp(0.0, 1.0))
}

/// `text` with its first letter upper-cased.
pub(super) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "a", "a and b", "a, b and c".
pub(super) fn join_and(items: &[String], conj: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {conj} {last}", init.join(", ")),
    }
}

/// The word for a lateralised side ("left", sometimes "L"); `None` on the midline.
pub(super) fn side_word<R: Rng + ?Sized>(rng: &mut R, side: Side) -> Option<&'static str> {
    match side {
        Side::Left => Some(pick(rng, &["left", "left", "left", "L"])),
        Side::Right => Some(pick(rng, &["right", "right", "right", "R"])),
        Side::Bilateral => Some("bilateral"),
        Side::Midline => None,
    }
}

/// Fills `{s}` in a template with a side word, dropping it on the midline and pluralising the
/// head noun for bilateral findings.
fn fill_side<R: Rng + ?Sized>(rng: &mut R, template: &str, side: Side) -> String {
    match side_word(rng, side) {
        Some(word) => {
            let text = template.replace("{s}", word);
            if side == Side::Bilateral {
                pluralise(&text)
            } else {
                text
            }
        }
        None => template.replace("{s} ", "").replace("{s}", ""),
    }
}

fn pluralise(text: &str) -> String {
    const ENDINGS: [(&str, &str); 7] = [
        ("lobe", "lobes"),
        ("hemisphere", "hemispheres"),
        ("thalamus", "thalami"),
        ("nucleus", "nuclei"),
        ("insula", "insulae"),
        ("head", "heads"),
        ("capsule", "capsules"),
    ];
    for (one, many) in ENDINGS {
        if let Some(stem) = text.strip_suffix(one) {
            return format!("{stem}{many}");
        }
    }
    text.to_string()
}

/// A location as a noun phrase, to follow "in the": "left frontal lobe", "L putamen",
/// "posterior limb of the right internal capsule", "pons".
pub(super) fn region_in<R: Rng + ?Sized>(rng: &mut R, region: Region, side: Side) -> String {
    let lateral = matches!(side, Side::Left | Side::Right | Side::Bilateral);
    let templates: &[&str] = match region {
        Region::FrontalLobe => &[
            "{s} frontal lobe",
            "{s} frontal lobe",
            "{s} frontal convexity",
            "{s} frontal cortex and subcortical WM",
        ],
        Region::MedialFrontal => &[
            "{s} medial frontal lobe",
            "{s} paramedian frontal lobe",
            "{s} superior frontal gyrus, medial aspect",
        ],
        Region::ParietalLobe => &[
            "{s} parietal lobe",
            "{s} parietal lobe",
            "{s} parietal cortex",
        ],
        Region::TemporalLobe => &[
            "{s} temporal lobe",
            "{s} lateral temporal lobe",
            "{s} temporal lobe",
        ],
        Region::MedialTemporal => &[
            "{s} medial temporal lobe",
            "{s} hippocampus",
            "{s} mesial temporal lobe",
        ],
        Region::OccipitalLobe => &[
            "{s} occipital lobe",
            "{s} occipital lobe",
            "{s} occipital cortex",
        ],
        Region::Insula => &["{s} insula", "{s} insular cortex", "{s} insular ribbon"],
        Region::Putamen => &[
            "{s} lentiform nucleus",
            "{s} putamen",
            "{s} lentiform nucleus/putamen",
            "{s} basal ganglia",
        ],
        Region::Caudate => &[
            "{s} caudate head",
            "{s} caudate nucleus",
            "head of the {s} caudate",
        ],
        Region::Thalamus => &["{s} thalamus", "{s} thalamus", "{s} lateral thalamus"],
        Region::InternalCapsule => &[
            "{s} internal capsule",
            "posterior limb of the {s} internal capsule",
            "{s} PLIC",
        ],
        Region::CoronaRadiata => &[
            "{s} corona radiata",
            "{s} corona radiata",
            "{s} periventricular corona radiata",
        ],
        Region::CentrumSemiovale => &[
            "{s} centrum semiovale",
            "{s} deep WM",
            "{s} deep white matter",
        ],
        Region::Periventricular => &["{s} periventricular WM", "{s} periventricular white matter"],
        Region::Juxtacortical => &["{s} juxtacortical WM", "{s} subcortical white matter"],
        Region::CorpusCallosum if lateral => &[
            "{s} side of the corpus callosum",
            "{s} aspect of the callosal body",
        ],
        Region::CorpusCallosum => &[
            "corpus callosum",
            "body of the corpus callosum",
            "callosal body",
        ],
        Region::Pons if lateral => &["{s} pons", "{s} hemipons", "{s} pons"],
        Region::Pons => &["pons", "pons", "central pons"],
        Region::Cerebellum => &[
            "{s} cerebellar hemisphere",
            "{s} cerebellum",
            "{s} cerebellar hemisphere",
        ],
        Region::Convexity => &[
            "{s} cerebral convexity",
            "{s} convexity",
            "{s} frontoparietal convexity",
        ],
        Region::Falx if lateral => &["{s} side of the falx", "{s} parafalcine region"],
        Region::Falx => &["falx", "falx cerebri"],
        Region::SphenoidWing => &["{s} sphenoid wing", "{s} sphenoid ridge"],
        Region::Parasagittal => &["{s} parasagittal region", "{s} parasagittal convexity"],
        Region::Sella => &["sella", "sellar region", "pituitary fossa"],
        Region::MiddleCranialFossa => &[
            "{s} middle cranial fossa",
            "{s} middle fossa",
            "{s} anterior middle cranial fossa",
        ],
        Region::PosteriorFossa if lateral => &["{s} retrocerebellar space", "{s} posterior fossa"],
        Region::PosteriorFossa => &[
            "retrocerebellar space",
            "posterior fossa",
            "retrocerebellar posterior fossa",
        ],
    };
    let template = pick(rng, templates);
    fill_side(rng, template, side)
}

/// A location as a modifier, to precede a noun: "left frontal", "R thalamic", "pontine".
pub(super) fn region_pre<R: Rng + ?Sized>(rng: &mut R, region: Region, side: Side) -> String {
    let lateral = matches!(side, Side::Left | Side::Right | Side::Bilateral);
    let templates: &[&str] = match region {
        Region::FrontalLobe => &["{s} frontal", "{s} frontal lobe", "{s} frontal"],
        Region::MedialFrontal => &["{s} medial frontal", "{s} paramedian frontal"],
        Region::ParietalLobe => &["{s} parietal", "{s} parietal lobe"],
        Region::TemporalLobe => &["{s} temporal", "{s} temporal lobe"],
        Region::MedialTemporal => &["{s} medial temporal", "{s} mesial temporal"],
        Region::OccipitalLobe => &["{s} occipital", "{s} occipital lobe"],
        Region::Insula => &["{s} insular", "{s} insula"],
        Region::Putamen => &["{s} putaminal", "{s} lentiform", "{s} basal ganglia"],
        Region::Caudate => &["{s} caudate", "{s} caudate head"],
        Region::Thalamus => &["{s} thalamic", "{s} thalamic"],
        Region::InternalCapsule => &["{s} internal capsule", "{s} PLIC"],
        Region::CoronaRadiata => &["{s} corona radiata"],
        Region::CentrumSemiovale => &["{s} centrum semiovale", "{s} deep WM"],
        Region::Periventricular => &["{s} periventricular"],
        Region::Juxtacortical => &["{s} juxtacortical", "{s} subcortical"],
        Region::CorpusCallosum if lateral => &["{s} callosal", "{s} paramedian callosal"],
        Region::CorpusCallosum => &["callosal", "corpus callosum"],
        Region::Pons if lateral => &["{s} pontine", "{s} pontine"],
        Region::Pons => &["pontine", "central pontine"],
        Region::Cerebellum => &["{s} cerebellar", "{s} cerebellar hemispheric"],
        Region::Convexity => &["{s} convexity", "{s} cerebral convexity"],
        Region::Falx if lateral => &["{s} parafalcine", "{s} falcine"],
        Region::Falx => &["falcine", "parafalcine"],
        Region::SphenoidWing => &["{s} sphenoid wing", "{s} sphenoid ridge"],
        Region::Parasagittal => &["{s} parasagittal"],
        Region::Sella => &["sellar", "pituitary"],
        Region::MiddleCranialFossa => &["{s} middle cranial fossa", "{s} middle fossa"],
        Region::PosteriorFossa if lateral => &["{s} retrocerebellar", "{s} posterior fossa"],
        Region::PosteriorFossa => &["retrocerebellar", "posterior fossa"],
    };
    let template = pick(rng, templates);
    fill_side(rng, template, side)
}

/// An arterial territory with side: "left MCA territory", "R lenticulostriate territory".
pub(super) fn territory_phrase<R: Rng + ?Sized>(
    rng: &mut R,
    territory: Territory,
    region: Region,
    side: Side,
) -> String {
    let name: &str = match territory {
        Territory::Mca => pick(rng, &["MCA", "MCA", "middle cerebral artery"]),
        Territory::Aca => pick(rng, &["ACA", "ACA", "anterior cerebral artery"]),
        Territory::Pca => pick(rng, &["PCA", "PCA", "posterior cerebral artery"]),
        Territory::Cerebellar => pick(rng, &["cerebellar artery", "posterior circulation"]),
        Territory::Watershed => pick(
            rng,
            &["watershed", "border-zone", "watershed (border-zone)"],
        ),
        Territory::Perforator => match region {
            Region::Thalamus => "thalamoperforator",
            Region::Pons => "pontine perforator",
            _ => pick(rng, &["lenticulostriate", "perforator", "deep perforator"]),
        },
    };
    fill_side(rng, &format!("{{s}} {name} territory"), side)
}

/// Millimetres as written: whole numbers unless a tenth matters.
pub(super) fn fmt_mm(mm: f64) -> String {
    if (mm - mm.round()).abs() < 0.05 {
        format!("{mm:.0}")
    } else {
        format!("{mm:.1}")
    }
}

/// A size alone: "23 mm", "23mm", "2.3 cm", "2.3 x 1.8 cm".
pub(super) fn size_bare<R: Rng + ?Sized>(rng: &mut R, mm: f64) -> String {
    let mm = mm.max(1.0).round();
    let cm = mm / 10.0;
    // A second, smaller axis: the findings give the maximal diameter only.
    let minor = (mm * rng.random_range(0.6..0.9)).round().max(1.0);
    let use_cm = mm >= 10.0 && chance(rng, 0.5);
    let two_axes = chance(rng, 0.12);
    match (use_cm, two_axes) {
        (true, true) => format!("{cm:.1} x {:.1} cm", minor / 10.0),
        (false, true) => format!("{mm:.0} x {minor:.0} mm"),
        (true, false) => pick(rng, &["{} cm", "{} cm", "{}cm"]).replace("{}", &format!("{cm:.1}")),
        (false, false) => pick(rng, &["{} mm", "{} mm", "{}mm"]).replace("{}", &format!("{mm:.0}")),
    }
}

/// A size to follow a noun: " measuring 2.3 cm", " (23 mm)", ", 2.3 cm"; empty with
/// probability `1 - p`.
pub(super) fn size_after<R: Rng + ?Sized>(rng: &mut R, mm: f64, p: f64) -> String {
    if !chance(rng, p) {
        return String::new();
    }
    let size = size_bare(rng, mm);
    pick(
        rng,
        &[
            " measuring {}",
            " ({})",
            " ({})",
            ", {}",
            " up to {}",
            " (max. {})",
        ],
    )
    .replace("{}", &size)
}

/// A count as written: "three", "3", "multiple", "numerous"...
pub(super) fn count_phrase<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    const WORDS: [&str; 13] = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    let digits = n.to_string();
    let word = WORDS
        .get(n)
        .map(|w| w.to_string())
        .unwrap_or_else(|| digits.clone());
    let mut options: Vec<String> = vec![word.clone(), word, digits.clone()];
    if n >= 3 {
        options.push("multiple".into());
        options.push(format!("multiple ({n})"));
    }
    if (3..=8).contains(&n) {
        options.push("several".into());
    }
    if n >= 10 {
        options.push("numerous".into());
        options.push(format!("numerous ({n})"));
    }
    let i = rng.random_range(0..options.len());
    options.swap_remove(i)
}

/// A hedge before a diagnosis: "c/w", "in keeping with", "likely"...
pub(super) fn hedge<R: Rng + ?Sized>(rng: &mut R) -> &'static str {
    pick(
        rng,
        &[
            "c/w",
            "consistent with",
            "in keeping with",
            "compatible with",
            "likely",
            "suggestive of",
            "most likely",
            "in keeping with",
        ],
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn midline_regions_carry_no_side_and_bilateral_pluralises() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            let pons = region_in(&mut rng, Region::Pons, Side::Midline);
            assert!(!pons.contains("{s}") && !pons.starts_with(' '), "{pons}");
            let lobes = region_in(&mut rng, Region::ParietalLobe, Side::Bilateral);
            assert!(
                lobes.starts_with("bilateral") && lobes.contains("parietal"),
                "{lobes}"
            );
        }
    }

    #[test]
    fn counts_never_understate() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..50 {
            let two = count_phrase(&mut rng, 2);
            assert!(["two", "2"].contains(&two.as_str()), "{two}");
        }
    }
}
