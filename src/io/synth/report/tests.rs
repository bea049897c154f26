//! Tests of the report writer over random-but-valid findings of every label.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{first_side, swap_sides, write_report};
use crate::config::Label;
use crate::io::synth::findings::{Finding, Side, StudyFindings};

mod fixtures;
use fixtures::{main_side, random_study};

/// Alphanumeric tokens, as `swap_sides` sees them.
fn tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Sentences: split at full stops and line breaks.
fn sentences(text: &str) -> Vec<&str> {
    text.split(['.', '\n'])
        .filter(|s| !s.trim().is_empty())
        .collect()
}

fn negated(sentence: &str) -> bool {
    tokens(sentence)
        .iter()
        .any(|t| ["no", "without", "nor", "not"].contains(&t.to_lowercase().as_str()))
}

/// Reports of many random studies of every label, with their findings.
fn corpus(n_per_label: usize, seed: u64) -> Vec<(StudyFindings, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for label in Label::ALL {
        for _ in 0..n_per_label {
            let study = random_study(label, &mut rng);
            let text = write_report(&study, &mut rng);
            out.push((study, text));
        }
    }
    out
}

#[test]
fn same_seed_gives_same_text() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for label in Label::ALL {
        let study = random_study(label, &mut rng);
        let a = write_report(&study, &mut ChaCha8Rng::seed_from_u64(99));
        let b = write_report(&study, &mut ChaCha8Rng::seed_from_u64(99));
        assert_eq!(a, b);
    }
}

#[test]
fn fifty_seeds_give_forty_distinct_texts_per_label() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for label in Label::ALL {
        let study = random_study(label, &mut rng);
        let mut texts: Vec<String> = (0..50)
            .map(|seed| write_report(&study, &mut ChaCha8Rng::seed_from_u64(seed)))
            .collect();
        texts.sort();
        texts.dedup();
        assert!(
            texts.len() >= 40,
            "{label:?}: only {} distinct texts",
            texts.len()
        );
    }
}

#[test]
fn side_words_match_the_finding() {
    for (study, text) in corpus(60, 21) {
        let Some(side @ (Side::Left | Side::Right)) = main_side(&study) else {
            continue;
        };
        let (same, other) = match side {
            Side::Left => (["left", "L"], ["right", "R"]),
            _ => (["right", "R"], ["left", "L"]),
        };
        let toks = tokens(&text);
        assert!(
            toks.iter()
                .any(|t| t.eq_ignore_ascii_case(same[0]) || *t == same[1]),
            "{side:?} finding without its side: {text}"
        );
        assert!(
            !toks.iter().any(|t| t.eq_ignore_ascii_case(other[0])
                || *t == other[1]
                || t.eq_ignore_ascii_case("contralateral")),
            "{side:?} finding names the other side: {text}"
        );
    }
}

#[test]
fn unlateralised_findings_name_no_side() {
    for (study, text) in corpus(40, 22) {
        if study.label == Label::Normal
            || main_side(&study).is_some()
            || study.incidental.sinus.is_some()
        {
            continue;
        }
        let toks = tokens(&text);
        assert!(
            !toks
                .iter()
                .any(|t| ["left", "right"].contains(&t.to_lowercase().as_str())
                    || *t == "L"
                    || *t == "R"),
            "{text}"
        );
    }
}

#[test]
fn normal_reports_name_pathology_only_in_negations() {
    const WORDS: [&str; 14] = [
        "infarct",
        "haemorrhage",
        "hemorrhage",
        "mass",
        "tumour",
        "tumor",
        "haematoma",
        "hematoma",
        "glioma",
        "metasta",
        "meningioma",
        "bleed",
        "ischaem",
        "ischem",
    ];
    for (study, text) in corpus(100, 31) {
        if study.label != Label::Normal {
            continue;
        }
        for sentence in sentences(&text) {
            let lower = sentence.to_lowercase();
            if WORDS.iter().any(|w| lower.contains(w)) {
                assert!(
                    negated(sentence),
                    "un-negated pathology in a normal report: {sentence:?} in {text}"
                );
            }
        }
    }
}

