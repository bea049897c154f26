//! A tiny random-weight text model folder, for tests and offline smoke runs: the same files
//! and tensor names as a real HuggingFace checkpoint, a few thousand parameters, written in
//! milliseconds and deterministic for a seed.

use std::collections::HashSet;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::json;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::vocab::{PUNCTUATION, SPECIAL, WORDS};
use super::{TextError, TextModelKind};
use crate::io::atomic::write_atomic;
use crate::model::checkpoint::{CheckpointError, save_varmap};

const HIDDEN: usize = 32;
const LAYERS: usize = 2;
const HEADS: usize = 2;
const INTERMEDIATE: usize = 64;
const MAX_POSITIONS: usize = 64;
/// The shipped all-MiniLM-L6-v2 tokenizer pads every text to 128 tokens; the tiny one does
/// too, so tests see that the encoder switches padding off (128 > `MAX_POSITIONS`).
const TOKENIZER_PAD_TO: usize = 128;

/// Writes a tiny random-weight model folder of `kind` into `dir` (created if needed), **for
/// tests and offline smoke runs**: `config.json` (hidden size 32, 2 layers, 2 heads,
/// intermediate size 64, 64 positions), `vocab.txt`, `tokenizer.json` (WordPiece over a few
/// hundred English and radiology words plus single characters, BERT normaliser,
/// pre-tokenizer and `[CLS] … [SEP]` post-processor) and `model.safetensors`.
///
/// Tensor names are those of real checkpoints: a bare `BertModel` (as sentence-transformers
/// saves all-MiniLM-L6-v2) for [`TextModelKind::Bert`], and `distilbert.`-prefixed (as
/// `distilbert-base-uncased`) for [`TextModelKind::DistilBert`]. The same `seed` gives
/// byte-identical files. Every file is written atomically.
pub fn write_random_model(dir: &Path, kind: TextModelKind, seed: u64) -> Result<(), TextError> {
    let vocab = vocabulary();
    let config = match kind {
        TextModelKind::Bert => bert_config(vocab.len()),
        TextModelKind::DistilBert => distilbert_config(vocab.len()),
    };
    let config = serde_json::to_vec_pretty(&config)
        .map_err(|e| TextError::Tokenize(format!("cannot serialise config.json ({e})")))?;
    write_atomic(&dir.join("config.json"), &config)?;
    let vocab_txt = vocab.join("\n") + "\n";
    write_atomic(&dir.join("vocab.txt"), vocab_txt.as_bytes())?;
    let tokenizer = tokenizer_json(&vocab_txt)?;
    write_atomic(&dir.join("tokenizer.json"), tokenizer.as_bytes())?;
    let path = dir.join("model.safetensors");
    let tensors =
        random_weights(kind, vocab.len(), seed).map_err(|source| CheckpointError::Tensor {
            source,
            path: path.clone(),
        })?;
    let varmap = VarMap::new();
    {
        let mut data = match varmap.data().lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(), // a fresh map: nothing half-written
        };
        for (name, t) in tensors {
            let var = Var::from_tensor(&t).map_err(|source| CheckpointError::Tensor {
                source,
                path: path.clone(),
            })?;
            data.insert(name, var);
        }
    }
    save_varmap(&varmap, &path)?;
    Ok(())
}

/// Special tokens, characters, `##` continuations and words, without duplicates.
fn vocabulary() -> Vec<String> {
    let mut seen = HashSet::new();
    let chars = ('a'..='z').chain('0'..='9').chain(PUNCTUATION.chars());
    let singles: Vec<String> = chars.map(String::from).collect();
    let continuations = ('a'..='z').chain('0'..='9').map(|c| format!("##{c}"));
    SPECIAL
        .iter()
        .map(|s| s.to_string())
        .chain(singles)
        .chain(continuations)
        .chain(WORDS.iter().map(|w| w.to_string()))
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

fn bert_config(vocab_size: usize) -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": MAX_POSITIONS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "use_cache": true,
        "vocab_size": vocab_size,
    })
}

fn distilbert_config(vocab_size: usize) -> serde_json::Value {
    json!({
        "activation": "gelu",
        "architectures": ["DistilBertForMaskedLM"],
        "attention_dropout": 0.1,
        "dim": HIDDEN,
        "dropout": 0.1,
        "hidden_dim": INTERMEDIATE,
        "initializer_range": 0.02,
        "max_position_embeddings": MAX_POSITIONS,
        "model_type": "distilbert",
        "n_heads": HEADS,
        "n_layers": LAYERS,
        "pad_token_id": 0,
        "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": false,
        "tie_weights_": true,
        "vocab_size": vocab_size,
    })
}

/// A BERT-style `tokenizer.json` over `vocab_txt` (one token per line, id = line number).
fn tokenizer_json(vocab_txt: &str) -> Result<String, TextError> {
    let err = |e: tokenizers::Error| TextError::Tokenize(format!("cannot build tokenizer ({e})"));
    let vocab = WordPiece::read_bytes(vocab_txt.as_bytes()).map_err(err)?;
    let id = |t: &str| vocab.get(t).copied().unwrap_or(0);
    let (cls, sep, pad) = (id("[CLS]"), id("[SEP]"), id("[PAD]"));
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .map_err(err)?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .map_err(err)?;
    tokenizer
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )))
        .with_decoder(Some(WordPieceDecoder::default()))
        .with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(TOKENIZER_PAD_TO),
            pad_token: "[PAD]".into(),
            pad_id: pad,
            ..PaddingParams::default()
        }));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: TOKENIZER_PAD_TO,
            ..TruncationParams::default()
        }))
        .map_err(err)?;
    let specials: Vec<AddedToken> = SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect();
    tokenizer.add_special_tokens(specials).map_err(err)?;
    tokenizer.to_string(true).map_err(err)
}

