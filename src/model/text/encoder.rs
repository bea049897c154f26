//! [`TextEncoder`]: tokenizer + frozen BERT/DistilBERT + pooling, in length-sorted batches.

use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use candle_transformers::models::distilbert::DistilBertModel;
use sha2::{Digest, Sha256};
use tokenizers::{Encoding, PostProcessor, Tokenizer, TruncationParams};

use super::config::{Arch, ModelConfig, parse_config};
use super::{Pooling, TextError, TextModelKind};
use crate::io::IoError;

/// Texts per forward pass. Texts are sorted by token count first, so a batch pads little.
const BATCH_SIZE: usize = 32;

/// The name every BERT-family checkpoint gives its token embedding table, after its prefix.
const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// The loaded network.
enum Network {
    Bert(BertModel),
    DistilBert(DistilBertModel),
}

/// A frozen pretrained text encoder: turns reports into pooled embeddings.
///
/// Loaded once from a HuggingFace folder; holds no gradients. Cheap to share by reference
/// between calls; `embed` takes `&self`.
pub struct TextEncoder {
    network: Network,
    tokenizer: Tokenizer,
    pooling: Pooling,
    hidden_size: usize,
    max_len: usize,
    fingerprint: String,
    device: Device,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("kind", &self.kind())
            .field("pooling", &self.pooling)
            .field("hidden_size", &self.hidden_size)
            .field("max_len", &self.max_len)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Reads `dir/name`, naming the file in the error.
fn read_model_file(dir: &Path, name: &str) -> Result<(Vec<u8>, PathBuf), TextError> {
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => Ok((bytes, path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(IoError::missing(
            format!("text model file {name} (run `brainclip fetch-model` for the default)"),
            &path,
        )
        .into()),
        Err(e) => Err(IoError::os("read", &path, e).into()),
    }
}

impl TextEncoder {
    /// Loads the model folder `dir`: `config.json` (BERT or DistilBERT, detected from
    /// `model_type`, else `architectures`), `tokenizer.json` and `model.safetensors` (with or
    /// without a `bert.` / `distilbert.` name prefix; any float dtype, computed in f32).
    ///
    /// The tokenizer's own padding is switched off (each batch is padded to its longest text
    /// instead) and truncation set to the model's `max_position_embeddings`, at most 512.
    pub fn load(dir: &Path, pooling: Pooling, device: &Device) -> Result<Self, TextError> {
        let (config_bytes, config_path) = read_model_file(dir, "config.json")?;
        let config = parse_config(&config_bytes, &config_path)?;
        let (tokenizer_bytes, tokenizer_path) = read_model_file(dir, "tokenizer.json")?;
        let tokenizer = load_tokenizer(&tokenizer_bytes, config.max_len, &tokenizer_path)?;
        let (weight_bytes, weight_path) = read_model_file(dir, "model.safetensors")?;
        let network = load_network(&config, &weight_bytes, &weight_path, device)?;
        let fingerprint = fingerprint(&[&config_bytes, &tokenizer_bytes, &weight_bytes], pooling);
        Ok(TextEncoder {
            network,
            tokenizer,
            pooling,
            hidden_size: config.hidden_size,
            max_len: config.max_len,
            fingerprint,
            device: device.clone(),
        })
    }

    /// Length of every embedding.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// Most tokens per text (special tokens included); longer texts are truncated.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The pooling mode.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The architecture.
    pub fn kind(&self) -> TextModelKind {
        match self.network {
            Network::Bert(_) => TextModelKind::Bert,
            Network::DistilBert(_) => TextModelKind::DistilBert,
        }
    }

    /// Hex SHA-256 over `config.json`, `tokenizer.json`, `model.safetensors` and the pooling
    /// mode: equal fingerprints give equal embeddings. Caches and indexes are keyed by it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The pooled embedding of each text, in input order (not normalised).
    ///
    /// Texts are tokenised, sorted by length and run in batches of up to 32, each padded to
    /// its longest text with the padding masked out, so a text's embedding does not depend on
    /// the other texts (up to float rounding). An empty or whitespace-only text is an error.
    ///
    /// # Shapes
    /// Returns `texts.len()` vectors of [`Self::hidden_size`] values.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TextError> {
        if let Some(index) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(TextError::EmptyText { index });
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH_SIZE) {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let pooled = self.embed_batch(&batch)?.to_vec2::<f32>()?;
            for (&i, v) in chunk.iter().zip(pooled) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Runs one padded batch.
    ///
    /// # Shapes
    /// Returns `[b, hidden]` for `b = batch.len()`.
    fn embed_batch(&self, batch: &[&Encoding]) -> Result<Tensor, TextError> {
        let b = batch.len();
        let len = batch.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = vec![0u32; b * len];
        let mut type_ids = vec![0u32; b * len];
        let mut mask = vec![0u32; b * len];
        for (row, e) in batch.iter().enumerate() {
            let n = e.get_ids().len();
            ids[row * len..row * len + n].copy_from_slice(e.get_ids());
            type_ids[row * len..row * len + n].copy_from_slice(e.get_type_ids());
            mask[row * len..row * len + n].copy_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (b, len), &self.device)?; // [b, l]
        let mask = Tensor::from_vec(mask, (b, len), &self.device)?; // [b, l], 1 = token
        let hidden = match &self.network {
            Network::Bert(m) => {
                let type_ids = Tensor::from_vec(type_ids, (b, len), &self.device)?;
                // candle's BERT takes HuggingFace's mask (1 = attend) and turns it additive.
                m.forward(&ids, &type_ids, Some(&mask))?
            }
            Network::DistilBert(m) => {
                // candle's DistilBERT takes the opposite: 1 where attention is *blocked*,
                // broadcast against the scores [b, heads, l, l].
                let blocked = mask.eq(0u32)?.reshape((b, 1, 1, len))?; // [b, 1, 1, l]
                m.forward(&ids, &blocked)?
            }
        }; // [b, l, hidden]
        Ok(pool(&hidden, &mask, self.pooling)?)
    }
}

/// Pools token states.
///
/// # Shapes
/// `hidden`: `[b, l, h]`, `mask`: `[b, l]` (1 = real token, any integer or float dtype);
/// returns `[b, h]`.
fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> candle_core::Result<Tensor> {
    let (_b, _l, _h) = hidden.dims3()?;
    match pooling {
        Pooling::Cls => hidden.i((.., 0, ..)),
        Pooling::Mean => {
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?; // [b, l, 1]
            let sum = hidden.broadcast_mul(&mask)?.sum(1)?; // [b, h]
            let count = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?; // [b, 1]
            sum.broadcast_div(&count)
        }
    }
}

/// Parses `tokenizer.json`, switches padding off and truncates to `max_len` tokens.
fn load_tokenizer(bytes: &[u8], max_len: usize, path: &Path) -> Result<Tokenizer, TextError> {
    let mut tokenizer = Tokenizer::from_bytes(bytes)
        .map_err(|e| TextError::invalid(path, format!("tokenizer.json is unusable ({e})")))?;
    tokenizer.with_padding(None);
    // The tokenizers crate subtracts the special tokens from the length unchecked.
    let added = tokenizer
        .get_post_processor()
        .map_or(0, |p| p.added_tokens(false));
    if added >= max_len {
        return Err(TextError::invalid(
            path,
            format!(
                "the tokenizer adds {added} special tokens, but the model holds only {max_len} \
                 positions"
            ),
        ));
    }
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..TruncationParams::default()
        }))
        .map_err(|e| TextError::invalid(path, format!("cannot truncate to {max_len} ({e})")))?;
    Ok(tokenizer)
}