/// Words that name each finding; one must appear in its report.
fn main_words(finding: &Finding) -> &'static [&'static str] {
    match finding {
        Finding::AcuteInfarct { .. } | Finding::ChronicInfarct { .. } => {
            &["infarct", "ischaemi", "ischemi", "lacun"]
        }
        Finding::Haematoma { .. } => &[
            "haematoma",
            "hematoma",
            "haemorrhage",
            "hemorrhage",
            "bleed",
        ],
        Finding::Microbleeds { .. } => &["microbleed", "microhaemorrhage", "microhemorrhage"],
        Finding::Glioma { .. } => &[
            "glioma",
            "glial",
            "glioblastoma",
            "neoplasm",
            "tumour",
            "tumor",
        ],
        Finding::Metastases { .. } => &["metasta", "secondary deposits"],
        Finding::Meningioma { .. } => &["meningioma"],
        Finding::PituitaryMacroadenoma { .. } => &["macroadenoma"],
        Finding::SmallVesselDisease { .. } => &["small vessel", "microangiopathic"],
        Finding::Demyelination { .. } => &["demyelinat", "ms", "multiple sclerosis"],
        Finding::Hydrocephalus { .. } => &["hydrocephalus"],
        Finding::ArachnoidCyst { .. } => &["arachnoid cyst"],
    }
}

