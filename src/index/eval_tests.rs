//! Tests of [`super::evaluate`] and the table, on small synthetic embeddings.

use super::*;

/// Study `i` of class `c`: the class axis `c` plus a small study-specific direction in
/// axes 5 and 6, so the study's own report is its unique best match.
fn study(i: usize, c: usize) -> Vec<f32> {
    let mut v = vec![0.0; 8];
    v[c] = 1.0;
    let theta = i as f32 * 0.3;
    v[5] = 0.3 * theta.cos();
    v[6] = 0.3 * theta.sin();
    v
}

fn prompts() -> Vec<Vec<f32>> {
    (0..5)
        .map(|c| {
            let mut v = vec![0.0; 8];
            v[c] = 1.0;
            v
        })
        .collect()
}

fn split(n: usize, classes: usize) -> (Vec<Vec<f32>>, Vec<Label>) {
    let labels: Vec<Label> = (0..n).map(|i| Label::ALL[i % classes]).collect();
    let image = (0..n).map(|i| study(i, i % classes)).collect();
    (image, labels)
}

fn inputs<'a>(
    image: &'a [Vec<f32>],
    text: &'a [Vec<f32>],
    labels: &'a [Label],
    prompts: &'a [Vec<f32>],
) -> EvalInputs<'a> {
    EvalInputs {
        image,
        text,
        labels,
        class_prompts: prompts,
        logit_scale: 50.0,
    }
}

#[test]
fn perfect_embeddings_score_perfectly() {
    let (image, labels) = split(20, 4);
    let text: Vec<Vec<f32>> = image
        .iter()
        .map(|v| v.iter().map(|x| 3.0 * x).collect())
        .collect();
    let p = prompts();
    let r = evaluate(&inputs(&image, &text, &labels, &p), 200, 1).unwrap();
    assert_eq!(r.n, 20);
    assert_eq!(r.text_to_image.r1, 1.0);
    assert_eq!(r.image_to_text.r1, 1.0);
    assert_eq!(r.text_to_image.median_rank, 1.0);
    assert_eq!(r.class_precision.p1, 1.0);
    assert!((r.class_precision.p5 - 0.8).abs() < 1e-12); // 4 others per class of 5
    assert_eq!(r.map, 1.0);
    assert_eq!(r.zero_shot.accuracy, 1.0);
    assert_eq!(r.zero_shot.balanced_accuracy, 1.0);
    assert_eq!(r.zero_shot.macro_auc, 1.0);
    assert_eq!(r.per_class.len(), 4);
    assert!(!r.per_class.contains_key(&Label::Other));
    assert_eq!(r.per_class[&Label::Tumor].n, 5);
    assert_eq!(r.confusion[1][1], 5);
    assert_eq!(r.intervals.text_to_image.r1, Interval { lo: 1.0, hi: 1.0 });
}

#[test]
fn shuffled_reports_lose_retrieval_and_intervals_bracket() {
    let (image, labels) = split(30, 5);
    // Report i belongs to study (i + 1) % n: the true image is rarely first.
    let text: Vec<Vec<f32>> = (0..30).map(|i| image[(i + 1) % 30].clone()).collect();
    let p = prompts();
    let r = evaluate(&inputs(&image, &text, &labels, &p), 300, 9).unwrap();
    assert!(r.text_to_image.r1 < 0.2);
    assert!(r.text_to_image.median_rank > 1.0);
    let iv = r.intervals.text_to_image.r10;
    assert!(iv.lo <= r.text_to_image.r10 && r.text_to_image.r10 <= iv.hi);
    let again = evaluate(&inputs(&image, &text, &labels, &p), 300, 9).unwrap();
    assert_eq!(again.intervals, r.intervals);
}