/// Builds the network from the safetensors bytes.
fn load_network(
    config: &ModelConfig,
    bytes: &[u8],
    path: &Path,
    device: &Device,
) -> Result<Network, TextError> {
    let weights_error = |error| TextError::Weights {
        error: Box::new(error),
        path: path.to_path_buf(),
    };
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| TextError::invalid(path, format!("model.safetensors is unreadable ({e})")))?;
    let prefix = weight_prefix(tensors.keys().map(String::as_str)).ok_or_else(|| {
        TextError::invalid(
            path,
            format!("model.safetensors has no {WORD_EMBEDDINGS} (not a BERT-family checkpoint)"),
        )
    })?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
    Ok(match &config.arch {
        Arch::Bert(c) => Network::Bert(BertModel::load(vb, c).map_err(weights_error)?),
        Arch::DistilBert(c) => {
            Network::DistilBert(DistilBertModel::load(vb, c).map_err(weights_error)?)
        }
    })
}

/// The name prefix of the encoder's tensors: `""` for a bare `BertModel` checkpoint,
/// `"bert"` or `"distilbert"` for ones saved from a task model, or another wrapper's path.
/// The shortest wins where a checkpoint has several.
fn weight_prefix<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    names
        .filter_map(|n| n.strip_suffix(WORD_EMBEDDINGS))
        .filter(|p| p.is_empty() || p.ends_with('.'))
        .min_by_key(|p| p.len())
        .map(|p| p.trim_end_matches('.').to_string())
}