#[test]
fn each_report_names_its_main_finding_and_chronicity() {
    for (study, text) in corpus(100, 41) {
        let lower = text.to_lowercase();
        for finding in &study.findings {
            let words = main_words(finding);
            let found = words.iter().any(|w| {
                if *w == "ms" {
                    tokens(&text).contains(&"MS")
                } else {
                    lower.contains(w)
                }
            });
            assert!(found, "{:?} report lacks {words:?}: {text}", study.label);
            match finding {
                Finding::AcuteInfarct { .. } => {
                    assert!(
                        lower.contains("acute") || lower.contains("recent"),
                        "{text}"
                    );
                    for old in [
                        "chronic infarct",
                        "old infarct",
                        "established",
                        "remote",
                        "lacune",
                        "encephalomalacia",
                    ] {
                        assert!(
                            !lower.contains(old),
                            "acute infarct reported as old: {text}"
                        );
                    }
                }
                Finding::ChronicInfarct { .. } => {
                    assert!(
                        ["chronic", "old", "established", "remote"]
                            .iter()
                            .any(|w| lower.contains(w)),
                        "{text}"
                    );
                    for sentence in sentences(&text) {
                        if sentence.to_lowercase().contains("acute") {
                            assert!(
                                negated(sentence),
                                "chronic infarct called acute: {sentence:?} in {text}"
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The text without list numbering ("1. ", "2. "), which is not a count.
fn without_list_numbers(text: &str) -> String {
    let mut out = format!("\n{text}");
    for k in 1..=30 {
        for lead in ["\n", ". ", ": ", "IMPRESSION "] {
            out = out.replace(&format!("{lead}{k}. "), lead);
        }
    }
    out
}

#[test]
fn counts_match_the_findings() {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    for (study, text) in corpus(100, 43) {
        for finding in &study.findings {
            let n = match finding {
                Finding::Metastases { count, .. }
                | Finding::Microbleeds { count, .. }
                | Finding::Demyelination { count, .. } => *count,
                _ => continue,
            };
            // Incidental white-matter foci are the only other thing counted.
            let counts = [n, study.incidental.wmh_foci];
            let cleaned = without_list_numbers(&text);
            let toks = tokens(&cleaned);
            for (i, t) in toks.iter().enumerate() {
                let next = toks.get(i + 1).copied().unwrap_or("");
                let prev = if i > 0 { toks[i - 1] } else { "" };
                if let Some(value) = WORDS
                    .iter()
                    .position(|w| t.eq_ignore_ascii_case(w))
                    .filter(|&v| v >= 2)
                {
                    assert!(counts.contains(&value), "count {n} vs {t} in {text}");
                }
                let Ok(value) = t.parse::<usize>() else {
                    continue;
                };
                let is_measure = ["mm", "cm", "x", "mL", "year"].contains(&next)
                    || ["Fazekas", "grade", "x", "Page", "of", "index", "Age"].contains(&prev);
                let is_decimal = next.starts_with(|c: char| c.is_ascii_digit())
                    && cleaned.contains(&format!("{t}.{next}"));
                assert!(
                    counts.contains(&value) || is_measure || is_decimal,
                    "count {n} vs {t} in {text}"
                );
            }
        }
    }
}

#[test]
fn spelling_is_consistent_within_a_report() {
    const PAIRS: [(&str, &str); 12] = [
        ("centred", "centered"),
        ("fibres", "fibers"),
        ("visualised", "visualized"),
        ("haem", "hemorrh"),
        ("haem", "hemat"),
        ("oedem", "edem"),
        ("ischaem", "ischem"),
        ("tumour", "tumor"),
        ("leucoenceph", "leukoenceph"),
        ("grey", "gray"),
        ("aetiol", "etiol"),
        ("generalised", "generalized"),
    ];
    let mut british_reports = 0;
    let mut american_reports = 0;
    for (_, text) in corpus(100, 51) {
        let toks: Vec<String> = tokens(&text).iter().map(|t| t.to_lowercase()).collect();
        let british = PAIRS
            .iter()
            .any(|(b, _)| toks.iter().any(|t| t.contains(b)));
        let american = PAIRS
            .iter()
            .any(|(b, a)| toks.iter().any(|t| t.contains(a) && !t.contains(b)));
        assert!(!(british && american), "mixed spelling: {text}");
        british_reports += usize::from(british);
        american_reports += usize::from(american);
    }
    assert!(
        british_reports > 50 && american_reports > 50,
        "{british_reports} vs {american_reports}"
    );
}

fn percentile(sorted: &[usize], q: f64) -> usize {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn lengths_spread_like_real_reports() {
    let mut words: Vec<usize> = corpus(100, 61)
        .iter()
        .map(|(_, t)| t.split_whitespace().count())
        .collect();
    words.sort_unstable();
    let median = percentile(&words, 0.5);
    let p90 = percentile(&words, 0.9);
    let max = words[words.len() - 1];
    assert!((22..=45).contains(&median), "median {median}");
    assert!(p90 <= 100, "p90 {p90}");
    assert!(max <= 280, "max {max}");
    assert!(words[0] >= 2, "min {}", words[0]);
}

#[test]
fn first_side_reads_the_first_side_word_and_mirrors_with_swap_sides() {
    assert_eq!(
        first_side("Acute infarct, L MCA. Right maxillary sinus."),
        Some(Side::Left)
    );
    assert_eq!(
        first_side("RIGHT-sided haematoma; left shift"),
        Some(Side::Right)
    );
    assert_eq!(first_side("Rt frontal"), Some(Side::Right));
    assert_eq!(first_side("Leftover bright foci, r/o LR"), None);
    assert_eq!(first_side(""), None);
    let mirror = |s: Option<Side>| match s {
        Some(Side::Left) => Some(Side::Right),
        Some(Side::Right) => Some(Side::Left),
        other => other,
    };
    // On one-sided main findings the first side word is the finding's side.
    let (mut sided, mut agree) = (0, 0);
    for (findings, text) in corpus(40, 72) {
        let side = first_side(&text);
        assert_eq!(first_side(&swap_sides(&text)), mirror(side), "{text}");
        let main = findings.findings.first().map(serde_json::to_value);
        let truth = match main.and_then(Result::ok) {
            Some(v) if v["side"] == "left" => Some(Side::Left),
            Some(v) if v["side"] == "right" => Some(Side::Right),
            _ => continue,
        };
        sided += 1;
        agree += usize::from(side == truth);
    }
    assert!(sided >= 40, "only {sided} one-sided main findings");
    assert!(agree * 100 >= sided * 95, "{agree} of {sided} agree");
}

#[test]
fn swap_sides_swaps_whole_side_words_only() {
    assert_eq!(
        swap_sides(
            "Left MCA infarct; L putamen. right-sided bleed, RIGHT. Rt/Lt. bright r/o LR leftward"
        ),
        "Right MCA infarct; R putamen. left-sided bleed, LEFT. Lt/Rt. bright r/o LR rightward"
    );
    assert_eq!(swap_sides("left-sided"), "right-sided");
    assert_eq!(swap_sides("Lefty leftover"), "Lefty leftover");
    assert_eq!(swap_sides(""), "");
    for (_, text) in corpus(10, 71) {
        assert_eq!(swap_sides(&swap_sides(&text)), text);
    }
}

#[test]
fn swapped_report_matches_a_mirrored_finding() {
    for (study, text) in corpus(30, 81) {
        let Some(side @ (Side::Left | Side::Right)) = main_side(&study) else {
            continue;
        };
        let swapped = swap_sides(&text);
        let want = if side == Side::Left { "right" } else { "left" };
        let toks = tokens(&swapped);
        assert!(
            toks.iter()
                .any(|t| t.eq_ignore_ascii_case(want) || *t == want[..1].to_uppercase()),
            "{swapped}"
        );
    }
}

/// Prints the length statistics and one report per label:
/// `cargo test --lib synth::report::tests::print_stats -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_stats() {
    let reports = corpus(100, 61);
    let mut words: Vec<usize> = reports
        .iter()
        .map(|(_, t)| t.split_whitespace().count())
        .collect();
    words.sort_unstable();
    let mean = words.iter().sum::<usize>() as f64 / words.len() as f64;
    println!(
        "words over {} reports: median {} mean {mean:.1} p90 {} max {}",
        words.len(),
        percentile(&words, 0.5),
        percentile(&words, 0.9),
        words[words.len() - 1]
    );
    for label in Label::ALL {
        if let Some((_, text)) = reports.iter().find(|(s, _)| s.label == label) {
            println!("--- {label:?}\n{text}");
        }
    }
}
