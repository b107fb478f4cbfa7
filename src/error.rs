//! Errors of the library, each tied to the input it concerns and to a documented exit code.

use std::fmt;
use std::path::PathBuf;

/// Where an article came from: a file on disk or standard input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Standard input (`-` or a pipe).
    Stdin,
    /// A file, named as the user gave it or as found under a folder they gave.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Stdin => f.write_str("<stdin>"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Exit codes, sysexits-style, documented in the README.
pub mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// Some inputs of a batch failed, or `--check` found stale briefs.
    pub const SOME_FAILED: u8 = 1;
    /// Bad flags or arguments.
    pub const USAGE: u8 = 2;
    /// The input was read but holds no usable article (EX_DATAERR).
    pub const DATA: u8 = 65;
    /// An input does not exist or cannot be opened (EX_NOINPUT).
    pub const NO_INPUT: u8 = 66;
    /// A needed resource, such as a model, is unavailable (EX_UNAVAILABLE).
    pub const UNAVAILABLE: u8 = 69;
    /// Reading or writing failed (EX_IOERR).
    pub const IO: u8 = 74;
    /// A configuration file is invalid (EX_CONFIG).
    pub const CONFIG: u8 = 78;
    /// Stopped by SIGINT (Ctrl-C), after finishing the articles in progress (128 + 2).
    pub const INTERRUPTED: u8 = 130;
}

/// What went wrong with one input; the `Display` form is the one-line message users see.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input path does not exist.
    #[error("{0}: no such file or folder")]
    NotFound(Origin),
    /// The input could not be read.
    #[error("{origin}: cannot read: {source}")]
    Read {
        /// The input.
        origin: Origin,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// An output could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The input holds no bytes, or only whitespace.
    #[error("{0}: empty input")]
    Empty(Origin),
    /// The input is over the size cap.
    #[error("{origin}: input is {size} bytes, over the limit of {limit} bytes (raise it with --max-input-bytes)")]
    TooLarge {
        /// The input.
        origin: Origin,
        /// Its size in bytes.
        size: u64,
        /// The cap in force.
        limit: u64,
    },
    /// The bytes are not text in any supported encoding.
    #[error("{origin}: not text: {reason}")]
    Undecodable {
        /// The input.
        origin: Origin,
        /// Why decoding was refused.
        reason: String,
    },
    /// Cleaning removed everything: the input was only page chrome.
    #[error("{0}: no article text left after removing page chrome")]
    NoArticleText(Origin),
    /// The input is a page of links or headlines (an index, a rolling-news list), not an article.
    #[error("{origin}: not an article: a list of {items} {what}")]
    NotAnArticle {
        /// The input.
        origin: Origin,
        /// How many links or headlines it lists.
        items: usize,
        /// `links` or `headlines`.
        what: &'static str,
    },
    /// An `--encoding` label that names no known encoding.
    #[error("unknown encoding `{0}` (try utf-8, gb18030, gbk, big5, utf-16le, utf-16be)")]
    UnknownEncoding(String),
    /// A model could not be found (with what was looked for and how to get it).
    #[error("{0}")]
    ModelMissing(String),
    /// A model could not be loaded or run.
    #[error("model: {0}")]
    Model(String),
    /// An inference server could not be reached or gave no usable answer.
    #[error("engine {engine}: {reason}")]
    Engine {
        /// The server, without secrets.
        engine: String,
        /// What went wrong.
        reason: String,
    },
    /// With `--strict`: a brief's English states what the check cannot trace to its source (the
    /// brief is written).
    #[error("{0}")]
    Untraced(String),
    /// A configuration file or flag combination is invalid.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// Whether the input is a list page rather than an article: in a batch it is skipped, not
    /// failed (unless `--strict-pages`).
    pub fn is_not_an_article(&self) -> bool {
        matches!(self, Error::NotAnArticle { .. })
    }

    /// The process exit code this error maps to when it is the only one.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotFound(_) => exit::NO_INPUT,
            Error::Read { .. } => exit::NO_INPUT,
            Error::Write { .. } => exit::IO,
            Error::Empty(_) | Error::TooLarge { .. } | Error::Undecodable { .. } | Error::NoArticleText(_) | Error::NotAnArticle { .. } => {
                exit::DATA
            }
            Error::UnknownEncoding(_) => exit::USAGE,
            Error::ModelMissing(_) | Error::Model(_) | Error::Engine { .. } => exit::UNAVAILABLE,
            Error::Config(_) => exit::CONFIG,
            Error::Untraced(_) => exit::SOME_FAILED,
        }
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