/// Hex SHA-256 over the files (each length-prefixed) and the pooling mode.
fn fingerprint(files: &[&[u8]], pooling: Pooling) -> String {
    let mut h = Sha256::new();
    // Bump the version whenever the computation changes (tokenizer settings, pooling,
    // batching), so caches and indexes of the old one stop matching.
    h.update(b"brainclip text encoder v1\0");
    for bytes in files {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h.update(pooling.name().as_bytes());
    format!("{:x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Name and shape of every tensor in a safetensors buffer.
    fn tensor_names(bytes: &[u8]) -> HashMap<String, Vec<usize>> {
        candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.dims().to_vec()))
            .collect()
    }

    #[test]
    fn the_encoder_can_move_to_a_worker_thread() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<TextEncoder>();
    }

    #[test]
    fn a_model_too_short_for_the_special_tokens_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        super::super::tiny::write_random_model(dir.path(), TextModelKind::Bert, 1).unwrap();
        let path = dir.path().join("tokenizer.json");
        let bytes = fs::read(&path).unwrap();
        // `[CLS] ... [SEP]`: two special tokens need at least three positions.
        let err = load_tokenizer(&bytes, 2, &path).unwrap_err().to_string();
        assert!(err.contains("adds 2 special tokens"), "{err}");
        let tokenizer = load_tokenizer(&bytes, 3, &path).unwrap();
        let ids = tokenizer.encode("left frontal infarct", true).unwrap();
        assert_eq!(ids.get_ids().len(), 3);
    }

    #[test]
    fn weight_prefix_handles_bare_and_prefixed_checkpoints() {
        let bare = ["embeddings.word_embeddings.weight", "encoder.layer.0.x"];
        assert_eq!(weight_prefix(bare.into_iter()).as_deref(), Some(""));
        let bert = [
            "bert.embeddings.word_embeddings.weight",
            "cls.predictions.bias",
        ];
        assert_eq!(weight_prefix(bert.into_iter()).as_deref(), Some("bert"));
        let distil = ["distilbert.embeddings.word_embeddings.weight"];
        assert_eq!(
            weight_prefix(distil.into_iter()).as_deref(),
            Some("distilbert")
        );
        let st = ["0.auto_model.embeddings.word_embeddings.weight"];
        assert_eq!(
            weight_prefix(st.into_iter()).as_deref(),
            Some("0.auto_model")
        );
        // A name merely ending the same way is not a prefix.
        let odd = ["xembeddings.word_embeddings.weight"];
        assert_eq!(weight_prefix(odd.into_iter()), None);
        assert_eq!(weight_prefix(["a.weight"].into_iter()), None);
    }

    #[test]
    fn mean_pooling_ignores_padding_and_cls_takes_the_first_token() {
        let dev = Device::Cpu;
        // [1, 3, 2]: tokens (1,2), (3,4), (100,100) with the last one padding.
        let hidden = Tensor::from_vec(vec![1f32, 2., 3., 4., 100., 100.], (1, 3, 2), &dev).unwrap();
        let mask = Tensor::from_vec(vec![1u32, 1, 0], (1, 3), &dev).unwrap();
        let mean = pool(&hidden, &mask, Pooling::Mean).unwrap();
        assert_eq!(mean.to_vec2::<f32>().unwrap(), vec![vec![2.0, 3.0]]);
        let cls = pool(&hidden, &mask, Pooling::Cls).unwrap();
        assert_eq!(cls.to_vec2::<f32>().unwrap(), vec![vec![1.0, 2.0]]);
    }

    #[test]
    fn fingerprint_depends_on_every_part() {
        let a = fingerprint(&[b"c", b"t", b"w"], Pooling::Mean);
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint(&[b"c", b"t", b"w"], Pooling::Cls));
        assert_ne!(a, fingerprint(&[b"c", b"t", b"x"], Pooling::Mean));
        // Length prefixes keep file boundaries apart.
        assert_ne!(a, fingerprint(&[b"ct", b"", b"w"], Pooling::Mean));
    }

    #[test]
    fn random_models_use_the_checkpoint_names() {
        let dir = tempfile::tempdir().unwrap();
        super::super::write_random_model(dir.path(), TextModelKind::Bert, 1).unwrap();
        let names = tensor_names(&fs::read(dir.path().join("model.safetensors")).unwrap());
        assert_eq!(names["embeddings.word_embeddings.weight"][1], 32);
        assert_eq!(
            names["encoder.layer.1.attention.self.query.weight"],
            vec![32, 32]
        );
        assert_eq!(
            names["encoder.layer.0.intermediate.dense.weight"],
            vec![64, 32]
        );
        assert!(names.contains_key("pooler.dense.weight"));
        let dir = tempfile::tempdir().unwrap();
        super::super::write_random_model(dir.path(), TextModelKind::DistilBert, 1).unwrap();
        let names = tensor_names(&fs::read(dir.path().join("model.safetensors")).unwrap());
        assert_eq!(
            names["distilbert.transformer.layer.1.ffn.lin1.weight"],
            vec![64, 32]
        );
        assert!(names.contains_key("distilbert.embeddings.position_embeddings.weight"));
    }
}
