//! Known models (from `models/*.toml`, compiled in) and where to find their files: a path, the
//! model cache, the Hugging Face cache, or the hub.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::EngineSpec;
use crate::error::Error;
use crate::text::hex;

/// One model manifest, as written in `models/NAME.toml` (the fetch script reads the same files).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelSpec {
    /// Name used on the command line.
    pub name: String,
    /// Architecture family, as in the GGUF `general.architecture`.
    pub architecture: String,
    /// File name of the GGUF.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// The model used when none is named.
    #[serde(default)]
    pub default: bool,
    /// Tasks this model is the recommended choice for (`summary`, `translate`).
    #[serde(default)]
    pub recommended: Vec<String>,
    /// One line about the model.
    #[serde(default)]
    pub description: String,
    /// Where the hub publishes it.
    pub hub: HubSource,
}

/// A file on the Hugging Face hub.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HubSource {
    /// `owner/name`.
    pub repo: String,
    /// File in the repository.
    pub file: String,
}

/// The manifests shipped in `models/`.
const MANIFESTS: &[&str] = &[
    include_str!("../../models/qwen2.5-coder-0.5b-instruct-q4_k_m.toml"),
    include_str!("../../models/qwen2.5-coder-1.5b-instruct-q4_k_m.toml"),
];

/// The known models.
#[derive(Debug, Clone)]
pub struct Catalog {
    specs: Vec<ModelSpec>,
}

impl Catalog {
    /// The models whose manifests ship with zhbrief.
    pub fn builtin() -> Catalog {
        let specs = MANIFESTS.iter().map(|text| toml::from_str(text).expect("shipped manifests are valid")).collect();
        Catalog { specs }
    }

    /// All known models.
    pub fn specs(&self) -> &[ModelSpec] {
        &self.specs
    }

    /// The model used when none is named.
    pub fn default_model(&self) -> &ModelSpec {
        self.specs.iter().find(|s| s.default).unwrap_or(&self.specs[0])
    }

    /// A model by name.
    pub fn find(&self, name: &str) -> Option<&ModelSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// The model recommended for `task`, if its file is already on this machine.
    pub fn recommended_present(&self, task: &str) -> Option<&ModelSpec> {
        self.specs.iter().find(|s| s.recommended.iter().any(|t| t == task) && locate_cached(s).is_some())
    }
}

/// zhbrief's own model cache: `$ZHBRIEF_MODEL_DIR`, else `$HF_HOME/zhbrief`, else
/// `$XDG_CACHE_HOME/huggingface/zhbrief`, else `~/.cache/huggingface/zhbrief`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZHBRIEF_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    hf_home().join("zhbrief")
}

fn hf_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface")
}