/// Seeded random tensors under the checkpoint names of `kind`, in a fixed order.
///
/// Weights are drawn with a standard deviation of 0.2 rather than the usual 0.02 so that
/// the untrained network still tells texts clearly apart.
fn random_weights(
    kind: TextModelKind,
    vocab_size: usize,
    seed: u64,
) -> candle_core::Result<Vec<(String, Tensor)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tensor_specs(kind, vocab_size)
        .into_iter()
        .map(|(name, shape, init)| {
            let n: usize = shape.iter().product();
            let values = match init {
                Init::Weight => normal(&mut rng, 0.0, 0.2, n),
                Init::Bias => normal(&mut rng, 0.0, 0.02, n),
                Init::Gain => normal(&mut rng, 1.0, 0.05, n),
            };
            Ok((name, Tensor::from_vec(values, shape, &Device::Cpu)?))
        })
        .collect()
}

/// How a tensor is initialised.
#[derive(Debug, Clone, Copy)]
enum Init {
    /// A matrix or embedding table.
    Weight,
    /// A bias or layer-norm shift.
    Bias,
    /// A layer-norm gain.
    Gain,
}

/// Name, shape and initialisation of one tensor.
type Spec = (String, Vec<usize>, Init);

fn linear(specs: &mut Vec<Spec>, prefix: &str, out_dim: usize, in_dim: usize) {
    specs.push((
        format!("{prefix}.weight"),
        vec![out_dim, in_dim],
        Init::Weight,
    ));
    specs.push((format!("{prefix}.bias"), vec![out_dim], Init::Bias));
}

fn layer_norm(specs: &mut Vec<Spec>, prefix: &str) {
    specs.push((format!("{prefix}.weight"), vec![HIDDEN], Init::Gain));
    specs.push((format!("{prefix}.bias"), vec![HIDDEN], Init::Bias));
}

fn table(specs: &mut Vec<Spec>, name: &str, rows: usize) {
    specs.push((name.to_string(), vec![rows, HIDDEN], Init::Weight));
}

/// Every tensor of a HuggingFace `BertModel` / `DistilBertForMaskedLM` encoder (the
/// masked-LM head of the latter is left out: the text tower never uses it).
fn tensor_specs(kind: TextModelKind, vocab_size: usize) -> Vec<Spec> {
    let (h, i) = (HIDDEN, INTERMEDIATE);
    let mut s = Vec::new();
    match kind {
        TextModelKind::Bert => {
            table(&mut s, "embeddings.word_embeddings.weight", vocab_size);
            table(
                &mut s,
                "embeddings.position_embeddings.weight",
                MAX_POSITIONS,
            );
            table(&mut s, "embeddings.token_type_embeddings.weight", 2);
            layer_norm(&mut s, "embeddings.LayerNorm");
            for l in 0..LAYERS {
                let p = format!("encoder.layer.{l}");
                for m in ["query", "key", "value"] {
                    linear(&mut s, &format!("{p}.attention.self.{m}"), h, h);
                }
                linear(&mut s, &format!("{p}.attention.output.dense"), h, h);
                layer_norm(&mut s, &format!("{p}.attention.output.LayerNorm"));
                linear(&mut s, &format!("{p}.intermediate.dense"), i, h);
                linear(&mut s, &format!("{p}.output.dense"), h, i);
                layer_norm(&mut s, &format!("{p}.output.LayerNorm"));
            }
            linear(&mut s, "pooler.dense", h, h);
        }
        TextModelKind::DistilBert => {
            table(
                &mut s,
                "distilbert.embeddings.word_embeddings.weight",
                vocab_size,
            );
            table(
                &mut s,
                "distilbert.embeddings.position_embeddings.weight",
                MAX_POSITIONS,
            );
            layer_norm(&mut s, "distilbert.embeddings.LayerNorm");
            for l in 0..LAYERS {
                let p = format!("distilbert.transformer.layer.{l}");
                for m in ["q_lin", "k_lin", "v_lin", "out_lin"] {
                    linear(&mut s, &format!("{p}.attention.{m}"), h, h);
                }
                layer_norm(&mut s, &format!("{p}.sa_layer_norm"));
                linear(&mut s, &format!("{p}.ffn.lin1"), i, h);
                linear(&mut s, &format!("{p}.ffn.lin2"), h, i);
                layer_norm(&mut s, &format!("{p}.output_layer_norm"));
            }
        }
    }
    s
}

fn normal(rng: &mut ChaCha8Rng, mean: f32, std: f32, n: usize) -> Vec<f32> {
    match Normal::new(mean, std) {
        Ok(d) => (0..n).map(|_| d.sample(rng)).collect(),
        // Unreachable for the constant, finite deviations above.
        Err(_) => vec![mean; n],
    }
}