#[test]
fn the_two_retrieval_directions_are_told_apart() {
    // Image 1 lies between both reports: reports find their images (R@1 1), but image 1
    // ties its own report with report 0, and ties count against the query (R@1 0.5).
    let axis = |weights: &[(usize, f32)]| {
        let mut v = vec![0.0f32; 8];
        for &(i, w) in weights {
            v[i] = w;
        }
        v
    };
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let image = vec![axis(&[(0, 1.0)]), axis(&[(0, h), (1, h)])];
    let text = vec![axis(&[(0, 1.0)]), axis(&[(1, 1.0)])];
    let labels = [Label::Infarct, Label::Tumor];
    let p = prompts();
    let r = evaluate(&inputs(&image, &text, &labels, &p), 0, 0).unwrap();
    assert_eq!(r.text_to_image.r1, 1.0);
    assert_eq!(r.image_to_text.r1, 0.5);
    assert_eq!(r.image_to_text.median_rank, 1.5);
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let (image, labels) = split(10, 5);
    let p = prompts();
    let r = evaluate(&inputs(&image, &image, &labels, &p), 0, 0).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let mut top = keys(&v);
    top.sort();
    assert_eq!(
        top,
        [
            "class_precision",
            "image_to_text",
            "map",
            "n",
            "per_class",
            "text_to_image",
            "zero_shot"
        ]
    );
    let mut ret = keys(&v["text_to_image"]);
    ret.sort();
    assert_eq!(ret, ["median_rank", "r1", "r10", "r5"]);
    assert_eq!(keys(&v["image_to_text"]).len(), 4);
    assert_eq!(keys(&v["class_precision"]), ["p1", "p5"]);
    let mut zs = keys(&v["zero_shot"]);
    zs.sort();
    assert_eq!(zs, ["accuracy", "balanced_accuracy", "macro_auc"]);
    assert_eq!(
        keys(&v["per_class"]),
        ["hemorrhage", "infarct", "normal", "other", "tumor"] // serde_json sorts map keys
    );
    let mut pc = keys(&v["per_class"]["infarct"]);
    pc.sort();
    assert_eq!(pc, ["n", "p1", "t2i_r1", "t2i_r10", "zero_shot_recall"]);
    let back: EvalReport = serde_json::from_value(v).unwrap();
    assert_eq!(back.text_to_image, r.text_to_image);
}

#[test]
fn undefined_metrics_round_trip_as_null() {
    let (image, labels) = split(2, 2); // one study per class: no relevant neighbour, mAP undefined
    let p = prompts();
    let r = evaluate(&inputs(&image, &image, &labels, &p), 0, 0).unwrap();
    assert!(r.map.is_nan());
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"map\":null"));
    let back: EvalReport = serde_json::from_str(&json).unwrap();
    assert!(back.map.is_nan());
}

#[test]
fn rejects_bad_inputs() {
    let (image, labels) = split(6, 3);
    let p = prompts();
    let ok = inputs(&image, &image, &labels, &p);
    let err = |inp: EvalInputs| evaluate(&inp, 0, 0).unwrap_err();

    assert!(matches!(
        err(EvalInputs {
            text: &image[..5],
            ..ok
        }),
        EvalError::LengthMismatch { what: "text", .. }
    ));
    assert!(matches!(
        err(EvalInputs {
            labels: &labels[..5],
            ..ok
        }),
        EvalError::LengthMismatch { what: "labels", .. }
    ));
    assert!(matches!(
        err(EvalInputs {
            class_prompts: &p[..4],
            ..ok
        }),
        EvalError::LengthMismatch {
            what: "class_prompts",
            ..
        }
    ));
    assert_eq!(
        err(EvalInputs {
            image: &image[..1],
            text: &image[..1],
            labels: &labels[..1],
            ..ok
        }),
        EvalError::TooFew { n: 1 }
    );

    let mut short = image.clone();
    short[3].pop();
    assert!(matches!(
        err(EvalInputs { text: &short, ..ok }),
        EvalError::DimMismatch {
            what: "text",
            index: 3,
            ..
        }
    ));
    let mut nan = image.clone();
    nan[2][0] = f32::NAN;
    assert_eq!(
        err(EvalInputs { image: &nan, ..ok }),
        EvalError::NonFinite {
            what: "image",
            index: 2
        }
    );
    assert!(matches!(
        err(EvalInputs {
            logit_scale: 0.0,
            ..ok
        }),
        EvalError::BadScale(_)
    ));
    let msg = err(EvalInputs { text: &short, ..ok }).to_string();
    assert!(
        msg.contains("text embedding 3 has dimension 7, expected 8"),
        "{msg}"
    );
}

#[test]
fn table_shows_metrics_intervals_and_chance() {
    let (image, labels) = split(20, 4);
    let p = prompts();
    let r = evaluate(&inputs(&image, &image, &labels, &p), 100, 3).unwrap();
    let t = r.to_table();
    for needle in [
        "evaluation of 20 studies",
        "text->image R@1",
        "image->text median rank",
        "class precision P@1",
        "mAP",
        "zero-shot macro AUC",
        "[  1.000,   1.000]",
        "0.050", // R@1 chance 1/20
        "0.211", // P@1 chance: 4 * (5/20) * (4/19)
        "majority 0.250",
        "infarct",
        "zero-shot confusion",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
}
