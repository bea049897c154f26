//! The frozen text tower: tiny random BERT/DistilBERT folders end to end, and, where
//! `models/all-MiniLM-L6-v2` has been fetched (`cargo run -- fetch-model`), the real model.

use std::fs;
use std::path::{Path, PathBuf};

use brainclip::io::fetch::{FetchOutcome, fetch_model, is_fetched};
use brainclip::model::text::{Pooling, TextEncoder, TextError, TextModelKind, write_random_model};
use candle_core::Device;

const KINDS: [TextModelKind; 2] = [TextModelKind::Bert, TextModelKind::DistilBert];

fn tiny(kind: TextModelKind, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_random_model(dir.path(), kind, seed).unwrap();
    dir
}

fn load(dir: &Path, pooling: Pooling) -> TextEncoder {
    TextEncoder::load(dir, pooling, &Device::Cpu).unwrap()
}

fn load_err(dir: &Path) -> String {
    let e = TextEncoder::load(dir, Pooling::Mean, &Device::Cpu).unwrap_err();
    format!("{e:#}")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

const REPORTS: [&str; 3] = [
    "Acute infarct in the left MCA territory with restricted diffusion.",
    "No acute intracranial abnormality.",
    "Large right frontal mass with surrounding vasogenic edema and midline shift.",
];

#[test]
fn tiny_models_load_and_embed_at_their_hidden_size() {
    for kind in KINDS {
        let dir = tiny(kind, 7);
        let enc = load(dir.path(), Pooling::Mean);
        assert_eq!(enc.kind(), kind);
        assert_eq!(enc.hidden_size(), 32);
        assert_eq!(enc.max_len(), 64);
        assert_eq!(enc.fingerprint().len(), 64);
        let e = enc.embed(&REPORTS).unwrap();
        assert_eq!(e.len(), REPORTS.len());
        for v in &e {
            assert_eq!(v.len(), 32);
            assert!(v.iter().all(|x| x.is_finite()));
        }
        assert!(max_abs_diff(&e[0], &e[1]) > 1e-3, "{kind:?}: texts differ");
        assert!(enc.embed(&[]).unwrap().is_empty());
    }
}

#[test]
fn same_seed_same_files_and_embeddings_other_seed_other_fingerprint() {
    for kind in KINDS {
        let (a, b, c) = (tiny(kind, 3), tiny(kind, 3), tiny(kind, 4));
        for name in [
            "config.json",
            "tokenizer.json",
            "vocab.txt",
            "model.safetensors",
        ] {
            let bytes = |d: &tempfile::TempDir| fs::read(d.path().join(name)).unwrap();
            assert_eq!(bytes(&a), bytes(&b), "{kind:?} {name}");
        }
        let (ea, eb, ec) = (
            load(a.path(), Pooling::Mean),
            load(b.path(), Pooling::Mean),
            load(c.path(), Pooling::Mean),
        );
        assert_eq!(ea.fingerprint(), eb.fingerprint());
        assert_ne!(ea.fingerprint(), ec.fingerprint());
        assert_eq!(ea.embed(&REPORTS).unwrap(), eb.embed(&REPORTS).unwrap());
        assert_eq!(ea.embed(&REPORTS).unwrap(), ea.embed(&REPORTS).unwrap());
        assert_ne!(ea.embed(&REPORTS).unwrap(), ec.embed(&REPORTS).unwrap());
    }
}

#[test]
fn padding_and_batching_do_not_change_embeddings() {
    let long = "Large heterogeneous enhancing mass in the right frontal lobe with central \
                necrosis, surrounding vasogenic edema, effacement of the sulci and mild \
                midline shift to the left; several small foci of restricted diffusion.";
    // More than one batch of 32, of very different lengths.
    let many: Vec<String> = (0..45)
        .map(|i| match i % 3 {
            0 => format!("Finding {i}."),
            1 => format!("{} Study {i}.", REPORTS[i % 3]),
            _ => format!("{long} Item {i}."),
        })
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for kind in KINDS {
        let dir = tiny(kind, 11);
        for pooling in [Pooling::Mean, Pooling::Cls] {
            let enc = load(dir.path(), pooling);
            let alone = enc.embed(&["Small acute infarct."]).unwrap();
            let with_long = enc.embed(&[long, "Small acute infarct."]).unwrap();
            let d = max_abs_diff(&alone[0], &with_long[1]);
            assert!(d < 1e-4, "{kind:?} {pooling:?}: {d}");
            let batch = enc.embed(&many).unwrap();
            for (text, v) in many.iter().zip(&batch) {
                let single = enc.embed(&[text]).unwrap();
                let d = max_abs_diff(&single[0], v);
                assert!(d < 1e-4, "{kind:?} {pooling:?} {text:?}: {d}");
            }
        }
    }
}

#[test]
fn texts_longer_than_the_model_are_truncated() {
    let long = "left frontal infarct ".repeat(40); // ~120 tokens > 64 positions
    for kind in KINDS {
        let dir = tiny(kind, 5);
        let enc = load(dir.path(), Pooling::Mean);
        let e = enc.embed(&[&long, "Normal."]).unwrap();
        assert!(e[0].iter().all(|x| x.is_finite()));
    }
}

#[test]
fn mean_and_cls_pooling_differ_and_change_the_fingerprint() {
    for kind in KINDS {
        let dir = tiny(kind, 2);
        let mean = load(dir.path(), Pooling::Mean);
        let cls = load(dir.path(), Pooling::Cls);
        assert_ne!(mean.fingerprint(), cls.fingerprint());
        let (a, b) = (mean.embed(&REPORTS).unwrap(), cls.embed(&REPORTS).unwrap());
        assert!(max_abs_diff(&a[0], &b[0]) > 1e-3);
    }
}

#[test]
fn empty_text_is_an_error_naming_it() {
    let dir = tiny(TextModelKind::Bert, 1);
    let enc = load(dir.path(), Pooling::Mean);
    let e = enc.embed(&["Normal.", "  \n"]).unwrap_err();
    assert!(matches!(e, TextError::EmptyText { index: 1 }));
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn broken_folders_give_errors_naming_the_file() {
    for (file, expect) in [
        ("config.json", "config.json"),
        ("tokenizer.json", "tokenizer.json"),
        ("model.safetensors", "model.safetensors"),
    ] {
        let dir = tiny(TextModelKind::Bert, 1);
        fs::remove_file(dir.path().join(file)).unwrap();
        let msg = load_err(dir.path());
        assert!(msg.contains("missing") && msg.ends_with(expect), "{msg}");

        let dir = tiny(TextModelKind::DistilBert, 1);
        fs::write(dir.path().join(file), b"garbage{").unwrap();
        let msg = load_err(dir.path());
        assert!(msg.ends_with(expect), "{msg}");
    }

    let dir = tiny(TextModelKind::Bert, 1);
    let config = dir.path().join("config.json");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace("\"bert\"", "\"roberta\"")).unwrap();
    let msg = load_err(dir.path());
    assert!(
        msg.contains("unsupported") && msg.contains("roberta") && msg.ends_with("config.json"),
        "{msg}"
    );

    // Weights of another shape than the config says.
    fs::write(
        &config,
        text.replace("\"intermediate_size\": 64", "\"intermediate_size\": 48"),
    )
    .unwrap();
    let msg = load_err(dir.path());
    assert!(
        msg.contains("do not fit") && msg.ends_with("model.safetensors"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// The real all-MiniLM-L6-v2, where fetched.

/// The fetched all-MiniLM-L6-v2; `None` (with a note) outside CI when it is missing, a panic
/// in CI, which fetches it first.
pub(crate) fn real_model_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    if is_fetched(&dir) {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the text encoder is missing or altered in {}: run `cargo run -- fetch-model` \
             before the tests",
            dir.display()
        );
    }
    eprintln!(
        "note: skipping the real-model test: no verified all-MiniLM-L6-v2 in {} \
         (run `cargo run -- fetch-model`)",
        dir.display()
    );
    None
}

#[test]
fn real_model_scores_paraphrases_above_unrelated_findings() {
    let Some(dir) = real_model_dir() else { return };
    let enc = load(&dir, Pooling::Mean);
    assert_eq!(enc.hidden_size(), 384);
    assert_eq!(enc.max_len(), 512);
    let triplets = [
        (
            "Acute infarct in the left MCA territory with restricted diffusion.",
            "Restricted diffusion in the left middle cerebral artery territory, consistent \
             with acute ischemic stroke.",
            "Large right frontal mass with surrounding vasogenic edema.",
        ),
        (
            "Ring-enhancing mass in the right temporal lobe with surrounding edema, \
             suspicious for glioblastoma.",
            "Heterogeneously enhancing right temporal tumor with necrotic center and \
             peritumoral vasogenic edema.",
            "Small chronic lacunar infarct in the left thalamus.",
        ),
        (
            "Acute intraparenchymal hemorrhage in the left basal ganglia with \
             intraventricular extension.",
            "Left basal ganglia hematoma extending into the lateral ventricle.",
            "No acute intracranial abnormality. Normal MRI of the brain.",
        ),
        (
            "Normal MRI of the brain. No acute intracranial abnormality.",
            "Unremarkable brain MRI without mass, hemorrhage or infarct.",
            "Large acute subdural hematoma over the right convexity with midline shift.",
        ),
    ];
    for (a, paraphrase, other) in triplets {
        let e = enc.embed(&[a, paraphrase, other]).unwrap();
        let same = cosine(&e[0], &e[1]);
        let (x, y) = (cosine(&e[0], &e[2]), cosine(&e[1], &e[2]));
        eprintln!("{same:.3} vs {x:.3} / {y:.3}: {a}");
        assert!(same > x && same > y, "{same} vs {x}, {y}: {a:?}");
    }
}

/// Golden values from an independent float64 numpy implementation of HuggingFace's
/// `BertModel` + mean pooling (and a greedy WordPiece tokenizer, enough for this ASCII
/// sentence), run as `python3 ref.py models/all-MiniLM-L6-v2 "<sentence>"`:
/// ids [101, 11325, 1999, 14971, 6593, 1999, 1996, 2187, 22432, 3700, 2007, 7775, 19241,
/// 1012, 102]; first8 and norm as below.
// ref.py:
// import json, struct, sys, re, math
// import numpy as np
// d = sys.argv[1]; text = sys.argv[2]
// tok = json.load(open(f"{d}/tokenizer.json")); vocab = tok["model"]["vocab"]
// words = re.findall(r"\w+|[^\w\s]", text.lower())
// ids = [vocab["[CLS]"]]
// for w in words:
//     start = 0
//     while start < len(w):
//         end = len(w)
//         while end > start:
//             piece = w[start:end] if start == 0 else "##" + w[start:end]
//             if piece in vocab: break
//             end -= 1
//         assert end > start, w
//         ids.append(vocab[piece]); start = end
// ids.append(vocab["[SEP]"])
// f = open(f"{d}/model.safetensors", "rb"); n = struct.unpack("<Q", f.read(8))[0]
// hdr = json.loads(f.read(n)); data = f.read()
// def t(name):
//     m = hdr[name]; a, b = m["data_offsets"]
//     return np.frombuffer(data[a:b], dtype=np.float32).reshape(m["shape"]).astype(np.float64)
// cfg = json.load(open(f"{d}/config.json"))
// H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
// def ln(x, p):
//     mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
//     return (x - mu) / np.sqrt(var + eps) * t(p + ".weight") + t(p + ".bias")
// def lin(x, p): return x @ t(p + ".weight").T + t(p + ".bias")
// erf = np.vectorize(math.erf)
// L = len(ids)
// x = t("embeddings.word_embeddings.weight")[ids] + t("embeddings.position_embeddings.weight")[:L] + t("embeddings.token_type_embeddings.weight")[0]
// x = ln(x, "embeddings.LayerNorm")
// dh = H // nh
// for l in range(cfg["num_hidden_layers"]):
//     p = f"encoder.layer.{l}"
//     q, k, v = (lin(x, f"{p}.attention.self.{m}").reshape(L, nh, dh).transpose(1, 0, 2) for m in ("query", "key", "value"))
//     s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
//     s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
//     c = (s @ v).transpose(1, 0, 2).reshape(L, H)
//     x = ln(lin(c, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
//     i = lin(x, f"{p}.intermediate.dense"); i = 0.5 * i * (1 + erf(i / math.sqrt(2)))
//     x = ln(lin(i, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
// e = x.mean(0)
// print("ids", ids)
// print("first8", [round(float(v), 6) for v in e[:8]])
// print("norm", float(np.linalg.norm(e)))
#[test]
fn real_model_matches_a_numpy_reference() {
    let Some(dir) = real_model_dir() else { return };
    let enc = load(&dir, Pooling::Mean);
    let e = enc.embed(&[REPORTS[0]]).unwrap().remove(0);
    let golden = [
        0.096166, -0.262425, 0.121083, 0.250401, 0.355142, -0.259695, -0.495633, 0.426953,
    ];
    let d = max_abs_diff(&e[..8], &golden);
    assert!(d < 1e-4, "{d}: {:?}", &e[..8]);
    let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 5.090864).abs() < 1e-3, "{norm}");
}

#[test]
fn fetching_again_finds_the_model_present() {
    let Some(dir) = real_model_dir() else { return };
    assert_eq!(fetch_model(&dir).unwrap(), FetchOutcome::AlreadyPresent);
}
