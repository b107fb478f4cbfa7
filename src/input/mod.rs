//! The input stage: find inputs, read and decode them, and clean them into [`Article`]s.

pub mod clean;
pub mod decode;
pub mod headline;
pub mod html;

use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use encoding_rs::Encoding;
use serde::Serialize;

use crate::error::{Error, Origin, Result};
use crate::types::Article;

/// One article to process: where to read it and where its brief goes in a mirrored output tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Input {
    /// Where the bytes come from.
    pub origin: Origin,
    /// Path relative to the folder it was found under (or its file name), used to mirror the tree.
    pub relative: PathBuf,
}

/// How inputs are read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReadOptions {
    /// Decode with this encoding instead of detecting one.
    #[serde(serialize_with = "encoding_name")]
    pub encoding: Option<&'static Encoding>,
    /// Refuse inputs larger than this many bytes. Not part of a brief's identity: a brief made
    /// under any limit is the same brief.
    #[serde(skip)]
    pub max_input_bytes: u64,
}

fn encoding_name<S: serde::Serializer>(encoding: &Option<&'static Encoding>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_some(&encoding.map(Encoding::name))
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { encoding: None, max_input_bytes: DEFAULT_MAX_INPUT_BYTES }
    }
}

/// Default cap on one input: far above any news article, low enough to bound time and memory.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// File extensions picked up when walking a folder.
pub const ARTICLE_EXTENSIONS: &[&str] = &["txt", "md", "html", "htm"];

/// Expands the command-line paths into inputs: files as given, folders walked recursively for
/// article files in a stable order, `-` for stdin. Problems with single paths (missing files,
/// symlink loops, unreadable folders) come back as errors beside the inputs that were found.
pub fn collect_inputs(paths: &[PathBuf]) -> (Vec<Input>, Vec<Error>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input { origin: Origin::Stdin, relative: PathBuf::from("stdin") });
            continue;
        }
        match std::fs::metadata(path) {
            Err(_) => errors.push(Error::NotFound(Origin::File(path.clone()))),
            Ok(meta) if meta.is_dir() => walk_folder(path, &mut inputs, &mut errors),
            Ok(_) => inputs
                .push(Input { origin: Origin::File(path.clone()), relative: PathBuf::from(path.file_name().unwrap_or(path.as_os_str())) }),
        }
    }
    (inputs, errors)
}

fn walk_folder(root: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<Error>) {
    // walkdir follows links with loop detection, sorts for a stable order, and reports each
    // broken entry without stopping the walk.
    for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let origin = Origin::File(err.path().unwrap_or(root).to_path_buf());
                let source = err.into_io_error().unwrap_or_else(|| std::io::Error::other("symbolic link loop"));
                errors.push(Error::Read { origin, source });
                continue;
            }
        };
        let is_article = entry.file_type().is_file()
            && entry
                .path()
                .extension()
                .and_then(|ext| ext.to_str())
                .is_some_and(|ext| ARTICLE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()));
        if !is_article {
            continue;
        }
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        // Only plain components: a mirrored output path must never climb out of the output folder.
        if relative.components().all(|c| matches!(c, Component::Normal(_))) {
            inputs.push(Input { origin: Origin::File(entry.path().to_path_buf()), relative: relative.to_path_buf() });
        }
    }
}

/// Reads an input's bytes, refusing more than `limit` bytes without reading them all.
pub fn read_bytes(origin: &Origin, limit: u64) -> Result<Vec<u8>> {
    let read_error = |source| Error::Read { origin: origin.clone(), source };
    let mut bytes = Vec::new();
    let reader: Box<dyn Read> = match origin {
        Origin::Stdin => Box::new(std::io::stdin().lock()),
        Origin::File(path) => {
            let file = File::open(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NotFound(origin.clone()),
                _ => read_error(e),
            })?;
            Box::new(file)
        }
    };
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() as u64 > limit {
        let size = match origin {
            Origin::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64),
            Origin::Stdin => bytes.len() as u64,
        };
        return Err(Error::TooLarge { origin: origin.clone(), size, limit });
    }
    Ok(bytes)
}

/// Decodes one input's bytes, naming the input in any error.
pub fn decode_input(origin: &Origin, bytes: &[u8], encoding: Option<&'static Encoding>) -> Result<decode::Decoded> {
    decode::decode(bytes, encoding).map_err(|e| match e {
        decode::DecodeError::Empty => Error::Empty(origin.clone()),
        decode::DecodeError::NotText(reason) => Error::Undecodable { origin: origin.clone(), reason },
    })
}

/// Decodes and cleans one input's bytes into an article.
///
/// A page that is a list of links or headlines (an index, a rolling-news page, a portal's news
/// centre) is no article: [`Error::NotAnArticle`].
pub fn parse_article(origin: &Origin, bytes: &[u8], options: &ReadOptions) -> Result<Article> {
    let decoded = decode_input(origin, bytes, options.encoding)?;
    let not_an_article = |items, what| Error::NotAnArticle { origin: origin.clone(), items, what };
    let article = if html::looks_like_html(&decoded.text) {
        let page = html::extract(&decoded.text);
        if let Some(links) = page.list_of_links {
            return Err(not_an_article(links, "links"));
        }
        clean::clean(&page.text, page.meta)
    } else {
        clean::clean(&decoded.text, Default::default())
    };
    let article = article.ok_or_else(|| Error::NoArticleText(origin.clone()))?;
    match clean::list_items(&article) {
        Some(items) => Err(not_an_article(items, "headlines")),
        None => Ok(article),
    }
}
