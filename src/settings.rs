//! One settings value per run, built once from flags > `ZHBRIEF_*` environment variables >
//! `zhbrief.toml` > defaults, and handed to every stage.
//!
//! [`Options`] is every setting a user may fix, defined once: its flag, its environment variable
//! and its config key come from the same field. [`Settings`] is what they resolve to. Its
//! [`BriefSettings`] part holds everything that changes a brief's bytes (prompts, glossary and
//! the model's SHA-256 included) and serialises canonically: that serialisation, with the input's
//! bytes, is each brief's fingerprint, so a new field that changes briefs changes fingerprints
//! without anyone remembering to.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::extract::{DEFAULT_KEYWORDS, ExtractOptions};
use crate::input::decode::encoding_for_label;
use crate::input::{DEFAULT_MAX_INPUT_BYTES, ReadOptions};
use crate::llm::remote::{Connection, RemoteEngine};
use crate::llm::{self, Catalog, EngineSpec, Sampling};
use crate::model_stage::ModelOptions;
use crate::model_stage::glossary;
use crate::model_stage::prompts::Prompts;
use crate::render::Format;
use crate::text::hex;

/// Name of the config file looked up in the working folder.
pub const CONFIG_FILE_NAME: &str = "zhbrief.toml";

/// Default number of candidate translations per unit.
pub const DEFAULT_CANDIDATES: u16 = 8;

