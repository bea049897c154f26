//! `config.json` of a HuggingFace model folder: which architecture it is, and its candle
//! config with HuggingFace's defaults filled in for keys that older checkpoints omit.

use std::path::Path;

use candle_transformers::models::{bert, distilbert};
use serde_json::{Map, Value, json};

use super::{TextError, TextModelKind};

/// The longest input any supported checkpoint was trained for; longer position tables exist
/// but attention cost grows quadratically and reports are far shorter.
const MAX_LEN_CAP: usize = 512;

/// The candle configuration of one architecture.
#[derive(Debug, Clone)]
pub(super) enum Arch {
    Bert(bert::Config),
    DistilBert(distilbert::Config),
}

/// What the encoder needs from `config.json`.
#[derive(Debug, Clone)]
pub(super) struct ModelConfig {
    pub arch: Arch,
    pub hidden_size: usize,
    /// Tokens per text (special tokens included) after truncation.
    pub max_len: usize,
}

/// Parses `config.json` (`bytes`, read from `path`).
pub(super) fn parse_config(bytes: &[u8], path: &Path) -> Result<ModelConfig, TextError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| TextError::invalid(path, format!("config.json is not valid JSON ({e})")))?;
    let Value::Object(given) = value else {
        return Err(TextError::invalid(path, "config.json is not a JSON object"));
    };
    let kind = detect_kind(&given, path)?;
    let mut merged = defaults(kind);
    for (k, v) in given {
        // `null` for a required number would fail below with a less helpful message.
        if !(v.is_null() && merged.get(&k).is_some_and(|d| !d.is_null())) {
            merged.insert(k, v);
        }
    }
    normalise_activation(&mut merged, kind);
    let get = |key: &str| merged.get(key).and_then(Value::as_u64).unwrap_or(0) as usize;
    let (hidden_size, heads, positions) = match kind {
        TextModelKind::Bert => (
            get("hidden_size"),
            get("num_attention_heads"),
            get("max_position_embeddings"),
        ),
        TextModelKind::DistilBert => (get("dim"), get("n_heads"), get("max_position_embeddings")),
    };
    if hidden_size == 0 || heads == 0 || hidden_size % heads != 0 || positions < 3 {
        return Err(TextError::invalid(
            path,
            format!(
                "config.json has an unusable shape (hidden size {hidden_size}, {heads} heads, \
                 {positions} positions)"
            ),
        ));
    }
    let bad = |e: serde_json::Error| TextError::invalid(path, format!("config.json: {e}"));
    let merged = Value::Object(merged);
    let arch = match kind {
        TextModelKind::Bert => Arch::Bert(serde_json::from_value(merged).map_err(bad)?),
        TextModelKind::DistilBert => Arch::DistilBert(serde_json::from_value(merged).map_err(bad)?),
    };
    Ok(ModelConfig {
        arch,
        hidden_size,
        max_len: positions.min(MAX_LEN_CAP),
    })
}

/// The architecture from `model_type`, else from the first of `architectures`.
fn detect_kind(config: &Map<String, Value>, path: &Path) -> Result<TextModelKind, TextError> {
    let unsupported = |model_type: &str| TextError::Unsupported {
        model_type: model_type.to_string(),
        path: path.to_path_buf(),
    };
    if let Some(model_type) = config.get("model_type").and_then(Value::as_str) {
        return match model_type {
            "bert" => Ok(TextModelKind::Bert),
            "distilbert" => Ok(TextModelKind::DistilBert),
            other => Err(unsupported(other)),
        };
    }
    let first = config
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    match first {
        Some(a) if a.starts_with("DistilBert") => Ok(TextModelKind::DistilBert),
        Some(a) if a.starts_with("Bert") => Ok(TextModelKind::Bert),
        Some(other) => Err(unsupported(other)),
        None => Err(TextError::invalid(
            path,
            "config.json names no model_type nor architectures",
        )),
    }
}

/// HuggingFace's defaults (`BertConfig`, `DistilBertConfig` of transformers 4.x).
fn defaults(kind: TextModelKind) -> Map<String, Value> {
    let v = match kind {
        TextModelKind::Bert => json!({
            "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
            "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "position_embedding_type": "absolute", "use_cache": true,
            "classifier_dropout": null, "model_type": "bert",
        }),
        TextModelKind::DistilBert => json!({
            "vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12,
            "hidden_dim": 3072, "activation": "gelu", "max_position_embeddings": 512,
            "initializer_range": 0.02, "pad_token_id": 0, "model_type": "distilbert",
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Maps HuggingFace's activation names onto candle's: `gelu_new`, `gelu_pytorch_tanh` and
/// `gelu_fast` are the tanh approximation (`geluapproximate` in candle's BERT).
fn normalise_activation(config: &mut Map<String, Value>, kind: TextModelKind) {
    let key = match kind {
        TextModelKind::Bert => "hidden_act",
        TextModelKind::DistilBert => "activation",
    };
    let tanh_names = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];
    if kind == TextModelKind::Bert
        && let Some(Value::String(act)) = config.get(key)
        && tanh_names.contains(&act.as_str())
    {
        config.insert(key.into(), Value::String("geluapproximate".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ModelConfig, TextError> {
        parse_config(s.as_bytes(), Path::new("m/config.json"))
    }

    #[test]
    fn minimal_bert_config_gets_defaults() {
        let c = parse(r#"{"model_type": "bert", "hidden_size": 32, "num_attention_heads": 2}"#)
            .unwrap();
        assert!(matches!(c.arch, Arch::Bert(_)));
        assert_eq!(c.hidden_size, 32);
        assert_eq!(c.max_len, 512);
        let Arch::Bert(b) = c.arch else { panic!() };
        assert_eq!(b.num_hidden_layers, 12);
        assert_eq!(b.layer_norm_eps, 1e-12);
    }

    #[test]
    fn architectures_is_the_fallback_and_max_len_is_capped() {
        let c = parse(
            r#"{"architectures": ["DistilBertForMaskedLM"], "dim": 64, "n_heads": 4,
                "max_position_embeddings": 2048}"#,
        )
        .unwrap();
        assert!(matches!(c.arch, Arch::DistilBert(_)));
        assert_eq!(c.max_len, 512);
    }

    #[test]
    fn other_types_are_unsupported_naming_the_file() {
        let e = parse(r#"{"model_type": "roberta"}"#).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"roberta\""), "{msg}");
        assert!(msg.ends_with("m/config.json"), "{msg}");
        assert!(matches!(
            parse(r#"{"architectures": ["GPT2LMHeadModel"]}"#),
            Err(TextError::Unsupported { .. })
        ));
        assert!(parse("{}").is_err());
        assert!(parse("[1]").is_err());
    }

    #[test]
    fn tanh_gelu_names_map_to_candle_and_bad_shapes_fail() {
        let c = parse(r#"{"model_type": "bert", "hidden_act": "gelu_new"}"#).unwrap();
        let Arch::Bert(b) = c.arch else { panic!() };
        assert_eq!(b.hidden_act, bert::HiddenAct::GeluApproximate);
        let e = parse(r#"{"model_type": "bert", "hidden_size": 30, "num_attention_heads": 4}"#);
        assert!(e.unwrap_err().to_string().contains("unusable shape"));
        let e = parse(r#"{"model_type": "bert", "hidden_act": "swish"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("config.json: unknown variant"),
            "{e}"
        );
    }
}
