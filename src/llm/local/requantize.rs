//! A faster encoding of a model, made once and cached: tensors in formats that neither Candle nor
//! zhbrief has a SIMD kernel for (Q4_0, Q4_1, Q5_1) are re-encoded as Q8_0.
//!
//! Why: Candle runs those formats' dot products in a scalar loop; its Q8_0 path is vectorised.
//! Q8_0 holds each dequantised weight with more precision than the source format, so the model
//! is practically unchanged, and the re-encoding is deterministic. Q5_0, the bulk of the shipped
//! Qwen2.5-Coder files, is no longer re-encoded: zhbrief's own Q5_0 kernel ([`super::kernels`])
//! reads it as stored, and generation, bound by memory bandwidth, is faster on the smaller
//! format (28.1 tokens/s as shipped against 25.8 through Q8_0 on the 2-core development machine).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};

use crate::error::Error;

/// Formats re-encoded as Q8_0.
const SLOW_FORMATS: &[GgmlDType] = &[GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q5_1];

fn error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: re-encoding to Q8_0: {what}", path.display()))
}

/// Returns the path of the fast variant of `source`, making it in `cache` first if needed.
/// Returns `source` itself when it has no slow tensors. `identity` names the source file's
/// content, so a changed source gets a new variant.
pub fn fast_variant(source: &Path, identity: &str, cache: &Path) -> Result<PathBuf, Error> {
    let mut reader = BufReader::new(File::open(source).map_err(|e| error(source, e))?);
    let content = gguf_file::Content::read(&mut reader).map_err(|e| error(source, e))?;
    if !content.tensor_infos.values().any(|info| SLOW_FORMATS.contains(&info.ggml_dtype)) {
        return Ok(source.to_path_buf());
    }
    let target = cache.join(format!("{}.q8_0.gguf", identity.replace(['/', '\\'], "_")));
    if target.is_file() {
        return Ok(target);
    }
    std::fs::create_dir_all(cache).map_err(|e| error(&target, e))?;
    let device = Device::Cpu;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content.tensor(&mut reader, name, &device).map_err(|e| error(source, e))?;
        let tensor = if SLOW_FORMATS.contains(&tensor.dtype()) {
            let values = tensor.dequantize(&device).map_err(|e| error(source, e))?;
            QTensor::quantize(&values, GgmlDType::Q8_0).map_err(|e| error(source, e))?
        } else {
            tensor
        };
        tensors.push((name.clone(), tensor));
    }
    let mut keys: Vec<&String> = content.metadata.keys().collect();
    keys.sort();
    let metadata: Vec<(&str, &gguf_file::Value)> = keys.iter().map(|k| (k.as_str(), &content.metadata[*k])).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // Written beside its final name and renamed into place: a crash never leaves half a model.
    let mut temporary = tempfile::Builder::new().prefix(".zhbrief-").suffix(".tmp").tempfile_in(cache).map_err(|e| error(&target, e))?;
    gguf_file::write(temporary.as_file_mut(), &metadata, &tensor_refs).map_err(|e| error(&target, e))?;
    // Readable like any cached model file (temporary files are created private).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = temporary.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    temporary.persist(&target).map_err(|e| error(&target, e.error))?;
    Ok(target)
}