/// Defines [`Options`] and the one place that layers two of them, field by field.
macro_rules! layered {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: Option<$type:ty>,)* }) => {
        $(#[$meta])*
        pub struct $name { $($(#[$field_meta])* pub $field: Option<$type>,)* }

        impl $name {
            /// Each setting from `self` when set there, else from `lower`.
            pub fn or(self, lower: $name) -> $name {
                $name { $($field: self.$field.or(lower.$field),)* }
            }
        }
    };
}

layered! {
    /// The settings a flag, its `ZHBRIEF_*` environment variable or a `zhbrief.toml` key (the
    /// flag's name, kebab-case) may fix. Unset ones fall through to the next layer, then to the
    /// defaults. The on/off switches are flags of the binary (`--translate`, `--no-translate`).
    #[derive(Debug, Clone, Default, PartialEq, clap::Args, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Options {
        /// Output format [default: markdown].
        #[arg(long, value_enum, env = "ZHBRIEF_FORMAT")]
        pub format: Option<Format>,
        /// Number of key points [default: 3 to 5, by article length].
        #[arg(short = 'n', long, value_name = "N", env = "ZHBRIEF_SENTENCES")]
        pub sentences: Option<usize>,
        /// Character budget for all key points together.
        #[arg(long, value_name = "CHARS", env = "ZHBRIEF_MAX_CHARS")]
        pub max_chars: Option<usize>,
        /// Number of keywords [default: 8].
        #[arg(long, value_name = "N", env = "ZHBRIEF_KEYWORDS")]
        pub keywords: Option<usize>,
        /// Read inputs in this encoding instead of detecting it (utf-8, gb18030, gbk, big5, utf-16le…).
        #[arg(long, value_name = "LABEL", env = "ZHBRIEF_ENCODING")]
        pub encoding: Option<String>,
        /// Refuse inputs larger than this many bytes [default: 16 MiB].
        #[arg(long, value_name = "BYTES", env = "ZHBRIEF_MAX_INPUT_BYTES")]
        pub max_input_bytes: Option<u64>,
        /// Worker threads [default: number of cores].
        #[arg(short, long, value_name = "N", env = "ZHBRIEF_JOBS")]
        pub jobs: Option<usize>,
        /// Add an abstractive Chinese summary (`--abstractive`, `--no-abstractive`).
        #[arg(skip)]
        pub abstractive: Option<bool>,
        /// Add an English translation (`--translate`, `--no-translate`).
        #[arg(skip)]
        pub translate: Option<bool>,
        /// Model name (see `zhbrief model list`) or path to a GGUF file [default: the 1.5B model
        /// for translation when it is on this machine, else the default model].
        #[arg(short, long, value_name = "NAME|PATH", env = "ZHBRIEF_MODEL")]
        pub model: Option<String>,
        /// Folder of prompt templates overriding the built-in ones (see prompts/).
        #[arg(long, value_name = "DIR", env = "ZHBRIEF_PROMPTS")]
        pub prompts: Option<PathBuf>,
        /// Glossary for translation: TSV lines `中文<TAB>English`.
        #[arg(long, value_name = "FILE", env = "ZHBRIEF_GLOSSARY")]
        pub glossary: Option<PathBuf>,
        /// Candidate translations per sentence, the one the others agree with most kept (the first
        /// greedy, the rest sampled with fixed seeds: output stays deterministic). They are decoded
        /// together; 1 is fastest [default: 8].
        #[arg(long, value_name = "N", env = "ZHBRIEF_CANDIDATES", value_parser = clap::value_parser!(u16).range(1..=16))]
        pub candidates: Option<u16>,
        /// With one candidate, keep a greedy translation the English check flags (it stays
        /// marked) instead of decoding 8 candidates for that unit (`--keep-flagged`).
        #[arg(skip)]
        pub keep_flagged: Option<bool>,
        /// Sample with this temperature instead of greedy decoding (repeatable with --seed).
        #[arg(long, value_name = "T")]
        pub temperature: Option<f64>,
        /// Seed for sampling and for the sampled translation candidates [default: 0].
        #[arg(long, value_name = "N")]
        pub seed: Option<u64>,
        /// Run Q4_0/Q4_1/Q5_1 tensors through a cached Q8_0 re-encoding (`--no-requantize`: as shipped).
        #[arg(skip)]
        pub requantize: Option<bool>,
        /// Never contact the Hugging Face hub (`--offline`; also HF_HUB_OFFLINE=1).
        #[arg(skip)]
        pub offline: Option<bool>,
        /// Count list and index pages among several inputs as failures, not skips (`--strict-pages`).
        #[arg(skip)]
        pub strict_pages: Option<bool>,
        /// Fail the run (exit 1) when the English states a number, date or name the check cannot
        /// trace to the Chinese (`--strict`); the brief is still written.
        #[arg(skip)]
        pub strict: Option<bool>,
        /// An OpenAI-compatible server to run the model stage on instead of a local model, e.g.
        /// http://127.0.0.1:8080/v1 (its key from ZHBRIEF_API_KEY or OPENAI_API_KEY).
        #[arg(long, value_name = "URL", env = "ZHBRIEF_ENGINE")]
        pub engine: Option<String>,
        /// The model the engine serves [default: the first it lists].
        #[arg(long, value_name = "NAME", env = "ZHBRIEF_ENGINE_MODEL")]
        pub engine_model: Option<String>,
        /// Seconds to wait for one engine request before retrying it [default: 120].
        #[arg(long, value_name = "SECS")]
        pub engine_timeout: Option<f64>,
        /// Retries of an engine request after a timeout, a dropped connection, 429 or 5xx [default: 4].
        #[arg(long, value_name = "N")]
        pub engine_retries: Option<u32>,
    }
}

/// Reads `explicit` (which must exist), else `zhbrief.toml` in the working folder, if any.
pub fn load_config(explicit: Option<&Path>) -> Result<Options, Error> {
    let path: PathBuf = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from(CONFIG_FILE_NAME);
            if !default.is_file() {
                return Ok(Options::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Config(format!("{}: cannot read config: {e}", path.display())))?;
    parse_config(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Parses config text; errors name the offending key in one line.
pub fn parse_config(text: &str) -> Result<Options, String> {
    toml::from_str(text).map_err(|e| e.message().replace('\n', " "))
}

/// How [`Settings::resolve`] treats what is not a setting of the briefs themselves.
#[derive(Debug, Clone, Default)]
pub struct Resolve {
    /// Report timings, glossaries, candidates and fallbacks on stderr.
    pub verbose: bool,
    /// Stream generated text to stderr when it is a terminal.
    pub stream: bool,
    /// Whether the model's file must be on this machine (it need not be for `--check`, which
    /// names a known model by its manifest's SHA-256).
    pub need_model_file: bool,
    /// Set on Ctrl-C: engine requests stop retrying.
    pub cancel: Arc<AtomicBool>,
}

/// A run's settings, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Everything that changes a brief's bytes.
    pub brief: BriefSettings,
    /// Refuse inputs larger than this many bytes.
    pub max_input_bytes: u64,
    /// Worker threads.
    pub jobs: usize,
    /// List and index pages among several inputs fail the run instead of being skipped.
    pub strict_pages: bool,
    /// English with untraceable items fails the run (the brief is still written).
    pub strict: bool,
}

/// Everything that changes a brief's bytes, and nothing else (not worker counts, not where the
/// model file lies): serialised, it is the identity every brief's fingerprint is made from.
#[derive(Debug, Clone, Serialize)]
pub struct BriefSettings {
    /// zhbrief's version: a new version may brief differently.
    pub version: &'static str,
    /// How inputs are decoded.
    pub read: ReadOptions,
    /// How much the extractive stage picks.
    pub extract: ExtractOptions,
    /// Output format.
    pub format: Format,
    /// The model stage, when asked for.
    pub model: Option<ModelOptions>,
}

impl Settings {
    /// Resolves layered options: defaults filled in, the encoding label, prompts and glossary
    /// read, the model found and named by its SHA-256 (never loaded).
    pub fn resolve(options: Options, how: Resolve) -> Result<Settings, Error> {
        let encoding = match options.encoding.as_deref() {
            None => None,
            Some(label) => Some(encoding_for_label(label).ok_or_else(|| Error::UnknownEncoding(label.into()))?),
        };
        let max_input_bytes = options.max_input_bytes.unwrap_or(DEFAULT_MAX_INPUT_BYTES);
        let wanted = options.abstractive == Some(true) || options.translate == Some(true);
        let model = if wanted { Some(model_options(&options, &how)?) } else { None };
        // A server takes many requests at once; local work is as parallel as the cores.
        let default_jobs =
            if options.engine.is_some() { DEFAULT_ENGINE_JOBS } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
        Ok(Settings {
            brief: BriefSettings {
                version: env!("CARGO_PKG_VERSION"),
                read: ReadOptions { encoding, max_input_bytes },
                extract: ExtractOptions {
                    sentences: options.sentences,
                    max_chars: options.max_chars,
                    keywords: options.keywords.unwrap_or(DEFAULT_KEYWORDS),
                },
                format: options.format.unwrap_or_default(),
                model,
            },
            max_input_bytes,
            jobs: options.jobs.unwrap_or(default_jobs).max(1),
            strict_pages: options.strict_pages == Some(true),
            strict: options.strict == Some(true),
        })
    }
}

fn model_options(options: &Options, how: &Resolve) -> Result<ModelOptions, Error> {
    let translate = options.translate == Some(true);
    let engine = match &options.engine {
        Some(url) => remote_engine(url, options, how)?,
        None => {
            let catalog = Catalog::builtin();
            // Unnamed, the model recommended for translation when translating and it is on this
            // machine (it translates markedly better), else the default.
            let name = match &options.model {
                Some(name) => name.clone(),
                None => {
                    translate.then(|| catalog.recommended_present("translate")).flatten().unwrap_or(catalog.default_model()).name.clone()
                }
            };
            let offline = options.offline == Some(true);
            llm::catalog::engine_spec(&catalog, &name, offline, options.requantize != Some(false), how.need_model_file)?
        }
    };
    let glossary = match &options.glossary {
        Some(path) => glossary::load_user_glossary(path)?,
        None => Vec::new(),
    };
    let seed = options.seed.unwrap_or(0);
    Ok(ModelOptions {
        abstractive: options.abstractive == Some(true),
        translate,
        engine,
        sampling: options.temperature.filter(|t| *t > 0.0).map(|temperature| Sampling::new(temperature, seed)),
        seed,
        candidates: usize::from(options.candidates.unwrap_or(DEFAULT_CANDIDATES)),
        redecode_flagged: options.keep_flagged != Some(true),
        glossary,
        prompts: Prompts::load(options.prompts.as_deref())?,
        stream: how.stream,
        verbose: how.verbose,
    })
}

/// Requests in flight at once on an engine when `--jobs` does not say.
pub const DEFAULT_ENGINE_JOBS: usize = 8;

/// The server `url` names, and its model: `--engine-model`, else the first it lists (asked only
/// then, so that `--check` with a named model needs no server).
fn remote_engine(url: &str, options: &Options, how: &Resolve) -> Result<EngineSpec, Error> {
    let timeout = options.engine_timeout.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(120.0);
    let connection = Connection::new(url, Duration::from_secs_f64(timeout), options.engine_retries.unwrap_or(4), Arc::clone(&how.cancel));
    let model = match &options.engine_model {
        Some(model) => model.clone(),
        None => RemoteEngine::default_model(connection.clone())?,
    };
    Ok(EngineSpec::Remote { model, connection })
}

impl BriefSettings {
    /// The canonical serialisation every fingerprint starts from.
    pub fn identity(&self) -> String {
        serde_json::to_string(self).expect("settings are plain data and always serialise")
    }
}

/// The fingerprint of a brief: the SHA-256 of the settings' [`BriefSettings::identity`] and the
/// input's bytes. A brief whose embedded fingerprint matches is up to date.
pub fn fingerprint(identity: &str, input: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(identity.as_bytes());
    hasher.update([0]);
    hasher.update(input);
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_rejects_typos() {
        let config = parse_config("format = \"json\"\nsentences = 4\nmax-chars = 300\ncandidates = 2\nmodel = \"m\"\n").unwrap();
        assert_eq!((config.candidates, config.model.as_deref()), (Some(2), Some("m")));
        assert_eq!(config.format, Some(Format::Json));
        assert_eq!(config.sentences, Some(4));
        assert_eq!(config.max_chars, Some(300));
        assert!(parse_config("sentence = 4").unwrap_err().contains("sentence"));
        assert!(parse_config("format = \"pdf\"").is_err());
    }

    #[test]
    fn higher_layers_win_and_unset_ones_fall_through() {
        let flags = Options { sentences: Some(2), translate: Some(false), ..Options::default() };
        let file = parse_config("sentences = 4\nkeywords = 5\ntranslate = true\n").unwrap();
        let merged = flags.or(file);
        assert_eq!((merged.sentences, merged.keywords, merged.translate), (Some(2), Some(5), Some(false)));
    }

    /// Every leaf of a JSON value, by dotted path.
    fn leaves(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    leaves(child, &if path.is_empty() { key.clone() } else { format!("{path}.{key}") }, out);
                }
            }
            _ => out.push(path.to_string()),
        }
    }

    fn with_model() -> BriefSettings {
        let engine = EngineSpec::Local { model: "m".into(), sha256: "0".repeat(64), requantize: true, path: PathBuf::from("/m.gguf") };
        BriefSettings {
            version: "1.0.0",
            read: ReadOptions { encoding: None, max_input_bytes: 100 },
            extract: ExtractOptions { sentences: None, max_chars: None, keywords: 8 },
            format: Format::Markdown,
            model: Some(ModelOptions {
                abstractive: false,
                translate: true,
                engine,
                sampling: None,
                seed: 0,
                candidates: 8,
                redecode_flagged: true,
                glossary: Vec::new(),
                prompts: Prompts::load(None).unwrap(),
                stream: false,
                verbose: false,
            }),
        }
    }

    #[test]
    fn every_field_that_changes_a_brief_changes_its_fingerprint() {
        type Change = Box<dyn Fn(&mut BriefSettings)>;
        fn model(settings: &mut BriefSettings) -> &mut ModelOptions {
            settings.model.as_mut().unwrap()
        }
        fn local(settings: &mut BriefSettings) -> (&mut String, &mut String, &mut bool) {
            match &mut model(settings).engine {
                EngineSpec::Local { model, sha256, requantize, .. } => (model, sha256, requantize),
                EngineSpec::Remote { .. } => unreachable!("the test settings run a local model"),
            }
        }
        let prompts_dir = tempfile::tempdir().unwrap();
        let mut changes: Vec<(String, Change)> = vec![
            ("version".into(), Box::new(|s| s.version = "1.0.1")),
            ("read.encoding".into(), Box::new(|s| s.read.encoding = encoding_for_label("gbk"))),
            ("extract.sentences".into(), Box::new(|s| s.extract.sentences = Some(3))),
            ("extract.max_chars".into(), Box::new(|s| s.extract.max_chars = Some(200))),
            ("extract.keywords".into(), Box::new(|s| s.extract.keywords = 5)),
            ("format".into(), Box::new(|s| s.format = Format::Json)),
            ("model.abstractive".into(), Box::new(|s| model(s).abstractive = true)),
            ("model.translate".into(), Box::new(|s| model(s).translate = false)),
            ("model.engine.local.model".into(), Box::new(|s| local(s).0.push('2'))),
            ("model.engine.local.sha256".into(), Box::new(|s| *local(s).1 = "1".repeat(64))),
            ("model.engine.local.requantize".into(), Box::new(|s| *local(s).2 = false)),
            ("model.sampling".into(), Box::new(|s| model(s).sampling = Some(Sampling::new(0.7, 1)))),
            ("model.seed".into(), Box::new(|s| model(s).seed = 7)),
            ("model.candidates".into(), Box::new(|s| model(s).candidates = 1)),
            ("model.redecode_flagged".into(), Box::new(|s| model(s).redecode_flagged = false)),
            (
                "model.glossary".into(),
                Box::new(|s| model(s).glossary = vec![glossary::GlossaryEntry { source: "宝山".into(), target: "Baoshan".into() }]),
            ),
        ];
        for name in serde_json::to_value(Prompts::load(None).unwrap()).unwrap().as_object().unwrap().keys() {
            let dir = prompts_dir.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), "edited {{ text }}").unwrap();
            changes.push((format!("model.prompts.{name}"), Box::new(move |s| model(s).prompts = Prompts::load(Some(&dir)).unwrap())));
        }
        changes.push(("model".into(), Box::new(|s| s.model = None)));

        let base = with_model();
        let mut fields = Vec::new();
        leaves(&serde_json::to_value(&base).unwrap(), "", &mut fields);
        let changed: Vec<String> = changes.iter().map(|(name, _)| name.clone()).filter(|name| name != "model").collect();
        fields.sort();
        let mut covered = changed.clone();
        covered.sort();
        assert_eq!(fields, covered, "every serialised field has a change below, and every change a field");
        let identity = base.identity();
        for (name, change) in &changes {
            let mut settings = with_model();
            change(&mut settings);
            assert_ne!(settings.identity(), identity, "changing {name} must change the fingerprint");
        }
    }

    #[test]
    fn what_does_not_change_a_brief_is_not_in_its_fingerprint() {
        let base = with_model();
        let mut other = with_model();
        other.read.max_input_bytes = 1;
        let model = other.model.as_mut().unwrap();
        (model.stream, model.verbose) = (true, true);
        if let EngineSpec::Local { path, .. } = &mut model.engine {
            *path = PathBuf::from("/elsewhere/m.gguf");
        }
        assert_eq!(other.identity(), base.identity());
        assert_ne!(fingerprint(&base.identity(), b"a"), fingerprint(&base.identity(), b"b"));
    }

    #[test]
    fn a_remote_engine_is_named_by_its_model_never_its_url_or_key() {
        let remote = |model: &str, url: &str, key: &str| {
            let mut settings = with_model();
            let connection = Connection {
                url: url.into(),
                key: Some(key.into()),
                timeout: Duration::from_secs(1),
                retries: 0,
                backoff: Duration::ZERO,
                cancel: Arc::default(),
            };
            settings.model.as_mut().unwrap().engine = EngineSpec::Remote { model: model.into(), connection };
            settings.identity()
        };
        let identity = remote("qwen-7b", "https://user:pw@a.example/v1?token=t1", "sk-secret");
        assert!(identity.contains("qwen-7b"));
        for secret in ["user", "pw@", "a.example", "t1", "sk-secret"] {
            assert!(!identity.contains(secret), "{secret} in {identity}");
        }
        assert_eq!(identity, remote("qwen-7b", "http://b.example/v1", "other-key"));
        assert_ne!(identity, remote("qwen-14b", "http://b.example/v1", "other-key"));
        assert_ne!(identity, with_model().identity());
    }
}
