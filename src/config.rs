//! `zhbrief.toml`: the flags a repository wants fixed, below command-line flags and `ZHBRIEF_*`
//! environment variables in precedence.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::render::Format;

/// Name of the config file looked up in the working folder.
pub const CONFIG_FILE_NAME: &str = "zhbrief.toml";

/// Settings a config file may fix; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Output format.
    pub format: Option<Format>,
    /// Number of key points.
    pub sentences: Option<usize>,
    /// Character budget for key points.
    pub max_chars: Option<usize>,
    /// Number of keywords.
    pub keywords: Option<usize>,
    /// Forced input encoding label.
    pub encoding: Option<String>,
    /// Input size cap in bytes.
    pub max_input_bytes: Option<u64>,
    /// Worker threads.
    pub jobs: Option<usize>,
    /// Add the abstractive summary.
    pub abstractive: Option<bool>,
    /// Add the English translation.
    pub translate: Option<bool>,
    /// Model name or GGUF path.
    pub model: Option<String>,
    /// Folder of prompt templates.
    pub prompts: Option<PathBuf>,
    /// User glossary (TSV).
    pub glossary: Option<PathBuf>,
}

/// Loads `explicit` (which must exist) or else `zhbrief.toml` in the working folder, if any.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig, Error> {
    let path: PathBuf = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from(CONFIG_FILE_NAME);
            if !default.is_file() {
                return Ok(FileConfig::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Config(format!("{}: cannot read config: {e}", path.display())))?;
    parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Parses config text; errors name the offending key in one line.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.message().replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_rejects_typos() {
        let config = parse("format = \"json\"\nsentences = 4\nmax-chars = 300\ntranslate = true\nmodel = \"m\"\n").unwrap();
        assert_eq!((config.translate, config.model.as_deref()), (Some(true), Some("m")));
        assert_eq!(config.format, Some(Format::Json));
        assert_eq!(config.sentences, Some(4));
        assert_eq!(config.max_chars, Some(300));
        assert!(parse("sentence = 4").unwrap_err().contains("sentence"));
        assert!(parse("format = \"pdf\"").is_err());
    }
}