/// Where a known model's file is on this machine, if anywhere: zhbrief's cache, then the Hugging
/// Face hub cache.
pub fn locate_cached(spec: &ModelSpec) -> Option<PathBuf> {
    let ours = cache_dir().join(&spec.file);
    if ours.is_file() {
        return Some(ours);
    }
    #[cfg(feature = "model")]
    {
        let hub_cache = std::env::var_os("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| hf_home().join("hub"));
        hf_hub::Cache::new(hub_cache).model(spec.hub.repo.clone()).get(&spec.hub.file)
    }
    #[cfg(not(feature = "model"))]
    None
}

/// Whether the hub must not be contacted: `--offline` or `HF_HUB_OFFLINE=1`.
pub fn offline_from_env() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Finds the GGUF file for `name_or_path` (a path, or a known model's name), downloading it from
/// the hub unless offline.
pub fn resolve(catalog: &Catalog, name_or_path: &str, offline: bool) -> Result<PathBuf, Error> {
    let as_path = Path::new(name_or_path);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let Some(spec) = catalog.find(name_or_path) else {
        let known: Vec<&str> = catalog.specs().iter().map(|s| s.name.as_str()).collect();
        return Err(Error::ModelMissing(format!(
            "`{name_or_path}` is neither a model file nor a known model (known: {})",
            known.join(", ")
        )));
    };
    if let Some(path) = locate_cached(spec) {
        return Ok(path);
    }
    let missing = format!(
        "model {} is not on this machine (looked in {} and the Hugging Face cache); fetch it with `scripts/fetch-model.sh {}`",
        spec.name,
        cache_dir().display(),
        spec.name
    );
    if offline || offline_from_env() {
        return Err(Error::ModelMissing(format!("{missing}, or allow downloads (offline mode is on)")));
    }
    download(spec, &missing)
}

#[cfg(feature = "model")]
fn download(spec: &ModelSpec, missing: &str) -> Result<PathBuf, Error> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .build()
        .map_err(|e| Error::ModelMissing(format!("{missing}; the hub client failed: {e}")))?;
    api.model(spec.hub.repo.clone())
        .get(&spec.hub.file)
        .map_err(|e| Error::ModelMissing(format!("{missing}; downloading from the hub failed: {e}")))
}

#[cfg(not(feature = "model"))]
fn download(_spec: &ModelSpec, missing: &str) -> Result<PathBuf, Error> {
    Err(Error::ModelMissing(missing.to_string()))
}

/// The engine for `name_or_path`, named by its file's SHA-256 without loading it: a known
/// model's from its manifest, another file's computed once and cached by path, size and
/// modification time. With `need_file` the file is found (or downloaded); without (`--check`),
/// a known model needs no file at all.
pub fn engine_spec(catalog: &Catalog, name_or_path: &str, offline: bool, requantize: bool, need_file: bool) -> Result<EngineSpec, Error> {
    let as_path = Path::new(name_or_path);
    if !as_path.is_file()
        && let Some(spec) = catalog.find(name_or_path)
    {
        let path = if need_file { resolve(catalog, name_or_path, offline)? } else { locate_cached(spec).unwrap_or_default() };
        return Ok(EngineSpec::Local { model: spec.name.clone(), sha256: spec.sha256.clone(), requantize, path });
    }
    let path = resolve(catalog, name_or_path, offline)?;
    let sha256 = file_sha256(&path).map_err(|e| Error::Model(format!("{}: cannot read: {e}", path.display())))?;
    let model = path.file_name().map_or_else(|| name_or_path.to_string(), |n| n.to_string_lossy().into_owned());
    Ok(EngineSpec::Local { model, sha256, requantize, path })
}

/// The SHA-256 of a file, from the cache under `cache_dir()/sha256` when the file's path, size
/// and modification time are those it was computed for: hashing a gigabyte takes a second or
/// two, every run.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let metadata = std::fs::metadata(path)?;
    let modified = metadata.modified()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let canonical = path.canonicalize()?;
    let key = hex(&Sha256::digest(format!("{}\0{}\0{}", canonical.display(), metadata.len(), modified.as_nanos())));
    let cached = cache_dir().join("sha256").join(&key);
    if let Ok(digest) = std::fs::read_to_string(&cached)
        && digest.len() == 64
    {
        return Ok(digest);
    }
    let digest = hash_file(path)?;
    // A cache that cannot be written only costs time on the next run.
    if std::fs::create_dir_all(cached.parent().unwrap_or(Path::new("."))).is_ok() {
        let _ = std::fs::write(&cached, &digest);
    }
    Ok(digest)
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Checks a model file's size and SHA-256 against its manifest (hashing the whole file: a check
/// that trusts no cache).
pub fn verify_file(spec: &ModelSpec, path: &Path) -> Result<(), String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size != spec.size {
        return Err(format!("size {size}, expected {}", spec.size));
    }
    let digest = hash_file(path).map_err(|e| e.to_string())?;
    if digest == spec.sha256 { Ok(()) } else { Err(format!("sha256 {digest}, expected {}", spec.sha256)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_manifests_parse_and_name_a_default() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.specs().len(), 2);
        assert_eq!(catalog.default_model().name, "qwen2.5-coder-0.5b-instruct-q4_k_m");
        assert!(catalog.find("qwen2.5-coder-1.5b-instruct-q4_k_m").unwrap().recommended.contains(&"translate".to_string()));
        for spec in catalog.specs() {
            assert_eq!(spec.sha256.len(), 64);
            assert_eq!(spec.architecture, "qwen2");
        }
    }

    #[test]
    fn unknown_names_are_clear_errors() {
        let err = resolve(&Catalog::builtin(), "no-such-model", true).unwrap_err();
        assert!(err.to_string().contains("no-such-model") && err.to_string().contains("known:"));
    }
}
