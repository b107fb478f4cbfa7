//! Loading a GGUF file as a complete model: weights, tokenizer and chat template.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::template::{CHATML, ChatTemplate};
use super::{CausalLm, qwen2::Qwen2};
use crate::error::Error;
use crate::llm::catalog;
use crate::text::hex;

/// A loaded model: the transformer, its tokenizer, chat template and stop tokens.
pub struct Model {
    pub(crate) lm: Box<dyn CausalLm>,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) template: ChatTemplate,
    pub(crate) stop_tokens: Vec<u32>,
    /// Per token: may it appear in English output? Computed on first use.
    pub(crate) english_tokens: std::sync::OnceLock<Vec<bool>>,
    /// The last prompt processed, which the model's cache begins with (see `Model::generate`).
    pub(crate) last_prompt: Option<super::generate::LastPrompt>,
    path: PathBuf,
}

fn model_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: {what}", path.display()))
}

impl Model {
    /// Loads a model for inference: with `requantize`, through its cached Q8_0 re-encoding
    /// (made on first use; see [`super::requantize`]), else exactly as shipped.
    pub fn open(path: &Path, requantize: bool) -> Result<Model, Error> {
        if !requantize {
            return Model::load(path);
        }
        let mut reader = BufReader::new(File::open(path).map_err(|e| model_error(path, format!("cannot open: {e}")))?);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| model_error(path, format!("not a GGUF model: {e}")))?;
        let source_identity = identity(path, &content, &mut reader).map_err(|e| model_error(path, e))?;
        let cache = catalog::cache_dir().join("q8_0");
        Model::load(&super::requantize::fast_variant(path, &source_identity, &cache)?)
    }

    /// Loads a GGUF model. The tokenizer comes from a `tokenizer.json` beside the file if there is
    /// one, else from the GGUF metadata; the chat template from the metadata (ChatML if absent).
    pub fn load(path: &Path) -> Result<Model, Error> {
        let file = File::open(path).map_err(|e| model_error(path, format!("cannot open: {e}")))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| model_error(path, format!("not a GGUF model: {e}")))?;
        let string = |key: &str| content.metadata.get(key).and_then(|v| v.to_string().ok()).cloned();
        let architecture = string("general.architecture").unwrap_or_default();

        let beside = path.with_file_name("tokenizer.json");
        let tokenizer = if beside.is_file() {
            Tokenizer::from_file(&beside).map_err(|e| model_error(&beside, e))?
        } else {
            Tokenizer::from_gguf(&content).map_err(|e| model_error(path, format!("tokenizer: {e}")))?
        };
        let template_source = string("tokenizer.chat_template").unwrap_or_else(|| CHATML.to_string());
        let template = ChatTemplate::new(&template_source).map_err(|e| model_error(path, e))?;
        let stop_tokens = stop_tokens(&content, &tokenizer);

        let device = Device::Cpu;
        let lm: Box<dyn CausalLm> = match architecture.as_str() {
            "qwen2" => Box::new(Qwen2::load(content, &mut reader, &device).map_err(|e| model_error(path, e))?),
            other => return Err(model_error(path, format!("unsupported architecture `{other}` (supported: qwen2)"))),
        };
        Ok(Model {
            lm,
            tokenizer,
            template,
            stop_tokens,
            english_tokens: std::sync::OnceLock::new(),
            last_prompt: None,
            path: path.to_path_buf(),
        })
    }

    /// Where the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

/// End-of-turn tokens: the metadata's EOS plus the chat markers models use to end a turn.
fn stop_tokens(content: &gguf_file::Content, tokenizer: &Tokenizer) -> Vec<u32> {
    let mut stops: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"]
        .iter()
        .filter_map(|key| content.metadata.get(*key).and_then(|v| v.to_u32().ok()))
        .collect();
    for marker in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"] {
        if let Some(id) = tokenizer.token_to_id(marker) {
            stops.push(id);
        }
    }
    stops.sort_unstable();
    stops.dedup();
    stops
}

/// Names a model file's content for the cache of its re-encoding: the file name, size, header and
/// first MiB of tensor data, unique in practice for model files, and cheap where hashing half a
/// gigabyte on every run would not be.
fn identity<R: Read + Seek>(path: &Path, content: &gguf_file::Content, reader: &mut R) -> std::io::Result<String> {
    let size = reader.seek(SeekFrom::End(0))?;
    let mut hasher = Sha256::new();
    hasher.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
    hasher.update(size.to_le_bytes());
    let header_and_sample = (content.tensor_data_offset + (1 << 20)).min(size);
    reader.seek(SeekFrom::Start(0))?;
    let mut buffer = vec![0u8; header_and_sample as usize];
    reader.read_exact(&mut buffer)?;
    hasher.update(&buffer);
    reader.seek(SeekFrom::Start(0))?;
    let digest = hasher.finalize();
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(format!("{name}@{}", hex(&digest[..8])))
}
